# AniAvatar: `make run` starts the app, `make test` runs the suite. Nothing else is needed but Python 3.12.
PYTHON ?= $(shell command -v python3.12 2>/dev/null || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PORT ?= 8000
export PIP_DISABLE_PIP_VERSION_CHECK := 1

# Locked dependencies (exact versions and hashes; `make lock` refreshes them, see "Refreshing the lockfile"
# in README.md). requirements.lock: runtime + s3 + test + build, for `make install` and CI.
# requirements-runtime.lock: the same pins without the test tools, for the Dockerfile.
LOCK := requirements.lock
RUNTIME_LOCK := requirements-runtime.lock
UV_VERSION := 0.13.9
LOCK_FLAGS := --universal --python-version 3.12 --generate-hashes --custom-compile-command "make lock" \
	--quiet $(if $(UPGRADE),--upgrade)
# The packages that `make lint` checks for types (pyproject's [tool.mypy]) and complexity.
CODE := aniavatar accounts keys generation providers provider_double

.PHONY: install lock run demo test lint format check bench migrate clean messages

# Dependencies from the lock only (hashes required), then the project itself, editable and without
# dependencies, built by the locked setuptools. A change to the lock or pyproject.toml reinstalls.
$(STAMP): pyproject.toml $(LOCK)
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 12), "Python 3.12 is required, found " + sys.version'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $@

install: $(STAMP) messages

# Translations: every locale/<lang>/LC_MESSAGES/<domain>.po compiles to the .mo beside it with the locked Babel
# (no gettext tools needed), whenever the .po is newer. The .mo files are build output, never committed
# (.gitignore); README "Translations" says how the .po files are updated.
PO_FILES := $(wildcard locale/*/LC_MESSAGES/*.po)
MO_FILES := $(PO_FILES:.po=.mo)
%.mo: %.po | $(STAMP)
	$(BIN)/pybabel compile --statistics -i $< -o $@

messages: $(MO_FILES)

# Refresh locale/ar/LC_MESSAGES/django.po from the source after marking new strings; then translate the new
# entries (docs/glossary.md). Needs GNU gettext (xgettext, msgmerge). tests/app/test_translations.py runs
# the same extraction on a copy of the tree and fails on any message without an Arabic translation.
MAKEMESSAGES_FLAGS := --no-obsolete --no-location --no-wrap --ignore=.venv --ignore=tests --ignore=bench --ignore=provider_double --ignore=node_modules --ignore=var --ignore=staticfiles --ignore=build
.PHONY: makemessages
makemessages: $(STAMP)
	DEBUG=$${DEBUG:-true} $(BIN)/python manage.py makemessages --locale ar --domain django $(MAKEMESSAGES_FLAGS)

# Re-resolve the locks after editing pyproject.toml's dependencies; pins that still fit are kept.
# `make lock UPGRADE=1` takes the newest releases that pyproject.toml's bounds allow.
lock:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet 'uv==$(UV_VERSION)'
	$(BIN)/uv pip compile pyproject.toml --extra test --extra s3 --group build $(LOCK_FLAGS) -o $(LOCK)
	$(BIN)/uv pip compile pyproject.toml --extra s3 --group build -c $(LOCK) $(LOCK_FLAGS) -o $(RUNTIME_LOCK)

migrate: $(STAMP) messages
	DEBUG=$${DEBUG:-true} $(BIN)/python manage.py migrate --noinput

# The web server and one Celery worker (threads pool) on SQLite + the filesystem broker; Ctrl-C stops both.
run: migrate
	@echo "AniAvatar is starting on http://127.0.0.1:$(PORT)/  (Ctrl-C stops the web server and the worker)"
	@DEBUG=$${DEBUG:-true} bash -c 'trap "kill 0" INT TERM EXIT; \
		MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072 $(BIN)/celery -A aniavatar worker -B -s var/celerybeat-schedule --pool threads --loglevel INFO & \
		$(BIN)/python manage.py runserver 127.0.0.1:$(PORT) & \
		wait'

# The app against the provider double (no provider keys needed, nothing leaves this machine).
DEMO_PORT ?= 8100
demo: migrate
	@echo "AniAvatar DEMO on http://127.0.0.1:$(PORT)/ : log in as demo@example.com / demo passphrase 42."
	@echo "Images come from a local provider double, not from OpenAI or fal.ai. Ctrl-C stops everything."
	@DEBUG=$${DEBUG:-true} OPENAI_BASE_URL=http://127.0.0.1:$(DEMO_PORT)/v1 FAL_QUEUE_URL=http://127.0.0.1:$(DEMO_PORT)/fal FAL_PLATFORM_URL=http://127.0.0.1:$(DEMO_PORT)/fal-platform/v1 \
		bash -c 'trap "kill 0" INT TERM EXIT; \
		$(BIN)/python -m provider_double --port $(DEMO_PORT) --latency 3 & \
		$(BIN)/python manage.py seed_demo && \
		{ MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072 $(BIN)/celery -A aniavatar worker -B -s var/celerybeat-schedule --pool threads --loglevel INFO & \
		$(BIN)/python manage.py runserver 127.0.0.1:$(PORT) & wait; }'

test: $(STAMP) messages
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# ruff, missing migrations, types (mypy with django-stubs) and complexity: radon prints every function
# ranked D or worse (cyclomatic complexity above 20), and any such function fails the lint.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DEBUG=true $(BIN)/python manage.py makemigrations --check --dry-run
	DEBUG=true $(BIN)/mypy
	@worse=$$($(BIN)/radon cc --min D --show-complexity --exclude '*/migrations/*' $(CODE)); \
	if [ -n "$$worse" ]; then echo "$$worse"; echo "radon: split or simplify the functions above (rank D or worse)"; exit 1; fi

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

check: lint test

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var/test staticfiles $(MO_FILES)

# Load test: USERS simulated users (default 10) for DURATION seconds (default 60) against gunicorn, a
# worker and the provider double on loopback; prints p50/p95 per page and exits 1 on any error.
# Lighthouse 12 (mobile) on the main pages, signed out and in, against gunicorn with the demo's data;
# prints accessibility, best-practices and SEO scores (README "Accessibility"). Needs Node 20 and Chromium.
.PHONY: lighthouse
lighthouse: $(STAMP)
	$(BIN)/python bench/lighthouse.py

.PHONY: load
load: $(STAMP)
	$(BIN)/python bench/load_test.py --users $(or $(USERS),10) --duration $(or $(DURATION),60)

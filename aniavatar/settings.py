"""Settings for AniAvatar, read from the environment (see README "Configuration" and .env.example)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from aniavatar.env import env_bool, env_int, env_list, env_str
from keys.devkey import load_or_create_dev_master_keys

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("ANIAVATAR_VAR_DIR", str(BASE_DIR / "var")))

# Core

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "django-insecure-development-only-key-do-not-use-in-production"  # noqa: S105

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.humanize",  # allauth's two-factor pages use it
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "accounts",
    "keys",
    "generation",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Before anything reads the body (CSRF reads the form): an oversized body is refused unread.
    "aniavatar.middleware.RequestSizeLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    # Health probes come to the container's own address over HTTP: answered before CommonMiddleware checks
    # the host (the HTTPS redirect exempts them: SECURE_REDIRECT_EXEMPT), with every security header.
    "aniavatar.health.ProbeMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # A signed-in user's saved language (over LocaleMiddleware's choice) and everyone's time zone.
    "accounts.middleware.LanguageAndTimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # django-allauth: login stages (email verification, two-factor) and its 429 answer to rate limits.
    "allauth.account.middleware.AccountMiddleware",
    "accounts.middleware.WorkspaceMiddleware",
]

ROOT_URLCONF = "aniavatar.urls"
WSGI_APPLICATION = "aniavatar.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.workspace",
            ],
            "builtins": ["generation.templatetags.money", "aniavatar.bidi"],
        },
    },
]

# Database: SQLite under var/ unless DATABASE_URL says otherwise (PostgreSQL in production and CI).

VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'aniavatar.sqlite3'}"),
        # Without a pool (SQLite, or DATABASE_POOL_SIZE=0), a process keeps its connection between
        # requests: opening one costs more than a whole dashboard's queries (bench pages). Health
        # checks replace a connection that died (a database restart) instead of failing the next request.
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
DATABASE_POOL_SIZE = env_int("DATABASE_POOL_SIZE", 10)
if DATABASE_POOL_SIZE < 0:
    raise ImproperlyConfigured("DATABASE_POOL_SIZE must be 0 (no pool) or more.")
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and DATABASE_POOL_SIZE:
    # A pool of connections per process (psycopg_pool, through Django): closing a connection hands it
    # back instead of ending it. A worker's threads close theirs before each provider call and take one
    # again after it, so fifty calls in flight share a handful of connections and no generation pays
    # for opening one (bench concurrency: peak connections 37 → 12). Django requires CONN_MAX_AGE 0 with
    # a pool; the pool checks a connection before handing it out (CONN_HEALTH_CHECKS).
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": DATABASE_POOL_SIZE,
        "timeout": 30,  # seconds a thread waits for a free connection before its query fails
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web and worker are separate processes writing one file: wait for the lock instead of failing.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    # A file, not memory, so that a real worker process started by the tests sees the test database
    # (one per test process, so that two test runs on one machine never share it).
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-db-{os.getpid()}.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Accounts

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = ["allauth.account.auth_backends.AuthenticationBackend"]

# Sign-up, login, email verification, password reset and change, two-factor: django-allauth's account
# and mfa apps (docs/decisions.md D31), with our forms and adapters (accounts/adapter.py). Every address
# a form takes is first mapped to its account's stored spelling (accounts/emails.py), so allauth's exact,
# lower-cased comparisons (lookups, uniqueness, the lockout key) see one spelling per account.
ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"
ACCOUNT_FORMS = {
    "login": "accounts.forms.LoginForm",
    "signup": "accounts.forms.SignupForm",
    "reset_password": "accounts.forms.ResetPasswordForm",
    "change_password": "accounts.forms.ChangePasswordForm",
}
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_MAX_EMAIL_ADDRESSES = 1  # the login address; no second addresses to keep apart
ACCOUNT_PREVENT_ENUMERATION = True
# Sign-up answers the same for a new and a taken address; so every new account confirms its address
# (a code by email, typed on the next page) before it is used, and confirming logs in.
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_EMAIL_VERIFICATION_BY_CODE_ENABLED = True
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
ACCOUNT_SESSION_REMEMBER = None  # a "Remember me" box on the login form
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_EMAIL_SUBJECT_PREFIX = "AniAvatar: "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "http" if DEBUG else "https"
# Failed logins (and wrong two-factor codes) per account: LOGIN_FAILURE_LIMIT in LOGIN_FAILURE_WINDOW_MINUTES,
# keyed by the account's stored address; a password reset lifts it. The other limits bound what costs an
# email or an Argon2 hash. Counters live in the cache (CACHES below), shared by every process.
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", env_int("AXES_FAILURE_LIMIT", 5))
LOGIN_FAILURE_WINDOW_MINUTES = env_int("LOGIN_FAILURE_WINDOW_MINUTES", env_int("AXES_COOLOFF_MINUTES", 15))
if LOGIN_FAILURE_LIMIT < 1 or LOGIN_FAILURE_WINDOW_MINUTES < 1:
    raise ImproperlyConfigured("LOGIN_FAILURE_LIMIT and LOGIN_FAILURE_WINDOW_MINUTES must be 1 or more.")
# Sign-ups per address (ours, accounts/limits.py: allauth limits sign-up per client address only).
SIGNUP_PER_EMAIL_LIMIT = "3/h/key"
# Invitations (accounts/limits.py): links sent per inviter and per invited address; wrong or stale
# invitation links opened per client address (a token is 256 random bits: this only keeps guessing noisy).
INVITATIONS_PER_INVITER_LIMIT = "30/h/user"
INVITATIONS_PER_ADDRESS_LIMIT = "5/h/key"
INVITATION_GUESS_LIMIT = "20/h/ip"
INVITATION_DAYS = 7
ACCOUNT_RATE_LIMITS = {
    "login_failed": f"10/m/ip,{LOGIN_FAILURE_LIMIT}/{LOGIN_FAILURE_WINDOW_MINUTES}m/key",
    "login": "30/m/ip",
    "signup": "10/h/ip",
    "reset_password": "5/h/ip,3/h/key",
    "reset_password_from_key": "20/m/ip",
    "change_password": "5/m/user",
    "manage_email": "10/m/user",
    "reauthenticate": "10/m/user",
}
# Two-factor: TOTP apps with single-use recovery codes, and passkeys / security keys (WebAuthn), which
# can also sign in without a password. TOTP secrets are sealed by the key vault (keys/mfa_secrets.py).
MFA_ADAPTER = "keys.mfa_secrets.VaultMFAAdapter"
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes", "webauthn"]
MFA_PASSKEY_LOGIN_ENABLED = True
MFA_TOTP_ISSUER = "AniAvatar"
# WebAuthn requires a secure origin; http://localhost counts as one in browsers, and tests run there.
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = DEBUG
MFA_RATE_LIMITS = {"webauthn_login": "10/m/ip"}
# Behind proxies every request comes from the proxy's address: the client's is the one the outermost
# trusted proxy appended to X-Forwarded-For (accounts.throttle.client_ip). One proxy when BEHIND_TLS_PROXY.
TRUSTED_PROXY_COUNT = env_int(
    "TRUSTED_PROXY_COUNT", env_int("AXES_PROXY_COUNT", 1 if env_bool("BEHIND_TLS_PROXY", False) else 0)
)
if TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured("TRUSTED_PROXY_COUNT must be 0 (no proxy) or more.")

# Cache: rate limits, TOTP replay protection and allauth's locks must be shared by every web process.
# Redis from CACHE_URL in production (compose); otherwise a table in the database (`make migrate` creates
# it), so the embedded setup shares them too.
CACHE_URL = env_str("CACHE_URL")
if CACHE_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "aniavatar_cache",
        }
    }

# Health probes: /readyz checks the database and the broker at most this often per process (aniavatar.health).
READINESS_CACHE_SECONDS = env_int("READINESS_CACHE_SECONDS", 5)
if READINESS_CACHE_SECONDS < 0:
    raise ImproperlyConfigured("READINESS_CACHE_SECONDS must be 0 (check every probe) or more.")

# Security

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]  # probes over plain HTTP (aniavatar.health)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
if env_bool("BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# No inline scripts or styles anywhere: everything comes from our own static files.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "font-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024  # also the limit on whole bodies (aniavatar.middleware)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 200
# A persona's reference photos (the only upload): four of at most 20 MB each, with the form around them.
REFERENCE_UPLOAD_MAX_BYTES = 4 * 20 * 1024 * 1024 + 1024 * 1024

# Key vault: master keys come from the environment, never from the repository (README "Rotating").

ANIAVATAR_MASTER_KEYS = env_str("ANIAVATAR_MASTER_KEYS")
if not ANIAVATAR_MASTER_KEYS:
    if not DEBUG:
        raise ImproperlyConfigured("ANIAVATAR_MASTER_KEYS must be set when DEBUG is off.")
    ANIAVATAR_MASTER_KEYS = load_or_create_dev_master_keys(VAR_DIR / "master.key")
ANIAVATAR_MASTER_KEY_PRIMARY = env_int("ANIAVATAR_MASTER_KEY_PRIMARY", 0)  # 0: the highest version
ANIAVATAR_MASTER_KEY_MIN_VERSION = env_int("ANIAVATAR_MASTER_KEY_MIN_VERSION", 0)  # 0: no minimum
# A separate secret for key fingerprints (duplicate detection): an HMAC, never a bare hash of a key.
ANIAVATAR_FINGERPRINT_KEY = env_str("ANIAVATAR_FINGERPRINT_KEY") or SECRET_KEY

# Internationalization

# English and Arabic (docs/architecture.md "Languages and time zones"). The language comes from the
# browser's Accept-Language until someone picks one (the header's switch, accounts/preferences.py): then
# from the language cookie, and for a signed-in user from their saved choice (applied at login). URLs
# never carry it (no i18n_patterns). Each language is named in its own words in the switch.
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ar", "العربية")]
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_SECURE = not DEBUG
# Stored times are UTC; pages show them in the viewer's zone (accounts.middleware.LanguageAndTimeZoneMiddleware):
# their saved zone, else the one their browser reported (a cookie, static/js/head.js), else UTC.
TIME_ZONE = "UTC"
# One date format and one date-time format (with its zone) per language: aniavatar/formats/<lang>/formats.py
# (Arabic: Django's own Arabic formats, with Latin digits, plus the zone on date-times).
FORMAT_MODULE_PATH = ["aniavatar.formats"]
USE_I18N = True
USE_TZ = True

# Static and media files

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
# Without collectstatic (development, tests) WhiteNoise serves straight from the finders.
WHITENOISE_USE_FINDERS = not env_bool("STATIC_MANIFEST", not DEBUG)
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
STORAGES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        # Hashed, compressed files in production (collectstatic at build time); plain files otherwise.
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if env_bool("STATIC_MANIFEST", not DEBUG)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Seconds a signed S3 URL stays valid: a page's <img> fetches it at once, so one minute is plenty, and a
# URL that leaked (a shared screenshot of the address bar, a proxy log) is dead soon after.
AWS_QUERYSTRING_EXPIRE = env_int("AWS_QUERYSTRING_EXPIRE", 60)
if AWS_QUERYSTRING_EXPIRE < 10:
    raise ImproperlyConfigured("AWS_QUERYSTRING_EXPIRE must be at least 10 seconds.")


def s3_storage(bucket: str, *, endpoint_url: str | None, region_name: str | None) -> dict[str, Any]:
    """Return the STORAGES entry of a private S3 bucket (any S3-compatible server)."""
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "endpoint_url": endpoint_url,
            "region_name": region_name,
            "default_acl": "private",
            "querystring_auth": True,
            "querystring_expire": AWS_QUERYSTRING_EXPIRE,
            "file_overwrite": False,
            # Signature v4 signs the region into the URL: what every S3-compatible server accepts.
            "signature_version": "s3v4",
        },
    }


if env_str("AWS_STORAGE_BUCKET_NAME"):
    # Private bucket; views redirect to short-lived signed URLs after the workspace check
    # (generation.storage). Credentials come from boto3's usual places (AWS_ACCESS_KEY_ID and
    # AWS_SECRET_ACCESS_KEY, or the instance's role).
    STORAGES["default"] = s3_storage(
        env_str("AWS_STORAGE_BUCKET_NAME"),
        endpoint_url=env_str("AWS_S3_ENDPOINT_URL") or None,
        region_name=env_str("AWS_S3_REGION_NAME") or None,
    )

# Email: the console in development, SMTP in production (Django 6.1 MAILERS).

if env_str("EMAIL_FILE_PATH"):
    # Each email a file in that folder (load tests, staging without a mail server).
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "OPTIONS": {"file_path": env_str("EMAIL_FILE_PATH")},
        }
    }
elif env_str("EMAIL_HOST") or not DEBUG:
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": env_str("EMAIL_HOST", "localhost"),
                "port": env_int("EMAIL_PORT", 587),
                "username": env_str("EMAIL_HOST_USER"),
                "password": env_str("EMAIL_HOST_PASSWORD"),
                "use_tls": env_bool("EMAIL_USE_TLS", True),
            },
        }
    }
else:
    # In development without an SMTP server, emails (password resets) are printed on the console.
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "AniAvatar <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Celery: JSON only, late acks, one message at a time; progress lives in the database, not in results.

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
BROKER_DIR = VAR_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
        # The worker looks for new messages this often. kombu's default is once a second, and every
        # generation waited half of it on average; at 0.02 s queued → running is 13 ms (bench pipeline)
        # and an idle worker spends 0.5% of a core listing the folder.
        "polling_interval": 0.02,
    }
else:
    # Well above the longest provider deadline, so a slow call is never redelivered while it runs.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600)}
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "celery")
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_POOL = "threads"
# Threads per worker process, each a generation in flight (a provider call of 10–60 s). On PostgreSQL
# 64: a waiting thread holds no connection (generation.pipeline hands it back to the pool before every
# provider call), so 64 or more share DATABASE_POOL_SIZE connections, and a team's burst fits one process
# (bench concurrency: 200 in flight, D35). On SQLite 8: one file, one writer at a time; more threads
# only queue on its lock.
CELERY_WORKER_CONCURRENCY = env_int(
    "CELERY_WORKER_CONCURRENCY",
    64 if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" else 8,
)
if CELERY_WORKER_CONCURRENCY < 1:
    raise ImproperlyConfigured("CELERY_WORKER_CONCURRENCY must be at least 1.")
# How many of a worker's threads may finish generations at once after their provider calls (check
# images, make thumbnails, the final transaction; files are written outside): about the worker's cores
# (bench: concurrency).
WORKER_FINISH_SLOTS = env_int("WORKER_FINISH_SLOTS", 2)
if WORKER_FINISH_SLOTS < 1:
    raise ImproperlyConfigured("WORKER_FINISH_SLOTS must be at least 1.")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)

# Providers: base URLs exist so staging, tests and the demo can point the real clients at a double.

OPENAI_BASE_URL = env_str("OPENAI_BASE_URL", "https://api.openai.com/v1")
FAL_QUEUE_URL = env_str("FAL_QUEUE_URL", "https://queue.fal.run")
# fal's Platform API (usage, request list, pricing, payload deletion); OpenAI's Admin API is under
# OPENAI_BASE_URL.
FAL_PLATFORM_URL = env_str("FAL_PLATFORM_URL", "https://api.fal.ai/v1")
PROVIDER_TIMEOUT_SECONDS = env_int("PROVIDER_TIMEOUT_SECONDS", 180)
# Live previews: partial images asked of a provider that streams them (OpenAI: 1 to 3, each billed
# about 100 output tokens) when the person asked for previews.
PREVIEW_PARTIAL_IMAGES = env_int("PREVIEW_PARTIAL_IMAGES", 2)
if not 1 <= PREVIEW_PARTIAL_IMAGES <= 3:
    raise ImproperlyConfigured("PREVIEW_PARTIAL_IMAGES must be between 1 and 3.")

# Logging: every handler masks key-shaped strings (providers.redaction).

LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_secrets": {"()": "providers.redaction.RedactSecretsFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact_secrets"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        "celery": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        # Template variable misses are normal (optional context); at DEBUG they drown everything else.
        "django.template": {"level": "INFO"},
        "django.db.backends": {"level": "INFO"},
    },
}

# Periodic work (celery beat; `make run` embeds it in the worker with -B).
CELERY_BEAT_SCHEDULE = {
    "sweep-stale-generations": {"task": "generation.tasks.sweep_stale_generations", "schedule": 60.0},
    # The ledger beside each provider's own report, for every workspace with a usage key (UTC month so far).
    # Daily at 01:30 UTC, when the providers have closed the previous UTC day.
    "sweep-stale-reconciliations": {
        "task": "generation.tasks.sweep_stale_reconciliations",
        "schedule": 600.0,
    },
    "reconcile-with-providers": {
        "task": "generation.tasks.reconcile_all",
        "schedule": crontab(hour=1, minute=30),
    },
}

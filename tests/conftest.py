"""Every fixture of the suite. Helpers that tests import live in tests/support/, never in a conftest.

alice owns a workspace, bob is a member of it, charlie is another tenant. `double` is the provider
double with the app pointed at it; `bare_double` is the same double with the app's settings left alone.
Passwords get a fast hasher unless a test is marked `argon2`; `frozen_now` stops the app's clock;
`figures` reports a drill's figures; `s3_bucket` puts the app's files in a bucket on moto's S3 server.
The hooks run the suite on xdist workers (pyproject addopts).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from allauth.account.models import EmailAddress
from django.test import Client, override_settings
from django.utils import timezone, translation

from accounts.models import Membership, User, Workspace
from accounts.services import create_account
from generation.models import Persona
from provider_double import ProviderDouble
from tests.support import clock
from tests.support.accounts import PASSWORD, client_for, workspace_of
from tests.support.factories import make_persona
from tests.support.s3 import S3Server
from tests.support.s3 import s3_server as run_s3_server

# Parallel runs (pytest-xdist): each worker process gets its own var folder (SQLite databases, the
# filesystem broker's folders, media) and its own default Celery queue, so that no worker reads another's
# messages or files. The settings read both from the environment when a worker starts (D: in pyproject).


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_setupnodes(config: pytest.Config, specs: list) -> None:
    var_dir = os.environ.get("ANIAVATAR_VAR_DIR", "var/test")
    queue = os.environ.get("CELERY_QUEUE", "celery")
    for spec in specs:
        spec.env.setdefault("ANIAVATAR_VAR_DIR", f"{var_dir}/{spec.id}")
        spec.env.setdefault("CELERY_QUEUE", f"{queue}-{spec.id}")


# Static files: Django's test client loads the middleware again for every new client, and WhiteNoise
# listed every static file each time (about 25 ms a client, a tenth of many tests). Looking a static file
# up when it is asked for instead changes nothing the tests check: no test fetches a static file through
# the test client, and the live server of the browser tests serves them itself.


@pytest.fixture(scope="session", autouse=True)
def _static_files_looked_up_on_request() -> Iterator[None]:
    with override_settings(WHITENOISE_AUTOREFRESH=True):
        yield


# Figures: the proof tests (drills, sweeps) report what they counted as one JSON line each, shown at the
# end of the run (also when they ran in an xdist worker) and kept in the JUnit XML as a property.


@pytest.fixture
def figures(record_property) -> Callable[[dict], None]:
    def report(summary: dict) -> None:
        record_property("figures", json.dumps(summary))

    return report


def pytest_terminal_summary(terminalreporter) -> None:
    lines = [
        value
        for reports in terminalreporter.stats.values()
        for report in reports
        if getattr(report, "when", None) == "call"
        for name, value in getattr(report, "user_properties", ())
        if name == "figures"
    ]
    if lines:
        terminalreporter.section("figures")
        for line in lines:
            terminalreporter.write_line(line)


# Passwords

# Argon2 takes about 0.2 s a hash here, and nearly every test creates a user or two: outside the tests
# marked `argon2` (the ones about passwords), users get a cheap hash. What the hasher does is not what
# those other tests are about.
FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _default_language() -> Iterator[None]:
    """Leave the thread in the default language after each test: a request made in Arabic activates
    Arabic for the thread (LocaleMiddleware), and the next test in the same process would inherit it."""
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _password_hashing(request: pytest.FixtureRequest) -> None:
    """Hash passwords cheaply, except in tests marked `argon2`, which keep the project's hashers."""
    if request.node.get_closest_marker("argon2") is None:
        request.getfixturevalue("settings").PASSWORD_HASHERS = FAST_HASHERS


# The clock


@pytest.fixture
def frozen_now(monkeypatch):
    """Stop the app's clock at tests.support.clock.NOW, so that 'this month' is the same on any day.

    The app reads the time through django.utils.timezone.now (generation.dates.utc_now too).
    """
    monkeypatch.setattr(timezone, "now", lambda: clock.NOW)
    return clock.NOW


# Users and workspaces


@pytest.fixture
def alice(db) -> User:
    return create_account(email="alice@example.com", password=PASSWORD, name="Alice")


@pytest.fixture
def bob(alice: User) -> User:
    user = User.objects.create_user(email="bob@example.com", password=PASSWORD, name="Bob")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    Membership.objects.create(user=user, workspace=workspace_of(alice), role=Membership.Role.MEMBER)
    return user


@pytest.fixture
def charlie(db) -> User:
    return create_account(email="charlie@example.com", password=PASSWORD, name="Charlie")


@pytest.fixture
def alice_client(alice: User) -> Client:
    return client_for(alice)


@pytest.fixture
def bob_client(bob: User) -> Client:
    return client_for(bob)


@pytest.fixture
def charlie_client(charlie: User) -> Client:
    return client_for(charlie)


@pytest.fixture
def workspace(alice: User) -> Workspace:
    """alice's workspace."""
    return workspace_of(alice)


@pytest.fixture
def persona(alice: User, workspace: Workspace) -> Persona:
    return make_persona(workspace, alice)


@pytest.fixture
def media_root(settings, tmp_path: Path) -> Path:
    """Keep every file a test stores in its own temporary directory."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


# S3: moto's real S3 API server on loopback, one per test process; each test gets a bucket of its own.


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    with run_s3_server() as server:
        yield server


@pytest.fixture
def s3_bucket(s3_server: S3Server, settings) -> str:
    """Store the app's files (default storage) in a new, empty bucket on the S3 server; return its name."""
    bucket = s3_server.new_bucket()
    settings.STORAGES = s3_server.storages(bucket, settings.STORAGES)
    return bucket


# The provider double: one server per test process, reset around each test


@pytest.fixture(scope="session")
def double_server() -> Iterator[ProviderDouble]:
    from providers import fal_queue, openai_images

    with ProviderDouble() as server:
        yield server
    # Close pooled clients now, not at interpreter exit when logging's streams are already closed.
    openai_images.close_clients()
    fal_queue.close_clients()


@pytest.fixture
def bare_double(double_server: ProviderDouble) -> Iterator[ProviderDouble]:
    """The provider double, reset, with the app's settings left naming the real providers.

    For the provider clients' own tests, which pass the double's URLs explicitly: a client that
    ignored them would not reach the double.
    """
    double_server.reset()
    yield double_server
    double_server.reset()


@pytest.fixture
def double(bare_double: ProviderDouble, settings) -> ProviderDouble:
    """The provider double, reset, with the app's OpenAI and fal base URLs (queue, platform) pointed at it."""
    settings.OPENAI_BASE_URL = bare_double.openai_base_url
    settings.FAL_QUEUE_URL = bare_double.fal_queue_url
    settings.FAL_PLATFORM_URL = bare_double.fal_platform_url
    return bare_double


@pytest.fixture
def unreachable_openai(settings) -> None:
    # Nothing listens on port 1: the connection is refused at once.
    settings.OPENAI_BASE_URL = "http://127.0.0.1:1/v1"


# Browser tests: Playwright driving Debian's Chromium against the live test server

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.hookimpl(tryfirst=True)  # before xdist reads the xdist_group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.path):
            item.add_marker(pytest.mark.browser)
            if config.pluginmanager.hasplugin("xdist"):
                # One xdist worker runs them all (--dist loadgroup): one Chromium, not one per worker.
                item.add_marker(pytest.mark.xdist_group("browser"))
    # The tests with a real Celery worker take seconds each: started first, they run beside the many
    # short tests instead of after them (xdist hands out tests in this order as workers free up).
    items.sort(key=lambda item: item.get_closest_marker("worker") is None)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        if os.environ.get("REQUIRE_BROWSER"):
            pytest.fail(f"Chromium not found at {CHROMIUM} (install Debian's chromium package)")
        pytest.skip(f"Chromium not found at {CHROMIUM}; `apt-get install chromium` runs these tests")
    # Playwright's sync API runs an event loop in this thread; Django's ORM calls made by the test
    # itself (fixtures, assertions) are still synchronous and safe here.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield instance
        instance.close()


@pytest.fixture
def page(browser, live_server, settings, request) -> Iterator[object]:
    # The live server speaks plain HTTP on loopback; secure cookies would never come back.
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()
    # CSP violations and script errors show up as console errors: a page must have none.
    assert not errors, f"browser console errors: {errors}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> object:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report

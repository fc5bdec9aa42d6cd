"""Two-factor sign-in (django-allauth's mfa app, docs/decisions.md D31): TOTP with recovery codes.

Enrolment seals the secret with the key vault (keys/mfa_secrets.py); the login's second stage takes a
TOTP code or a recovery code, each usable once; wrong codes count towards the account's lockout; and
neither the secret nor the recovery codes end up anywhere but the pages that show them on purpose.

allauth reads the time for TOTP through `time.time()` in one module: the `totp_clock` fixture stops that
clock, so the codes computed here are the ones the server expects, whatever the wall clock says.
"""

from __future__ import annotations

import base64
import html
import logging
import pickle
import re

import pytest
from allauth.mfa import app_settings as mfa_settings
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal import auth as totp_auth
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client

from accounts.models import User
from keys.mfa_secrets import VaultMFAAdapter
from tests.support import canary
from tests.support.accounts import PASSWORD
from tests.support.clock import later
from tests.support.totp import FROZEN, freeze, totp_code

pytestmark = pytest.mark.django_db

# Any fixed instant will do; the TOTP code changes every 30 seconds after it.
# A secret that is not the one enrolment generates (tests that do not go through the enrolment page).
KNOWN_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


@pytest.fixture
def totp_clock(monkeypatch: pytest.MonkeyPatch) -> float:
    return freeze(monkeypatch)


def wrong_code(secret: str) -> str:
    """Return a code that no counter in the tolerance window accepts."""
    window = {
        totp_code(secret, FROZEN + shift * mfa_settings.TOTP_PERIOD)
        for shift in range(-mfa_settings.TOTP_TOLERANCE, mfa_settings.TOTP_TOLERANCE + 1)
    }
    return next(c for n in range(10**6) if (c := f"{n:06}") not in window)


@pytest.fixture
def alice_with_totp(alice: User) -> User:
    """alice with an authenticator app (KNOWN_SECRET) and recovery codes, as allauth stores them."""
    totp_auth.TOTP.activate(alice, KNOWN_SECRET)
    RecoveryCodes.activate(alice)
    return alice


def recovery_codes(user: User) -> list[str]:
    return RecoveryCodes(
        Authenticator.objects.get(user=user, type=Authenticator.Type.RECOVERY_CODES)
    ).generate_codes()


def _password_stage(client: Client, email: str = "alice@example.com") -> None:
    response = client.post("/accounts/login/", {"login": email, "password": PASSWORD})
    assert response.status_code == 302 and response.url == "/accounts/2fa/authenticate/", response


def _second_stage(client: Client, code: str):
    return client.post("/accounts/2fa/authenticate/", {"code": code})


def _signed_in(client: Client) -> bool:
    return client.get("/").context["user"].is_authenticated


def _code_error(response) -> str:
    """Return the text of the errors shown beside the code field ('' when none)."""
    match = re.search(
        r'<div class="field-errors" id="id_code_error">(.*?)</div>', response.content.decode(), re.S
    )
    return html.unescape(re.sub(r"<[^>]+>", " ", match[1])).strip() if match else ""


def _enrol_totp(client: Client) -> tuple[str, object]:
    """Enrol an authenticator app through the pages, re-entering the password when asked.

    Return the secret the page showed and the response of the page after activating.
    """
    response = client.get("/accounts/2fa/totp/activate/")
    if response.status_code == 302 and response.url.startswith("/accounts/reauthenticate/"):
        reauth = client.post(response.url, {"password": PASSWORD})
        assert reauth.status_code == 302, _code_error(reauth) or reauth.content[:2000]
        response = client.get("/accounts/2fa/totp/activate/")
    assert response.status_code == 200
    secret = _shown_secret(response.content.decode())
    activated = client.post("/accounts/2fa/totp/activate/", {"code": totp_code(secret)})
    assert activated.status_code == 302, _code_error(activated)
    return secret, activated


def _shown_secret(page: str) -> str:
    match = re.search(r'<input[^>]*id="authenticator_secret"[^>]*value="([A-Z2-7=]+)"', page)
    assert match, "the activation page shows no secret"
    return match[1]


# Enrolment


def test_enrolling_an_authenticator_app_stores_its_secret_sealed(alice, alice_client, totp_clock):
    first = alice_client.get("/accounts/2fa/totp/activate/")
    assert first.status_code == 302 and first.url.startswith("/accounts/reauthenticate/")

    secret, activated = _enrol_totp(alice_client)

    assert activated.url == "/accounts/2fa/recovery-codes/"
    stored = Authenticator.objects.get(user=alice, type=Authenticator.Type.TOTP).data
    assert secret not in repr(stored) and not canary.hits(repr(stored), [secret])
    assert VaultMFAAdapter().decrypt(stored["secret"]) == secret
    seed = Authenticator.objects.get(user=alice, type=Authenticator.Type.RECOVERY_CODES).data["seed"]
    assert len(VaultMFAAdapter().decrypt(seed)) == 80 and VaultMFAAdapter().decrypt(seed) not in seed
    # The secret offered during enrolment is gone from the session once it is stored.
    assert totp_auth.SECRET_SESSION_KEY not in alice_client.session


def test_a_wrong_code_does_not_enrol(alice, alice_client, totp_clock):
    alice_client.get("/accounts/2fa/totp/activate/")
    alice_client.post("/accounts/reauthenticate/?next=/accounts/2fa/totp/activate/", {"password": PASSWORD})
    secret = _shown_secret(alice_client.get("/accounts/2fa/totp/activate/").content.decode())
    response = alice_client.post("/accounts/2fa/totp/activate/", {"code": wrong_code(secret)})
    assert response.status_code == 200 and _code_error(response) == "Incorrect code."
    assert not Authenticator.objects.filter(user=alice).exists()


# Login


def test_login_takes_the_password_then_the_code(client, alice_with_totp, totp_clock):
    _password_stage(client)
    assert not _signed_in(client)
    response = _second_stage(client, totp_code(KNOWN_SECRET))
    assert response.status_code == 302
    assert client.get("/").context["user"] == alice_with_totp


def test_a_wrong_code_is_refused_with_an_error_beside_the_field(client, alice_with_totp, totp_clock):
    _password_stage(client)
    response = _second_stage(client, wrong_code(KNOWN_SECRET))
    assert response.status_code == 200
    assert _code_error(response) == "Incorrect code."
    assert 'data-testid="error-summary"' in response.content.decode()  # and the summary above links to it
    assert not _signed_in(client)


def test_wrong_codes_lock_the_account_even_against_the_right_code(
    client, alice_with_totp, totp_clock, monkeypatch
):
    _password_stage(client)
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        assert _code_error(_second_stage(client, wrong_code(KNOWN_SECRET))) == "Incorrect code."
    response = _second_stage(client, totp_code(KNOWN_SECRET))
    assert response.status_code == 200 and "Too many failed login attempts" in _code_error(response)
    # Starting again with the password gives no fresh tries: the count is the account's.
    again = Client()
    _password_stage(again)
    assert "Too many failed login attempts" in _code_error(_second_stage(again, totp_code(KNOWN_SECRET)))
    assert not _signed_in(client) and not _signed_in(again)
    with later(monkeypatch, minutes=settings.LOGIN_FAILURE_WINDOW_MINUTES, seconds=1):
        assert _second_stage(again, totp_code(KNOWN_SECRET)).status_code == 302
    assert _signed_in(again)


def test_a_code_cannot_be_used_twice(alice_with_totp, totp_clock):
    code = totp_code(KNOWN_SECRET)
    first, second = Client(), Client()
    _password_stage(first)
    assert _second_stage(first, code).status_code == 302
    _password_stage(second)
    response = _second_stage(second, code)
    assert response.status_code == 200 and _code_error(response) == "Incorrect code."
    assert _signed_in(first) and not _signed_in(second)


def test_a_recovery_code_works_once_and_only_once(alice_with_totp, totp_clock):
    first_code, second_code = recovery_codes(alice_with_totp)[:2]
    client = Client()
    _password_stage(client)
    assert _second_stage(client, first_code).status_code == 302
    assert _signed_in(client)

    again = Client()
    _password_stage(again)
    response = _second_stage(again, first_code)
    assert response.status_code == 200 and _code_error(response) == "Incorrect code."
    assert not _signed_in(again)
    assert _second_stage(again, second_code).status_code == 302  # the others still work
    assert len(RecoveryCodes(Authenticator.objects.get(type="recovery_codes")).get_unused_codes()) == 8


# Security keys and passkeys: the list page


def test_the_security_keys_page_opens_with_no_key_and_with_one(alice, alice_client):
    """It was a 500: allauth's template loads `humanize`, which was not installed."""
    empty = alice_client.get("/accounts/2fa/webauthn/")
    assert empty.status_code == 200 and "No security keys have been added." in empty.content.decode()
    Authenticator.objects.create(
        user=alice,
        type=Authenticator.Type.WEBAUTHN,
        data={"name": "Laptop", "passwordless": True, "credential": {}},
    )
    listed = alice_client.get("/accounts/2fa/webauthn/")
    assert listed.status_code == 200 and "Laptop" in listed.content.decode()


# The canary: the secret and the recovery codes are shown where they are meant to be, and nowhere else

# Pages that show the secret or the codes on purpose: enrolment, and the recovery codes' own pages.
SHOWN_ON_PURPOSE = (
    "/accounts/2fa/totp/activate/",
    "/accounts/2fa/recovery-codes/",
    "/accounts/2fa/recovery-codes/download/",
)


def _code_hits(text: str, codes: list[str]) -> list[str]:
    """Return the recovery codes found in the text: 8 digits alone (not inside a longer number) or encoded.

    A bare 8-digit string turns up by chance inside timestamps and counters, so a raw hit must stand apart
    from other digits; the encoded spellings (base64 at every offset) are specific enough as they are.
    """
    found = [code for code in codes if re.search(rf"(?<!\d){code}(?!\d)", text)]
    found += [form for code in codes for form in canary.spellings(code) - {code} if form in text]
    return sorted(set(found))


def _cache_text() -> str:
    """Return every entry of the database cache: key, expiry and value (unpickled), read with SQL."""
    table = connection.ops.quote_name(settings.CACHES["default"]["LOCATION"])
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT cache_key, expires, value FROM {table}")  # noqa: S608 (our own table name)
        rows = cursor.fetchall()
    entries = []
    for key, expires, value in rows:
        raw = base64.b64decode(canary.as_text(value).encode("latin-1"))
        entries.append(f"{key} {expires} {value} {pickle.loads(raw)!r}")  # noqa: S301 (our own cache)
    return "\n".join(entries)


def _session_text() -> str:
    return "\n".join(f"{s.session_key} {s.get_decoded()!r}" for s in Session.objects.all())


def test_the_secret_and_recovery_codes_appear_only_on_their_own_pages(
    alice, alice_client, totp_clock, caplog
):
    assert "DatabaseCache" in settings.CACHES["default"]["BACKEND"], (
        "the cache reader reads the database cache"
    )
    shown: list[tuple[str, str]] = []
    elsewhere: list[tuple[str, str]] = []

    def visit(client: Client, method: str, path: str, data: dict | None = None):
        response = getattr(client, method)(path, data or {})
        text = canary.response_text(response)
        (shown if path.split("?")[0] in SHOWN_ON_PURPOSE else elsewhere).append((f"{method} {path}", text))
        return response

    # django.template is the one logger kept at its configured level, which the settings pin to INFO
    # whatever LOG_LEVEL says: at DEBUG it logs each template variable miss with the whole context, and
    # the enrolment and recovery-code pages' contexts hold what those pages show.
    template_level = logging.getLevelName(settings.LOGGING["loggers"]["django.template"]["level"])
    assert template_level >= logging.INFO
    caplog.set_level("DEBUG")
    with canary.every_log_record() as records, canary.project_handler_output() as handler_output:
        logging.getLogger("django.template").setLevel(template_level)
        visit(alice_client, "get", "/accounts/2fa/")
        reauth = visit(alice_client, "get", "/accounts/2fa/totp/activate/")
        visit(alice_client, "post", reauth.url, {"password": PASSWORD})
        secret = _shown_secret(visit(alice_client, "get", "/accounts/2fa/totp/activate/").content.decode())
        visit(alice_client, "post", "/accounts/2fa/totp/activate/", {"code": wrong_code(secret)})
        done = visit(alice_client, "post", "/accounts/2fa/totp/activate/", {"code": totp_code(secret)})
        assert done.status_code == 302
        codes = recovery_codes(alice)
        visit(alice_client, "get", "/accounts/2fa/recovery-codes/")
        visit(alice_client, "get", "/accounts/2fa/recovery-codes/download/")
        for path in (
            "/",
            "/accounts/2fa/",
            "/accounts/2fa/totp/deactivate/",
            "/keys/",
            "/accounts/2fa/webauthn/",
        ):
            visit(alice_client, "get", path)
        visit(alice_client, "get", "/accounts/2fa/recovery-codes/generate/")
        visit(alice_client, "post", "/accounts/logout/")

        # Log in again, a wrong code first, then the right one.
        visitor = Client()
        visit(visitor, "get", "/accounts/login/")
        visit(visitor, "post", "/accounts/login/", {"login": alice.email, "password": PASSWORD})
        visit(visitor, "get", "/accounts/2fa/authenticate/")
        visit(visitor, "post", "/accounts/2fa/authenticate/", {"code": wrong_code(secret)})
        assert (
            visit(visitor, "post", "/accounts/2fa/authenticate/", {"code": totp_code(secret)}).status_code
            == 302
        )
        visit(visitor, "get", "/")

    # Positive controls: the pages meant to show them do, and every reader saw real data.
    shown_text = "\n".join(text for _, text in shown)
    assert secret in shown_text and all(code in shown_text for code in codes)
    sinks = {
        "log records as created (DEBUG)": "\n".join(records),
        "log output of the project's handlers": handler_output.getvalue(),
        "caplog": caplog.text,
        "sessions (decoded)": _session_text(),
        "cache entries": _cache_text(),
        "database (every row of every table)": canary.database_text(),
        "other pages": "\n".join(f"{name}\n{text}" for name, text in elsewhere),
    }
    assert "mfa_authenticator" in sinks["log records as created (DEBUG)"]  # SQL at DEBUG was recorded
    assert alice.email in sinks["database (every row of every table)"]
    assert "_auth_user_id" in sinks["sessions (decoded)"]
    assert "allauth.mfa.totp.used" in sinks["cache entries"]  # the code just used, marked in the cache
    assert "Two-factor" in sinks["other pages"] and "Incorrect code." in sinks["other pages"]

    found = {name: canary.hits(text, [secret]) + _code_hits(text, codes) for name, text in sinks.items()}
    assert found == {name: [] for name in sinks}

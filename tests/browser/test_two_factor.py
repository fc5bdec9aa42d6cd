"""In real Chromium: enrolling an authenticator app and logging in with it; a passkey, added and used to log in.

The passkey lives in Chromium's virtual authenticator (DevTools protocol, WebAuthn domain). WebAuthn needs a
secure context: the live server is http://localhost, which browsers and fido2 both count as one, and the
relying party id allauth sends is the request's host, "localhost".
"""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from allauth.mfa import app_settings as mfa_settings
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal import auth as totp_auth
from playwright.sync_api import expect

from tests.support.accounts import PASSWORD
from tests.support.clock import NOW, time_module

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def totp_clock(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """Stop allauth's TOTP clock (the live server runs in this process) at NOW; move it with `.now`."""
    clock = SimpleNamespace(now=NOW.timestamp())
    monkeypatch.setattr(totp_auth, "time", time_module(time=lambda: clock.now))
    return clock


def _code(secret: str, at: float) -> str:
    return totp_auth.format_hotp_value(totp_auth.hotp_value(secret, int(at) // mfa_settings.TOTP_PERIOD))


def _log_in_with_password(page) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill("alice@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in", exact=True).click()


def _log_out(page) -> None:
    page.locator(".user-menu summary").click()
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("navigation", name="Account").get_by_role("link", name="Log in")).to_be_visible()


def _confirm_password_if_asked(page) -> None:
    """allauth asks for the password again before a factor is added (a fresh login does not count)."""
    page.wait_for_load_state()
    if "/accounts/reauthenticate/" in page.url:
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Confirm").click()


def test_alice_enrols_an_authenticator_app_and_logs_in_with_it(page, alice, totp_clock):
    _log_in_with_password(page)
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    page.locator(".user-menu summary").click()
    page.get_by_role("link", name="Two-factor sign-in").click()
    page.get_by_role("link", name="Activate").click()
    _confirm_password_if_asked(page)

    secret = page.locator("#authenticator_secret").input_value()
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    page.get_by_label("Authenticator code").fill(_code(secret, totp_clock.now))
    page.get_by_role("button", name="Activate").click()
    expect(page).to_have_url(re.compile(r"/accounts/2fa/recovery-codes/$"))
    assert Authenticator.objects.filter(user=alice, type=Authenticator.Type.TOTP).exists()

    _log_out(page)
    totp_clock.now += mfa_settings.TOTP_PERIOD  # the app shows the next code by the time she logs in
    _log_in_with_password(page)
    expect(page).to_have_url(re.compile(r"/accounts/2fa/authenticate/$"))
    page.get_by_label("Code").fill(_code(secret, totp_clock.now))
    page.get_by_role("button", name="Sign In").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.locator(".user-email")).to_have_text("alice@example.com")


def test_alice_adds_a_passkey_and_logs_in_with_it_alone(page, alice):
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    options = {
        "protocol": "ctap2",
        "transport": "internal",
        "hasResidentKey": True,
        "hasUserVerification": True,
        "isUserVerified": True,
    }
    authenticator = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": options})["authenticatorId"]

    _log_in_with_password(page)
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    assert page.evaluate("window.isSecureContext")
    page.goto("/accounts/2fa/webauthn/add/")
    _confirm_password_if_asked(page)
    page.get_by_label("Passwordless").check()
    page.locator("#mfa_webauthn_add").click()
    expect(page).not_to_have_url(re.compile(r"/webauthn/add/"))
    key = Authenticator.objects.get(user=alice, type=Authenticator.Type.WEBAUTHN)
    assert key.wrap().is_passwordless is True
    (credential,) = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
    assert credential["isResidentCredential"] and credential["rpId"] == "localhost"

    _log_out(page)
    page.goto("/accounts/login/")
    page.get_by_role("button", name="Log in with a passkey").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.locator(".user-email")).to_have_text("alice@example.com")
    key.refresh_from_db()
    assert key.last_used_at is not None  # signed in by the passkey, not by anything left over

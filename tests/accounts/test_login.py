"""Logging in and out, and the lockout after repeated failures (per account, in the cache)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

from tests.support.accounts import PASSWORD
from tests.support.clock import later

# About passwords: real Argon2 hashes (tests/conftest.py gives the other tests a fast hasher).
pytestmark = [pytest.mark.django_db, pytest.mark.argon2]


def _login(client: Client, email: str, password: str = PASSWORD, ip: str = "10.0.0.1"):
    return client.post("/accounts/login/", {"login": email, "password": password}, REMOTE_ADDR=ip)


def test_it_logs_in_and_out(client, alice):
    response = _login(client, "alice@example.com")
    assert response.status_code == 302
    assert client.get("/").context["user"] == alice
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert not client.get("/").context["user"].is_authenticated


def test_logging_out_by_get_only_asks(alice_client):
    page = alice_client.get("/accounts/logout/")
    assert page.status_code == 200
    assert alice_client.get("/").context["user"].is_authenticated


def test_it_rejects_a_wrong_password_with_a_message(client, alice):
    response = _login(client, "alice@example.com", "wrong password")
    assert response.status_code == 200
    assert b"not correct" in response.content
    assert b'role="alert"' in response.content


def test_it_locks_the_account_after_repeated_failures_until_the_window_passes(client, alice, monkeypatch):
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        _login(client, "alice@example.com", "wrong password")
    # Locked: even the right password is refused, from any client address.
    for ip in ("10.0.0.1", "10.0.0.2"):
        response = _login(client, "alice@example.com", ip=ip)
        assert response.status_code == 200 and b"Too many failed login attempts" in response.content
    with later(monkeypatch, minutes=settings.LOGIN_FAILURE_WINDOW_MINUTES, seconds=1):
        assert _login(client, "alice@example.com").status_code == 302


def test_failures_from_one_client_address_are_limited_across_accounts(client, alice, charlie):
    for n in range(10):
        _login(client, f"someone{n}@example.com", "wrong password", ip="203.0.113.66")
    response = _login(client, "alice@example.com", ip="203.0.113.66")
    assert b"Too many failed login attempts" in response.content
    assert _login(Client(), "charlie@example.com", ip="198.51.100.7").status_code == 302


def test_a_right_password_does_not_reset_the_count(client, alice):
    """Successful logins in between must not let a guesser go on for ever."""
    for _ in range(settings.LOGIN_FAILURE_LIMIT - 1):
        _login(client, "alice@example.com", "wrong password")
    assert _login(Client(), "alice@example.com").status_code == 302
    _login(client, "alice@example.com", "wrong password")
    response = _login(Client(), "alice@example.com")
    assert b"Too many failed login attempts" in response.content


def test_dashboard_requires_nothing_but_shows_landing_to_visitors(client):
    response = client.get("/")
    assert response.status_code == 200
    assert b"Create a free account" in response.content


def test_logging_out_says_so_on_the_next_page(alice_client):
    page = alice_client.post("/accounts/logout/", follow=True).content.decode()
    assert "You have signed out." in page


def test_an_unverified_account_cannot_log_in_until_it_types_its_code(client):
    from accounts.services import create_account
    from tests.support import mailbox

    create_account(email="vera@example.com", password=PASSWORD, verified=False)
    response = _login(client, "vera@example.com")
    assert response.status_code == 302 and response.url == "/accounts/confirm-email/"
    assert not client.get("/").context["user"].is_authenticated
    (message,) = mailbox.to("vera@example.com")
    client.post("/accounts/confirm-email/", {"code": mailbox.code_in(message)})
    assert client.get("/").context["user"].is_authenticated

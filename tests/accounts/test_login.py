from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings

from tests.support.accounts import PASSWORD

# About passwords: real Argon2 hashes (tests/conftest.py gives the other tests a fast hasher).
pytestmark = [pytest.mark.django_db, pytest.mark.argon2]


def _login(client, email: str, password: str, ip: str = "10.0.0.1"):
    return client.post("/accounts/login/", {"username": email, "password": password}, REMOTE_ADDR=ip)


def test_it_logs_in_and_out(client, alice):
    response = _login(client, "alice@example.com", PASSWORD)
    assert response.status_code == 302
    assert client.get("/").context["user"] == alice
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert not client.get("/").context["user"].is_authenticated


def test_logout_needs_post(alice_client):
    assert alice_client.get("/accounts/logout/").status_code == 405


def test_it_rejects_a_wrong_password_with_a_message(client, alice):
    response = _login(client, "alice@example.com", "wrong password")
    assert response.status_code == 200
    assert b"correct email address and password" in response.content


def test_it_locks_out_after_repeated_failures_and_recovers_after_the_cooloff(client, alice):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(client, "alice@example.com", "wrong password")
    # Locked: even the right password is refused from this IP.
    response = _login(client, "alice@example.com", PASSWORD)
    assert response.status_code == 429
    assert b"Too many failed logins" in response.content
    # Another IP is not locked out for this username (lockout is by username + IP).
    assert _login(client, "alice@example.com", PASSWORD, ip="10.0.0.2").status_code == 302
    client.post("/accounts/logout/")
    # After the cool-off the lock lifts.
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time
        - settings.AXES_COOLOFF_TIME
        - timedelta(seconds=1)
    )
    assert _login(client, "alice@example.com", PASSWORD).status_code == 302


def test_dashboard_requires_nothing_but_shows_landing_to_visitors(client):
    response = client.get("/")
    assert response.status_code == 200
    assert b"Create a free account" in response.content


def test_logging_out_says_so_on_the_next_page(alice_client):
    page = alice_client.post("/accounts/logout/", follow=True).content.decode()
    assert '<p class="message message-success">You are logged out.</p>' in page

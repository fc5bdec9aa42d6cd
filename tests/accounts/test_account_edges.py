"""Sign-in edges a real user hits: capitals, proxies, an ended session, a stale form, a lifted lock."""

from __future__ import annotations

import re

import pytest
from axes.models import AccessAttempt
from django.core import mail
from django.test import Client

from accounts import throttle
from generation.models import Generation
from tests.support.accounts import PASSWORD, workspace_of
from tests.support.factories import make_generation

pytestmark = pytest.mark.django_db


def _login(client: Client, email: str, password: str = PASSWORD, **extra: str):
    return client.post("/accounts/login/", {"username": email, "password": password}, **extra)


def test_the_email_logs_in_whatever_its_capitals(alice):
    response = _login(Client(), alice.email.upper())
    assert response.status_code == 302


def test_someone_who_signed_up_with_capitals_logs_in_as_typed(client):
    email = "Dana@Example.com"
    response = client.post(
        "/accounts/signup/", {"email": email, "password1": PASSWORD, "password2": PASSWORD}
    )
    assert response.status_code == 302
    client.post("/accounts/logout/")
    assert _login(client, email).status_code == 302


@pytest.mark.parametrize(
    ("count", "forwarded", "remote", "expected"),
    [
        (0, "203.0.113.66", "10.0.0.2", "10.0.0.2"),  # no proxy: the header is the client's say-so
        (1, "203.0.113.66", "10.0.0.2", "203.0.113.66"),
        (1, "198.51.100.1, 203.0.113.66", "10.0.0.2", "203.0.113.66"),  # the left entry is forged
        (2, "203.0.113.66, 10.0.0.9", "10.0.0.2", "203.0.113.66"),
        (1, "", "10.0.0.2", "10.0.0.2"),
        (3, "not-an-address, 203.0.113.66, 10.0.0.9", "10.0.0.2", "10.0.0.2"),  # count set too high
        (1, "2001:db8::1", "10.0.0.2", "2001:db8::1"),
    ],
)
def test_the_client_address_is_the_one_the_trusted_proxy_saw(
    rf, settings, count, forwarded, remote, expected
):
    settings.TRUSTED_PROXY_COUNT = count
    request = rf.get("/", HTTP_X_FORWARDED_FOR=forwarded, REMOTE_ADDR=remote)
    assert throttle.client_ip(request) == expected


def test_behind_the_proxy_an_attacker_cannot_lock_the_owner_out(alice, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    for _ in range(settings.AXES_FAILURE_LIMIT + 1):
        _login(Client(), alice.email, "wrong", HTTP_X_FORWARDED_FOR="203.0.113.66", **proxy)
    assert (
        _login(Client(), alice.email, "wrong", HTTP_X_FORWARDED_FOR="203.0.113.66", **proxy).status_code
        == 429
    )
    assert _login(Client(), alice.email, HTTP_X_FORWARDED_FOR="198.51.100.7", **proxy).status_code == 302


def test_the_lockout_page_says_how_long_in_minutes_and_a_reset_lifts_it(alice, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(client, alice.email, "wrong")
    locked = _login(client, alice.email)
    assert locked.status_code == 429
    assert "for 15 minutes" in locked.content.decode() and "PT15M" not in locked.content.decode()
    client.post("/accounts/password_reset/", {"email": alice.email})
    link = re.search(r"/accounts/reset/\S+/", mail.outbox[-1].body).group(0)
    form_page = client.get(link, follow=True)
    new = "A new passphrase, 2026!"
    client.post(form_page.redirect_chain[-1][0], {"new_password1": new, "new_password2": new})
    assert not AccessAttempt.objects.filter(username=alice.email).exists()
    assert _login(Client(), alice.email, new).status_code == 302


def test_polling_after_the_session_ended_sends_the_whole_page_to_the_login(alice, alice_client):
    generation = make_generation(workspace_of(alice), alice)
    alice_client.post("/accounts/logout/")
    page = f"/generations/{generation.code}/"
    response = alice_client.get(
        f"{page}status/", HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL=f"http://testserver{page}"
    )
    assert response["HX-Redirect"] == f"/accounts/login/?next={page.replace('/', '%2F')}"
    assert Generation.objects.get().status == generation.status


def test_a_signed_in_user_sent_to_the_login_page_itself_goes_home(alice_client):
    response = alice_client.get("/accounts/login/?next=/accounts/login/")
    assert response.status_code == 302 and response.url == "/"


def test_a_stale_form_gets_a_page_of_ours_not_djangos(alice):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/accounts/login/", {"username": alice.email, "password": PASSWORD})
    assert response.status_code == 403
    body = response.content.decode()
    assert "This form expired" in body and "DEBUG=True" not in body


def test_a_sign_up_that_loses_the_race_for_its_email_gets_an_error_not_a_500(client, monkeypatch):
    """Two submissions of one address at once: both pass the form's check, the unique email decides."""
    from accounts import services

    create = services.create_account

    def the_other_tab_first(**kwargs):
        create(**kwargs)  # the double click's first request commits first
        return create(**kwargs)

    monkeypatch.setattr(services, "create_account", the_other_tab_first)
    email = "erin@example.com"
    response = client.post(
        "/accounts/signup/", {"email": email, "password1": PASSWORD, "password2": PASSWORD}
    )
    assert response.status_code == 200
    assert 'id="id_email_error"' in response.content.decode()
    assert "already exists" in response.content.decode()


def test_a_signed_in_user_changes_their_password_and_stays_signed_in(alice, alice_client):
    page = alice_client.get("/")
    assert 'href="/accounts/password_change/"' in page.content.decode()
    new = "Another passphrase, 2026!"
    wrong = alice_client.post(
        "/accounts/password_change/", {"old_password": "nope", "new_password1": new, "new_password2": new}
    )
    assert wrong.status_code == 200 and 'id="id_old_password_error"' in wrong.content.decode()
    changed = alice_client.post(
        "/accounts/password_change/", {"old_password": PASSWORD, "new_password1": new, "new_password2": new}
    )
    assert changed.status_code == 302 and changed.url == "/accounts/password_change/done/"
    assert alice_client.get("/").status_code == 200  # this session stays signed in
    assert _login(Client(), alice.email).status_code == 200  # the old password no longer works
    assert _login(Client(), alice.email, new).status_code == 302


def test_changing_a_password_needs_a_signed_in_user(client):
    response = client.get("/accounts/password_change/")
    assert response.status_code == 302 and response.url.startswith("/accounts/login/")


def test_an_email_saved_with_capitals_elsewhere_still_logs_in(alice):
    """The admin, or an older row, may hold capitals: the login matches whatever the case."""
    from accounts.models import User

    User.objects.filter(pk=alice.pk).update(email="Alice@Example.com")
    assert _login(Client(), "alice@example.com").status_code == 302
    alice.refresh_from_db()
    alice.full_clean()
    assert alice.email == "alice@example.com"


def test_the_lockout_page_without_a_cooloff_still_renders(alice, settings):
    settings.AXES_COOLOFF_TIME = None  # locked until reset
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(client, alice.email, "wrong")
    locked = _login(client, alice.email)
    assert locked.status_code == 429
    assert "Reset your password to lift the lock" in locked.content.decode()


def test_guessing_the_old_password_on_the_change_form_locks_out_like_the_login(alice, alice_client, settings):
    """A hijacked session must not try passwords without limit."""
    new = "Another passphrase, 2026!"
    guess = {"old_password": "guess", "new_password1": new, "new_password2": new}
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = alice_client.post("/accounts/password_change/", guess)
        assert response.status_code == 200 and 'id="id_old_password_error"' in response.content.decode()
    assert alice_client.post("/accounts/password_change/", guess).status_code == 429
    right = {**guess, "old_password": PASSWORD}
    assert alice_client.post("/accounts/password_change/", right).status_code == 429
    assert _login(Client(), alice.email).status_code == 429

"""Password reset: a link by email, limited per address and per client (issue 15, finding 4)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client

from tests.support import mailbox
from tests.support.accounts import PASSWORD

# About passwords: real Argon2 hashes (tests/conftest.py gives the other tests a fast hasher).
pytestmark = [pytest.mark.django_db, pytest.mark.argon2]

NEW = "a brand new passphrase"


def _reset(client: Client, email: str, new: str = NEW) -> None:
    client.post("/accounts/password/reset/", {"email": email})
    link = mailbox.link_in(mailbox.to(email)[-1])
    form_page = client.get(link, follow=True)
    response = client.post(form_page.redirect_chain[-1][0], {"password1": new, "password2": new})
    assert response.status_code == 302


def test_it_emails_a_reset_link_that_sets_a_new_password(client, alice):
    response = client.post("/accounts/password/reset/", {"email": "alice@example.com"})
    assert response.status_code == 302
    (message,) = mail.outbox
    assert message.to == ["alice@example.com"]
    _reset(client, "alice@example.com")
    alice.refresh_from_db()
    assert alice.check_password(NEW)


def test_it_does_not_reveal_unknown_emails(client, alice):
    unknown = client.post("/accounts/password/reset/", {"email": "nobody@example.com"})
    known = Client().post("/accounts/password/reset/", {"email": "alice@example.com"})
    assert (unknown.status_code, unknown.url) == (known.status_code, known.url)


def test_the_old_path_still_leads_to_the_form(client):
    response = client.get("/accounts/password_reset/")
    assert response.status_code == 302 and response.url == "/accounts/password/reset/"


def test_fifteen_resets_for_one_address_send_three_emails_then_a_429(alice):
    answers = [
        Client(REMOTE_ADDR=f"10.0.1.{n}").post("/accounts/password/reset/", {"email": "alice@example.com"})
        for n in range(15)
    ]
    assert len(mailbox.to("alice@example.com")) == 3
    assert [answer.status_code for answer in answers] == [302] * 3 + [429] * 12
    assert "Too many attempts" in answers[-1].content.decode()


def test_resets_from_one_client_address_are_limited(alice, charlie):
    client = Client(REMOTE_ADDR="10.0.2.1")
    answers = [client.post("/accounts/password/reset/", {"email": f"x{n}@example.com"}) for n in range(6)]
    assert [answer.status_code for answer in answers] == [302] * 5 + [429]


def test_a_reset_lifts_the_login_lockout(alice):
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        Client().post("/accounts/login/", {"login": alice.email, "password": "wrong"})
    locked = Client().post("/accounts/login/", {"login": alice.email, "password": PASSWORD})
    assert b"Too many failed login attempts" in locked.content
    _reset(Client(), alice.email)
    assert Client().post("/accounts/login/", {"login": alice.email, "password": NEW}).status_code == 302


def test_a_reset_link_mailed_before_the_move_leads_to_the_form(client):
    response = client.get("/accounts/reset/MQ/5ac-0123456789abcdef/")
    assert response.status_code == 302 and response.url == "/accounts/password/reset/"

"""Sign-up verifies the address and never tells whether one already has an account (issue 15, finding 5)."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.db import IntegrityError
from django.test import Client

from accounts import services
from accounts.models import Membership, User, Workspace
from tests.support import mailbox
from tests.support.clock import later

# About passwords: real Argon2 hashes (tests/conftest.py gives the other tests a fast hasher).
pytestmark = [pytest.mark.django_db, pytest.mark.argon2]

PASSWORD = "a long passphrase 42"
GOOD = {"email": "dana@example.com", "password1": PASSWORD, "password2": PASSWORD}


def _sign_up(client: Client, **fields: str):
    return client.post("/accounts/signup/", {**GOOD, **fields})


def _without_token(html: str) -> str:
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)
    html = re.sub(r'"X-CSRFToken": "[^"]+"', "", html)
    return re.sub(r'nonce="[^"]+"', "", html)


def test_a_new_address_gets_a_code_and_confirming_it_logs_in_to_a_new_workspace(client):
    response = _sign_up(client)
    assert response.status_code == 302 and response.url == "/accounts/confirm-email/"
    user = User.objects.get(email="dana@example.com")
    assert Membership.objects.get(user=user).role == Membership.Role.OWNER
    assert client.get("/keys/").status_code == 302  # not logged in until the code is typed
    (message,) = mailbox.to("dana@example.com")
    page = client.post("/accounts/confirm-email/", {"code": mailbox.code_in(message)})
    assert page.status_code == 302
    dashboard = client.get("/")
    assert dashboard.context["user"] == user
    assert b"dana&#x27;s workspace" in dashboard.content
    assert client.get("/keys/").status_code == 200


def test_a_wrong_code_is_refused_beside_the_field(client):
    _sign_up(client)
    page = client.post("/accounts/confirm-email/", {"code": "WRONG1"})
    assert page.status_code == 200 and 'id="id_code_error"' in page.content.decode()
    assert not client.get("/").context["user"].is_authenticated


def test_a_taken_address_gets_the_same_answer_and_its_owner_an_email(alice):
    new, taken = Client(), Client()
    first = _sign_up(new, email="nora@example.com")
    second = _sign_up(taken, email="ALICE@example.com")
    assert (first.status_code, first.url) == (second.status_code, second.url)
    new_page, taken_page = new.get(first.url), taken.get(second.url)
    assert new_page.status_code == taken_page.status_code == 200
    assert _without_token(new_page.content.decode()).replace("nora", "X") == _without_token(
        taken_page.content.decode()
    ).replace("alice", "X").replace("ALICE", "X")
    assert User.objects.filter(email_key="alice@example.com").count() == 1
    (owner_mail,) = mailbox.to("alice@example.com")
    assert "already" in owner_mail.body.lower()
    assert not taken.get("/").context["user"].is_authenticated


def test_it_stores_an_argon2_hash(client):
    _sign_up(client)
    assert User.objects.get().password.startswith("argon2$argon2id$")


def test_it_creates_nothing_when_a_later_step_fails(db, monkeypatch):
    def broken(**kwargs):
        raise IntegrityError("membership insert failed")

    monkeypatch.setattr(Membership.objects, "create", broken)
    with pytest.raises(IntegrityError):
        services.create_account(email="erin@example.com", password=PASSWORD)
    assert not User.objects.exists()
    assert not Workspace.objects.exists()


def test_a_sign_up_whose_workspace_fails_leaves_no_user(client, monkeypatch):
    def broken(**kwargs):
        raise IntegrityError("workspace insert failed")

    monkeypatch.setattr(Workspace.objects, "create", broken)
    with pytest.raises(IntegrityError):
        _sign_up(client)
    assert not User.objects.exists()


def test_it_shows_a_weak_and_a_mismatched_password_together(client):
    response = _sign_up(client, password1="12345678901", password2="12345678902")
    errors = response.context["form"].errors
    assert "password1" in errors and "password2" in errors
    assert not User.objects.exists()


def test_a_weak_password_that_is_also_mistyped_shows_both_errors(client):
    response = client.post(
        "/accounts/signup/", {**GOOD, "password1": "12345678901", "password2": "1234567890"}
    )
    errors = response.context["form"].errors
    assert "password1" in errors and "password2" in errors  # the weak one is not hidden by the mismatch
    page = response.content.decode()
    assert "You must type the same password each time." in page
    assert "entirely numeric" in page
    assert not User.objects.exists()


def test_it_requires_every_field(client):
    response = client.post("/accounts/signup/", {})
    assert set(response.context["form"].errors) == {"email", "password1", "password2"}


def test_the_page_labels_its_fields(client):
    response = client.get("/accounts/signup/")
    for field in ("id_email", "id_password1", "id_password2"):
        assert f'for="{field}"'.encode() in response.content


def test_sign_ups_for_one_address_are_limited_with_a_429_page(settings, monkeypatch):
    settings.SIGNUP_PER_EMAIL_LIMIT = "3/h/key"
    answers = []
    spellings = ["kim@example.com", "KIM@example.com", "ｋｉｍ@example.com", "kim@example.com"]
    for n, spelling in enumerate(spellings):
        # A minute apart: allauth mails one address at most once in 10 seconds (a 429 of its own).
        with later(monkeypatch, minutes=n):
            answers.append(_sign_up(Client(REMOTE_ADDR=f"10.0.0.{n}"), email=spelling).status_code)
    assert answers == [302, 302, 302, 429]
    assert len(mail.outbox) == 3  # one code, then two "you already have an account"


def test_sign_ups_from_one_client_address_are_limited(settings):
    client = Client(REMOTE_ADDR="10.0.0.9")
    answers = [_sign_up(client, email=f"person{n}@example.com").status_code for n in range(11)]
    assert answers == [302] * 10 + [429]
    page = _sign_up(client, email="another@example.com")
    assert page.status_code == 429 and "Too many attempts" in page.content.decode()


def test_two_spellings_signing_up_at_once_get_one_account_and_the_same_answer(client, monkeypatch):
    """Both pass the form's check; the unique email key decides, and the loser is answered as taken."""
    from accounts.forms import SignupForm

    real = SignupForm.save

    def the_other_spelling_first(self, request):
        services.create_account(email="ｅｒｉｎ@example.com", password=PASSWORD)
        return real(self, request)

    monkeypatch.setattr(SignupForm, "save", the_other_spelling_first)
    response = _sign_up(client, email="erin@example.com")
    assert response.status_code == 302 and response.url == "/accounts/confirm-email/"
    assert User.objects.count() == 1

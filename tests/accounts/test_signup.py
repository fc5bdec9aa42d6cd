from __future__ import annotations

import pytest
from django.db import IntegrityError

from accounts import services
from accounts.models import Membership, User, Workspace

# About passwords: real Argon2 hashes (tests/conftest.py gives the other tests a fast hasher).
pytestmark = [pytest.mark.django_db, pytest.mark.argon2]

GOOD = {"email": "dana@example.com", "password1": "a long passphrase 42", "password2": "a long passphrase 42"}


def test_it_creates_user_workspace_and_owner_membership(client):
    response = client.post("/accounts/signup/", GOOD)
    assert response.status_code == 302
    assert response["Location"] == "/"
    user = User.objects.get(email="dana@example.com")
    membership = Membership.objects.get(user=user)
    assert membership.role == Membership.Role.OWNER
    assert membership.workspace.name == "dana's workspace"
    page = client.get("/")
    assert b"dana&#x27;s workspace" in page.content
    assert b"dana@example.com" in page.content


def test_it_stores_an_argon2_hash(client):
    client.post("/accounts/signup/", GOOD)
    assert User.objects.get().password.startswith("argon2$argon2id$")


def test_it_creates_nothing_when_a_later_step_fails(db, monkeypatch):
    def broken(**kwargs):
        raise IntegrityError("membership insert failed")

    monkeypatch.setattr(Membership.objects, "create", broken)
    with pytest.raises(IntegrityError):
        services.create_account(email="erin@example.com", password="a long passphrase 42")
    assert not User.objects.exists()
    assert not Workspace.objects.exists()


def test_it_explains_a_duplicate_email_beside_the_field(client, alice):
    response = client.post("/accounts/signup/", {**GOOD, "email": "ALICE@example.com"})
    assert response.status_code == 200
    form = response.context["form"]
    assert "already exists" in form.errors["email"][0]
    assert b'id="id_email_error"' in response.content
    assert User.objects.filter(email__iexact="alice@example.com").count() == 1


def test_it_rejects_weak_and_mismatched_passwords(client):
    response = client.post(
        "/accounts/signup/", {**GOOD, "password1": "12345678901", "password2": "12345678901"}
    )
    assert "password1" in response.context["form"].errors
    response = client.post("/accounts/signup/", {**GOOD, "password2": "something else entirely"})
    assert "password2" in response.context["form"].errors
    assert not User.objects.exists()


def test_a_weak_password_that_is_also_mistyped_shows_both_errors(client):
    response = client.post(
        "/accounts/signup/", {**GOOD, "password1": "12345678901", "password2": "1234567890"}
    )
    errors = response.context["form"].errors
    assert "password1" in errors and "password2" in errors  # the weak one is not hidden by the mismatch
    page = response.content.decode()
    assert "The two passwords differ." in page
    assert "entirely numeric" in page
    assert not User.objects.exists()


def test_it_requires_every_field(client):
    response = client.post("/accounts/signup/", {})
    assert set(response.context["form"].errors) == {"email", "password1", "password2"}


def test_the_page_labels_its_fields(client):
    response = client.get("/accounts/signup/")
    for field in ("id_email", "id_password1", "id_password2"):
        assert f'for="{field}"'.encode() in response.content

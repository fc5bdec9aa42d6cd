"""Every email is in its recipient's language (issue 18): an account's saved language, else the language
of the page that sent it; each says which in its Content-Language header.

django-allauth ships its own Arabic, which shows in its emails' subjects; ours (invitations, limit
alerts) are checked by their header, our catalogue being written beside this work.
"""

from __future__ import annotations

import pytest
from django.core import mail

from accounts.models import Membership, User
from accounts.services import create_account
from generation import budgets
from tests.support.accounts import client_for, workspace_of
from tests.support.generation import start
from tests.support.keys import make_key
from tests.support.mailbox import to
from tests.support.prices import fal_image

pytestmark = pytest.mark.django_db

RESET_SUBJECT_AR = "رسالة إعادة ضبط كلمة المرور"  # django-allauth's Arabic for "Password Reset Email"


def test_a_password_reset_is_in_the_accounts_saved_language(alice, client):
    User.objects.filter(pk=alice.pk).update(language="ar")
    client.post("/accounts/password/reset/", {"email": alice.email}, HTTP_ACCEPT_LANGUAGE="en")
    (email,) = to(alice.email)
    assert RESET_SUBJECT_AR in email.subject and email.extra_headers["Content-Language"] == "ar"


def test_without_a_saved_language_an_email_is_in_the_pages(alice, client):
    client.post("/accounts/password/reset/", {"email": alice.email}, HTTP_ACCEPT_LANGUAGE="ar")
    client.post("/accounts/password/reset/", {"email": alice.email}, HTTP_ACCEPT_LANGUAGE="en")
    arabic, english = to(alice.email)
    assert RESET_SUBJECT_AR in arabic.subject and arabic.extra_headers["Content-Language"] == "ar"
    assert "Password Reset" in english.subject and english.extra_headers["Content-Language"] == "en"


def test_an_invitation_is_in_the_inviters_language_or_the_invited_accounts(alice, charlie):
    client = client_for(alice)
    client.post("/accounts/language/", {"language": "ar", "next": "/"})
    User.objects.filter(pk=charlie.pk).update(language="en")
    client.post("/workspace/members/invite/", {"email": "dave@example.com", "role": "member"})
    client.post("/workspace/members/invite/", {"email": charlie.email, "role": "member"})
    (to_dave,) = to("dave@example.com")
    (to_charlie,) = to(charlie.email)
    assert to_dave.extra_headers["Content-Language"] == "ar"  # no account: the inviter's page
    assert to_charlie.extra_headers["Content-Language"] == "en"  # an account that chose English
    assert "You are invited to" in to_charlie.subject


def test_each_manager_gets_the_limit_alert_in_their_language(
    alice, bob, double, django_capture_on_commit_callbacks
):
    dana = create_account(email="dana@example.com", password="a long passphrase 42")
    Membership.objects.create(user=dana, workspace=workspace_of(alice), role=Membership.Role.ADMIN)
    User.objects.filter(pk=dana.pk).update(language="ar")
    User.objects.filter(pk=alice.pk).update(language="en")
    key = make_key(alice, "fal")
    budgets.set_cap(workspace=workspace_of(alice), user=alice, cap_nanousd=fal_image())
    with django_capture_on_commit_callbacks(execute=True):
        start(bob, key, "fal-ai/flux-2-max")
    (to_alice,) = to(alice.email)
    (to_dana,) = to(dana.email)
    assert to_alice.extra_headers["Content-Language"] == "en" and "this month's budget" in to_alice.subject
    assert to_dana.extra_headers["Content-Language"] == "ar"
    assert len(mail.outbox) == 2

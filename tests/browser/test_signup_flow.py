from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from accounts.models import Membership, User
from tests.support import mailbox

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_visitor_signs_up_and_reaches_the_dashboard(page):
    page.goto("/")
    page.get_by_role("link", name="Create a free account").click()
    page.get_by_label("Email").fill("nora@example.com")
    page.get_by_label("Password", exact=True).fill("a long passphrase 42")
    page.get_by_label("Confirm password").fill("a long passphrase 42")
    page.get_by_role("button", name="Sign up").click()
    # The address is confirmed with the code we email; typing it logs in.
    expect(page).to_have_url(re.compile(r"/accounts/confirm-email/$"))
    page.get_by_label("Code").fill(mailbox.code_in(mailbox.to("nora@example.com")[-1]))
    page.get_by_role("button", name="Confirm").click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.locator(".workspace-name")).to_have_text("nora's workspace")
    user = User.objects.get(email="nora@example.com")
    assert Membership.objects.get(user=user).role == "owner"

    # Log out through the user menu, then log back in.
    page.locator(".user-menu summary").click()
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("link", name="Create a free account")).to_be_visible()
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill("nora@example.com")
    page.get_by_label("Password").fill("a long passphrase 42")
    page.get_by_role("button", name="Log in", exact=True).click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def test_a_taken_address_gets_the_code_page_and_its_owner_an_email(page, alice):
    page.goto("/accounts/signup/")
    page.get_by_label("Email").fill("alice@example.com")
    page.get_by_label("Password", exact=True).fill("a long passphrase 42")
    page.get_by_label("Confirm password").fill("a long passphrase 42")
    page.get_by_role("button", name="Sign up").click()
    expect(page).to_have_url(re.compile(r"/accounts/confirm-email/$"))  # as for a new address
    assert "already" in mailbox.to("alice@example.com")[-1].body.lower()

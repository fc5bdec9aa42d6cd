from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from accounts.models import Membership, User

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_visitor_signs_up_and_reaches_the_dashboard(page):
    page.goto("/")
    page.get_by_role("link", name="Create a free account").click()
    page.get_by_label("Email").fill("nora@example.com")
    page.get_by_label("Password", exact=True).fill("a long passphrase 42")
    page.get_by_label("Confirm password").fill("a long passphrase 42")
    page.get_by_role("button", name="Sign up").click()
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
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def test_a_duplicate_email_shows_the_error_beside_the_field(page, alice):
    page.goto("/accounts/signup/")
    page.get_by_label("Email").fill("alice@example.com")
    page.get_by_label("Password", exact=True).fill("a long passphrase 42")
    page.get_by_label("Confirm password").fill("a long passphrase 42")
    page.get_by_role("button", name="Sign up").click()
    expect(page.locator("#id_email_error")).to_contain_text("already exists")

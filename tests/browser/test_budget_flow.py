"""In real Chromium: set a budget, generate until refused, see the banner and the refusal."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from generation.models import Generation
from tests.support.accounts import PASSWORD
from tests.support.keys import make_key
from tests.support.prices import fal_image, usd

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_user_sets_a_budget_and_is_refused_past_it(page, alice, double, monkeypatch):
    from generation import tasks

    monkeypatch.setattr(tasks.run_generation, "delay", lambda generation_id: None)  # stay queued: reserved
    make_key(alice, "fal")
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill("alice@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in", exact=True).click()

    page.locator(".user-menu summary").click()
    page.get_by_role("link", name="Workspace and budget").click()
    page.get_by_label("Monthly budget (USD)").fill("0.15")
    page.get_by_role("button", name="Save budget").click()
    expect(page.get_by_text("The monthly budget is now $0.15.")).to_be_visible()

    for _ in range(2):  # one Flux 2 Max image each, exact
        page.goto("/generate/")
        page.get_by_label("Prompt").fill("A friendly lighthouse keeper")
        page.get_by_role("button", name="Generate").click()
        expect(page).to_have_url(re.compile(r"/generations/"))

    page.goto("/generate/")
    expect(page.get_by_test_id("budget-banner")).to_contain_text("93% of this month's budget")
    page.get_by_label("Prompt").fill("A friendly lighthouse keeper")
    page.get_by_role("button", name="Generate").click()
    expect(page.get_by_role("alert")).to_contain_text("would pass this month's budget of $0.15")
    expect(page.get_by_role("alert")).to_contain_text(f"{usd(2 * fal_image())} reserved")
    assert Generation.objects.count() == 2

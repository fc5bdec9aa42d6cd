"""In real Chromium: persona → generate with each provider → watch the status → image and cost."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.support.accounts import PASSWORD
from tests.support.factories import make_persona
from tests.support.keys import make_key
from tests.support.prices import fal_image, usd
from tests.support.worker import celery_worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


@pytest.fixture
def worker(double, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PROVIDER_TIMEOUT_SECONDS = 20
    double.latency = 1.5  # long enough to see the progress state
    with celery_worker(tmp_path) as running:
        yield running


def _log_in(page) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill("alice@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in", exact=True).click()


@pytest.mark.parametrize(
    ("provider", "model_label", "price"),
    [("openai", "GPT Image 2 — OpenAI", "At most"), ("fal", "Flux 2 Max — fal.ai", usd(fal_image()))],
)
def test_a_user_generates_an_avatar_and_sees_its_cost(page, alice, worker, provider, model_label, price):
    make_key(alice, provider)
    persona = make_persona(alice.memberships.get().workspace, alice, name="Ana Ruiz", role="café owner")
    _log_in(page)
    page.goto(f"/generate/?persona={persona.code}")
    expect(page.get_by_label("Prompt")).to_have_value(re.compile("who works as café owner"))
    page.get_by_label("Model").select_option(label=model_label)
    expect(page.locator("#quote")).to_contain_text(price)
    if provider == "openai":
        page.get_by_label("Quality").select_option("low")
        expect(page.locator("#quote")).to_contain_text("$0.0")
    page.get_by_role("button", name="Generate").click()

    expect(page).to_have_url(re.compile(r"/generations/[0-9a-f-]{36}/$"))
    expect(page.locator(".progress")).to_be_visible()
    status = page.locator("[data-status]")
    expect(status).to_have_attribute("data-status", "succeeded", timeout=30_000)
    image = page.get_by_role("img", name=re.compile("Avatar 1 for Ana Ruiz"))
    expect(image).to_be_visible()
    # Visible is not loaded: wait until the browser has fetched and decoded it (or given up), then check.
    handle = image.element_handle()
    page.wait_for_function("img => img.complete", arg=handle)
    assert page.evaluate("img => img.naturalWidth", handle) > 0
    expect(page.get_by_test_id("actual-cost")).to_have_text(re.compile(r"^\$0\.\d+$"))
    expect(page.locator(".progress")).to_have_count(0)

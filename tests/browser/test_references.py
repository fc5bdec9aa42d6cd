"""In real Chromium (issue 19): a photo uploaded to a persona, an avatar from it with each provider, then
"more like this" from the result; the usage history's total equals what the provider double billed."""

from __future__ import annotations

import re

import pytest
from PIL import Image
from playwright.sync_api import expect

from generation.money import format_usd
from tests.support.accounts import PASSWORD
from tests.support.factories import make_persona
from tests.support.keys import make_key
from tests.support.worker import celery_worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


@pytest.fixture
def worker(double, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PROVIDER_TIMEOUT_SECONDS = 20
    with celery_worker(tmp_path) as running:
        yield running


def _generate(page, model_label: str, *, tick_reference: bool) -> None:
    page.get_by_label("Model").select_option(label=model_label)
    # The model's options and the quote come back first: a change while the form's request is in flight
    # is dropped by htmx (as for any field), so the tick waits for them.
    expect(page.locator("#quote")).to_contain_text("Exact" if "fal" in model_label else "upper bound")
    expect(page.locator("form.generate-form")).not_to_have_class(re.compile("htmx-request"))
    if tick_reference:
        page.get_by_role("checkbox", name=re.compile("ana.jpg")).check()
    expect(page.get_by_test_id("reference-quote-note")).to_contain_text("Includes 1 reference image")
    page.get_by_role("button", name="Generate").click()
    expect(page).to_have_url(re.compile(r"/generations/[0-9a-f-]{36}/$"))
    expect(page.locator("[data-status]")).to_have_attribute("data-status", "succeeded", timeout=30_000)
    expect(page.get_by_test_id("reference-count")).to_contain_text("1 reference image")


def test_a_photo_becomes_a_consistent_set_and_usage_shows_what_was_billed(
    page, alice, double, worker, tmp_path
):
    make_key(alice, "openai")
    make_key(alice, "fal")
    persona = make_persona(alice.memberships.get().workspace, alice, name="Ana Ruiz", role="café owner")
    photo = tmp_path / "ana.jpg"
    Image.new("RGB", (1600, 1200), (150, 110, 90)).save(photo, "JPEG")
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill("alice@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in", exact=True).click()

    page.goto(f"/personas/{persona.code}/")
    page.locator("#id_photos").set_input_files(str(photo))
    page.get_by_label(re.compile("I may use these photos")).check()
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("img", name="Reference photo 1 of Ana Ruiz")).to_be_visible()

    page.goto(f"/generate/?persona={persona.code}")
    _generate(page, "GPT Image 2 — OpenAI", tick_reference=True)
    page.goto(f"/generate/?persona={persona.code}")
    _generate(page, "Flux 2 Max — fal.ai", tick_reference=True)

    page.get_by_test_id("more-like-this-link").first.click()
    expect(page.get_by_test_id("more-like-this")).to_be_visible()
    page.get_by_label("What changes").select_option("expression")
    page.get_by_label("Describe the change").fill("laughing")
    _generate(page, "Flux 2 Max — fal.ai", tick_reference=False)

    page.goto(f"/personas/{persona.code}/")
    expect(page.get_by_role("img", name=re.compile("in its set"))).to_have_count(3)
    billed = double.billed("openai") + double.billed("fal")
    assert len(billed) == 3 and all(entry.input_nanousd > 0 for entry in billed)
    page.goto("/usage/")
    expect(page.get_by_test_id("total-amount")).to_have_text(
        format_usd(sum(b.amount_nanousd for b in billed))
    )

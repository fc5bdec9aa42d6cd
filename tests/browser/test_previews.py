"""In real Chromium: live previews (D36) appear while OpenAI draws and give way to the final image; fal's
status shows as it changes."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.support.accounts import PASSWORD
from tests.support.keys import make_key
from tests.support.worker import celery_worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


@pytest.fixture
def worker(double, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PROVIDER_TIMEOUT_SECONDS = 20
    double.latency = 4.0  # partials at 1.2 s and 2.4 s: the page, polling every second, shows them
    with celery_worker(tmp_path) as running:
        yield running


def _log_in(page) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill("alice@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in", exact=True).click()


def _generate(page, model_label: str) -> None:
    page.goto("/generate/")
    page.get_by_label("Prompt").fill("A friendly portrait of Ana, a barista")
    page.get_by_label("Model").select_option(label=model_label)


def test_previews_show_while_drawing_then_the_final_image_and_fals_status(page, alice, worker):
    make_key(alice, "openai")
    make_key(alice, "fal")
    _log_in(page)
    _generate(page, "GPT Image 2 — OpenAI")
    page.get_by_label("Quality").select_option("low")
    expect(page.get_by_label("Show previews while drawing")).to_be_checked()
    page.get_by_role("button", name="Generate").click()

    preview = page.get_by_role("img", name=re.compile(r"^Preview \d: the avatar as the provider draws it"))
    expect(preview).to_be_visible(timeout=10_000)
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=preview.element_handle())
    expect(page.get_by_test_id("progress")).to_contain_text("preview")
    expect(page.locator("[data-status]")).to_have_attribute("data-status", "succeeded", timeout=30_000)
    expect(page.get_by_role("img", name=re.compile("Avatar 1 for"))).to_be_visible()
    expect(page.get_by_test_id("preview")).to_have_count(0)
    page.goto("/gallery/")
    expect(page.locator("img[src*='/preview/']")).to_have_count(0)

    _generate(page, "Flux 2 Max — fal.ai")
    expect(page.get_by_label("Show previews while drawing")).to_have_count(0)
    page.get_by_role("button", name="Generate").click()
    expect(page.get_by_test_id("progress")).to_contain_text("IN_PROGRESS", timeout=10_000)
    expect(page.locator("[data-status]")).to_have_attribute("data-status", "succeeded", timeout=30_000)

"""In real Chromium, in Arabic: sign up → key → persona → generate → gallery → usage, right to left (issue 18).

The browser asks for Arabic (its locale, so Accept-Language: ar). Every page must be `dir="rtl"`
`lang="ar"`, and the layout must be mirrored where it shows: the brand on the right of the header, the
progress bar moving from the right, the viewer's Next button on the left (and the left arrow key moving
on), the usage chart's newest month on the left with its amounts on the right. The steps find their
fields by name and id, never by English or Arabic words, so the walk holds with or without the Arabic
catalogue. Full-page screenshots of each step go to ARTIFACTS_DIR, as the accessibility matrix's do.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from generation.models import Persona
from tests.browser.test_accessibility import ARTIFACTS_DIR
from tests.support import mailbox
from tests.support.keys import fake_key
from tests.support.worker import celery_worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


@pytest.fixture
def worker(double, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PROVIDER_TIMEOUT_SECONDS = 20
    double.latency = 1.5  # long enough to see the progress bar move
    with celery_worker(tmp_path) as running:
        yield running


def _box(page, selector: str) -> dict:
    box = page.locator(selector).first.bounding_box()
    assert box, f"{selector} is not shown"
    return box


def _right_to_left(page, step: str) -> None:
    """Assert the page is Arabic and right to left, and keep its full-page screenshot."""
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.locator("html")).to_have_attribute("lang", "ar")
    assert page.evaluate("getComputedStyle(document.body).direction") == "rtl"
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS_DIR / f"rtl-{step}.png"), full_page=True)


def test_an_arabic_user_walks_the_app_right_to_left(browser, live_server, settings, worker):
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}, locale="ar"
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        _walk(page)
    finally:
        context.close()
    assert not errors, f"browser console errors: {errors}"


def _walk(page) -> None:
    width = page.viewport_size["width"]

    # Sign up, then the emailed code.
    page.goto("/accounts/signup/")
    _right_to_left(page, "1-sign-up")
    form = page.locator("main form").first
    form.locator("input[name=email]").fill("nora@example.com")
    form.locator("input[name=password1]").fill("a long passphrase 42")
    form.locator("input[name=password2]").fill("a long passphrase 42")
    # A field's box starts at the right: its label's right edge meets the field's.
    label, field = _box(page, "label[for=id_email]"), _box(page, "#id_email")
    assert abs((label["x"] + label["width"]) - (field["x"] + field["width"])) < 2, (label, field)
    form.locator("button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/accounts/confirm-email/$"))
    _right_to_left(page, "2-sign-up-code")
    page.locator("input[name=code]").fill(mailbox.code_in(mailbox.to("nora@example.com")[-1]))
    page.locator("main form button[type=submit]").first.click()
    expect(page).to_have_url(re.compile(r"/$"))
    _right_to_left(page, "3-dashboard")
    # The header mirrored: the brand at the right edge, the navigation to its left, the user menu at the left.
    brand, nav, menu = _box(page, ".brand"), _box(page, ".main-nav"), _box(page, ".user-menu summary")
    assert brand["x"] + brand["width"] > width - 120, brand
    assert nav["x"] + nav["width"] <= brand["x"], (nav, brand)
    assert menu["x"] < nav["x"], (menu, nav)
    # An email (Latin) in Arabic text keeps its own direction: isolated, read left to right.
    assert page.evaluate("getComputedStyle(document.querySelector('.user-email bdi')).direction") == "ltr"

    # A key (the double answers the check).
    page.goto("/keys/")
    _right_to_left(page, "4-keys")
    add = page.locator("#add-key form")
    add.locator("select[name=provider]").select_option("openai")
    add.locator("input[name=label]").fill("Team OpenAI key")
    add.locator("input[name=api_key]").fill(fake_key("openai"))
    add.locator("button[type=submit]").click()
    expect(page.locator("section.card[id^=key-]")).to_have_count(1)
    hint = page.locator("section.card[id^=key-] .mono bdi")
    expect(hint).to_contain_text("…")

    # A persona; typed text takes its own direction (an English name reads left to right).
    page.goto("/personas/new/")
    _right_to_left(page, "5-persona-new")
    page.locator("input[name=name]").fill("Budget Ben")
    expect(page.locator("#prompt-preview .prompt-text")).to_contain_text("Budget Ben")
    assert page.evaluate("getComputedStyle(document.querySelector('#id_name')).unicodeBidi") == "plaintext"
    page.locator("form.persona-form button[type=submit]").click()
    persona = Persona.objects.get()
    expect(page).to_have_url(re.compile(rf"/personas/{persona.code}/$"))
    _right_to_left(page, "6-persona")

    # Generate two avatars; the progress bar moves along the right-hand side.
    page.goto(f"/generate/?persona={persona.code}")
    _right_to_left(page, "7-generate")
    # The model's options come back from the server (htmx, replacing #generate-options): choose the quality
    # and the count once they are in.
    options = page.locator("#generate-options").element_handle()
    page.locator("select[name=model]").select_option("gpt-image-2")
    options.wait_for_element_state("hidden")  # detached: the new options are in
    page.locator("select[name=quality]").select_option("low")
    page.locator("select[name=n]").select_option("2")
    expect(page.locator("select[name=n]")).to_have_value("2")
    expect(page.locator("#quote strong")).to_contain_text("$")
    page.locator("form.generate-form button[type=submit]").last.click()
    expect(page).to_have_url(re.compile(r"/generations/[0-9a-f-]{36}/$"))
    bar = page.locator(".progress-bar")
    expect(bar).to_be_visible()
    margins = bar.evaluate("el => [getComputedStyle(el).marginLeft, getComputedStyle(el).marginRight]")
    assert margins[0] == "0px" and margins[1] != "0px", margins  # margin-inline-start is the right one
    _right_to_left(page, "8-generating")
    expect(page.locator("[data-status]")).to_have_attribute("data-status", "succeeded", timeout=30_000)
    _right_to_left(page, "9-generated")

    # The gallery's viewer: Next on the left of Previous, its arrow turned round, the left arrow key moves on.
    page.goto("/gallery/")
    _right_to_left(page, "10-gallery")
    thumbs = page.locator("a.thumb-link")
    expect(thumbs).to_have_count(2)
    first, second = (thumbs.nth(i).get_attribute("data-full") for i in range(2))
    assert _box(page, "li.thumb:nth-child(2)")["x"] < _box(page, "li.thumb:nth-child(1)")["x"]
    thumbs.nth(0).click()
    viewer = page.locator("dialog#viewer")
    expect(viewer).to_be_visible()
    picture = viewer.locator("[data-viewer-image]")
    expect(picture).to_have_attribute("src", first)
    previous, following = _box(page, "[data-viewer-previous]"), _box(page, "[data-viewer-next]")
    assert following["x"] + following["width"] <= previous["x"], (following, previous)
    flipped = page.evaluate(
        "getComputedStyle(document.querySelector('[data-viewer-next] .dir-icon')).transform"
    )
    assert flipped.startswith("matrix(-1"), flipped
    _right_to_left(page, "11-viewer")
    page.keyboard.press("ArrowLeft")
    expect(picture).to_have_attribute("src", second)
    page.keyboard.press("ArrowRight")
    expect(picture).to_have_attribute("src", first)
    page.keyboard.press("Escape")
    expect(viewer).to_be_hidden()

    # Usage: the chart runs from the right, the newest month on the left.
    page.goto("/usage/")
    _right_to_left(page, "12-usage")
    bars = page.locator("svg.chart rect.chart-bar")
    expect(bars).to_have_count(12)
    oldest, newest = bars.first.bounding_box(), bars.last.bounding_box()
    assert newest["x"] < oldest["x"], (newest, oldest)
    months = page.locator(".chart-months span")
    assert months.last.bounding_box()["x"] < months.first.bounding_box()["x"]
    # Each month's label stands under its own bar.
    label = months.last.bounding_box()
    assert abs((label["x"] + label["width"] / 2) - (newest["x"] + newest["width"] / 2)) < label["width"] / 2
    ticks, chart = _box(page, ".chart-ticks"), _box(page, "svg.chart")
    assert ticks["x"] >= chart["x"] + chart["width"], (ticks, chart)  # the amounts on the right
    # The amounts in the table line up at the end (the left), read left to right.
    cost = page.get_by_test_id("cost").first
    assert cost.evaluate("el => getComputedStyle(el).textAlign") in {"end", "left"}
    assert cost.locator(".amount").evaluate("el => getComputedStyle(el).direction") == "ltr"

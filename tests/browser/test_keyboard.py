"""In real Chromium: the skip link, Escape on the account menu, focus on a form's errors (issue 17)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.support.accounts import PASSWORD
from tests.support.contrast import contrast

pytestmark = pytest.mark.django_db(transaction=True)

RGB = re.compile(r"rgba?\((\d+), (\d+), (\d+)")


def _hex(css_colour: str) -> str:
    found = RGB.match(css_colour)
    assert found, css_colour
    return "#" + "".join(f"{int(c):02x}" for c in found.groups())


def test_the_skip_link_is_the_first_tab_stop_and_leads_to_the_page(page, db):
    page.goto("/")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to main content")
    expect(skip).to_be_focused()
    box = skip.bounding_box()
    assert box and box["y"] >= 0  # shown once focused
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"#main$"))
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('main') !== null")


def test_sign_up_free_is_readable_as_rendered(page, db):
    page.goto("/")
    button = page.get_by_role("link", name="Sign up free")
    colour, background = button.evaluate(
        "el => [getComputedStyle(el).color, getComputedStyle(el).backgroundColor]"
    )
    assert contrast(_hex(colour), _hex(background)) >= 4.5


def test_escape_closes_the_account_menu(page, alice):
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill("alice@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in", exact=True).click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

    summary = page.locator(".user-menu summary")
    log_out = page.get_by_role("button", name="Log out")
    summary.focus()
    page.keyboard.press("Enter")
    expect(log_out).to_be_visible()
    page.keyboard.press("Tab")  # into the menu
    page.keyboard.press("Escape")
    expect(log_out).to_be_hidden()
    expect(summary).to_be_focused()

    summary.click()
    expect(log_out).to_be_visible()
    page.get_by_role("heading", name="Dashboard").click()  # a click outside closes it too
    expect(log_out).to_be_hidden()


def test_a_form_error_moves_focus_to_the_error_summary(page, alice):
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill("alice@example.com")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in", exact=True).click()
    expect(page.get_by_test_id("error-summary")).to_be_focused()

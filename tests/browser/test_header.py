"""In real Chromium at phone width: a compact header with a menu button that never covers the page (issue 17)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.support.accounts import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 390, "height": 844}
SIGNED_IN_LINKS = ["Dashboard", "Personas", "Generate", "Gallery", "Usage", "API keys"]

# For the focused element: where it is, and whether the header is drawn over its top edge.
FOCUS_GEOMETRY = """() => {
  const el = document.activeElement;
  const header = document.querySelector('.site-header');
  const rect = el.getBoundingClientRect();
  const x = Math.min(Math.max(rect.left + rect.width / 2, 0), innerWidth - 1);
  const onTop = document.elementFromPoint(x, Math.max(rect.top + 1, 0));
  return {
    tag: el.tagName + ' ' + (el.textContent || el.name || '').trim().slice(0, 40),
    inHeader: header.contains(el), inBody: el !== document.body,
    top: rect.top, headerBottom: header.getBoundingClientRect().bottom,
    covered: rect.top < 0 || (onTop !== null && header.contains(onTop)),
  };
}"""


def _log_in(page) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill("alice@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in", exact=True).click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def _no_horizontal_scrolling(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def _tab_through(page, presses: int = 60) -> int:
    """Tab through the page and back; no focused element outside the header may sit under the header.

    Backwards is the hard direction: the browser scrolls the element to the top of the viewport."""
    seen = 0
    for key in ["Tab"] * presses + ["Shift+Tab"] * presses:
        page.keyboard.press(key)
        spot = page.evaluate(FOCUS_GEOMETRY)
        if not spot["inBody"] or spot["inHeader"]:
            continue
        seen += 1
        assert not spot["covered"], f"{spot['tag']} is under the header: {spot}"
    return seen


def test_the_phone_header_is_compact_and_its_menu_button_opens_the_nav(page, alice):
    page.set_viewport_size(PHONE)
    _log_in(page)
    header = page.locator(".site-header")
    box = header.bounding_box()
    assert box and box["height"] <= 80, box
    _no_horizontal_scrolling(page)

    button = page.get_by_role("button", name="Menu")
    nav = page.get_by_role("navigation", name="Main")
    expect(button).to_have_attribute("aria-expanded", "false")
    expect(button).to_have_attribute("aria-controls", "site-menu")
    expect(nav).to_be_hidden()

    button.click()
    expect(button).to_have_attribute("aria-expanded", "true")
    for name in SIGNED_IN_LINKS:
        link = nav.get_by_role("link", name=name, exact=True)
        expect(link).to_be_visible()
        expect(link).to_be_in_viewport()
    _no_horizontal_scrolling(page)
    # The links are in the tab order right after the button; Escape closes the menu and returns focus.
    page.keyboard.press("Tab")
    expect(nav.get_by_role("link", name="Dashboard")).to_be_focused()
    page.keyboard.press("Escape")
    expect(button).to_have_attribute("aria-expanded", "false")
    expect(button).to_be_focused()
    expect(nav).to_be_hidden()

    # The account menu inside still works: one Escape closes it, the next the header's menu.
    button.click()
    page.locator(".user-menu summary").click()
    log_out = page.get_by_role("button", name="Log out")
    expect(log_out).to_be_in_viewport()
    page.keyboard.press("Escape")
    expect(log_out).to_be_hidden()
    expect(nav).to_be_visible()
    page.keyboard.press("Escape")
    expect(nav).to_be_hidden()

    button.click()
    nav.get_by_role("link", name="Personas").click()
    expect(page).to_have_url(f"{page.url.split('/personas')[0].rstrip('/')}/personas/")


@pytest.mark.parametrize("path", ["/", "/generate/", "/personas/new/", "/keys/"])
def test_tabbing_never_hides_the_focused_element_under_the_header(page, alice, path):
    page.set_viewport_size(PHONE)
    _log_in(page)
    page.goto(path)
    _no_horizontal_scrolling(page)
    assert _tab_through(page) > 3


def test_signed_out_pages_on_a_phone(page, db):
    page.set_viewport_size(PHONE)
    for path in ("/", "/accounts/login/", "/accounts/signup/"):
        page.goto(path)
        box = page.locator(".site-header").bounding_box()
        assert box and box["height"] <= 80, (path, box)
        _no_horizontal_scrolling(page)
        _tab_through(page, presses=25)
    page.get_by_role("button", name="Menu").click()
    nav = page.get_by_role("navigation", name="Account")
    expect(nav.get_by_role("link", name="Log in")).to_be_visible()
    expect(nav.get_by_role("link", name="Sign up free")).to_be_visible()


def test_without_javascript_the_links_show_below_a_header_that_scrolls_away(browser, live_server, alice):
    context = browser.new_context(base_url=live_server.url, viewport=PHONE, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto("/")
        expect(page.get_by_role("button", name="Menu")).to_be_hidden()
        nav = page.get_by_role("navigation", name="Account")
        expect(nav.get_by_role("link", name="Log in")).to_be_visible()
        expect(nav.get_by_role("link", name="Sign up free")).to_be_visible()
        assert page.locator(".site-header").evaluate("el => getComputedStyle(el).position") == "static"
        _no_horizontal_scrolling(page)
    finally:
        context.close()


@pytest.mark.parametrize("viewport", [PHONE, {"width": 1280, "height": 900}], ids=["phone", "desktop"])
def test_page_headings_keep_clear_of_the_sticky_header(page, alice, viewport):
    page.set_viewport_size(viewport)
    _log_in(page)
    for url in ("/", "/personas/", "/usage/", "/accounts/login/"):
        if url == "/accounts/login/":
            page.context.clear_cookies()
        page.goto(url)
        gap = page.evaluate(
            """() => document.querySelector('main h1').getBoundingClientRect().top
                     - document.querySelector('.site-header').getBoundingClientRect().bottom"""
        )
        assert gap >= 16, f"{url}: the heading is {gap}px below the header"

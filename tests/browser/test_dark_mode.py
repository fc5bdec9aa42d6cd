"""In real Chromium: the page follows the system's colour scheme; the header's switch overrides it (issue 17)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.support.contrast import contrast

pytestmark = pytest.mark.django_db(transaction=True)

RGB = re.compile(r"rgba?\((\d+), (\d+), (\d+)")


def _background(page) -> str:
    css = page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
    found = RGB.match(css)
    assert found, css
    return "#" + "".join(f"{int(c):02x}" for c in found.groups())


def _is_dark(page) -> bool:
    return contrast(_background(page), "#000000") < 3


def test_the_page_follows_the_system_and_the_switch_overrides_it(page, db):
    page.emulate_media(color_scheme="dark")
    page.goto("/")
    assert _is_dark(page)
    switch = page.get_by_label("Colour scheme")
    expect(switch).to_have_value("system")

    switch.select_option("light")
    assert not _is_dark(page)
    page.reload()
    assert not _is_dark(page)  # remembered, before the first paint (head.js)
    expect(page.get_by_label("Colour scheme")).to_have_value("light")
    assert page.evaluate("document.documentElement.dataset.theme") == "light"

    page.emulate_media(color_scheme="light")
    page.get_by_label("Colour scheme").select_option("dark")
    assert _is_dark(page)
    page.goto("/accounts/login/")
    assert _is_dark(page)

    page.get_by_label("Colour scheme").select_option("system")
    assert not _is_dark(page)
    page.reload()
    assert not _is_dark(page)
    page.emulate_media(color_scheme="dark")
    assert _is_dark(page)


def test_light_system_gives_a_light_page(page, db):
    page.emulate_media(color_scheme="light")
    page.goto("/")
    assert _background(page) == "#f6f7fb"

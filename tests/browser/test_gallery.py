"""In real Chromium: the gallery's viewer dialog (open, arrow keys, Escape, focus back) and its filters."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.support.accounts import PASSWORD, workspace_of
from tests.support.factories import make_generation, make_image, make_persona

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("media_root")]


def test_a_thumbnail_opens_the_viewer_arrows_move_and_escape_returns_focus(page, alice):
    workspace = workspace_of(alice)
    generation = make_generation(workspace, alice, persona=make_persona(workspace, alice), n=3)
    oldest, middle, newest = (make_image(generation, i) for i in range(3))

    page.goto("/accounts/login/")
    page.get_by_label("Email").fill("alice@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in", exact=True).click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    page.goto("/gallery/")

    thumbs = page.locator("a.thumb-link")
    expect(thumbs).to_have_count(3)
    thumbs.nth(0).click()
    viewer = page.get_by_role("dialog", name="Avatar for Budget Ben")
    expect(viewer).to_be_visible()
    picture = viewer.get_by_role("img", name="Avatar for Budget Ben")
    expect(picture).to_have_attribute("src", f"/images/{newest.code}/")
    expect(viewer.get_by_text("1 of 3")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/gallery/$"))  # the dialog, not the image's page

    page.keyboard.press("ArrowRight")
    expect(picture).to_have_attribute("src", f"/images/{middle.code}/")
    expect(viewer.get_by_text("2 of 3")).to_be_visible()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")  # past the last: stays on it
    expect(picture).to_have_attribute("src", f"/images/{oldest.code}/")
    page.keyboard.press("ArrowLeft")
    expect(picture).to_have_attribute("src", f"/images/{middle.code}/")
    expect(viewer.get_by_role("link", name="Details, favourite and delete")).to_have_attribute(
        "href", f"/gallery/{middle.code}/"
    )

    page.keyboard.press("Escape")
    expect(viewer).to_be_hidden()
    expect(thumbs.nth(1)).to_be_focused()  # the thumbnail of the avatar last shown

    # The filters apply as they are chosen.
    page.get_by_label("Favourites only").check()
    expect(page).to_have_url(re.compile(r"/gallery/\?.*favourites=1"))
    expect(page.get_by_role("heading", name="No avatars match these filters")).to_be_visible()

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from generation.models import Persona
from tests.support.accounts import PASSWORD, workspace_of
from tests.support.factories import make_persona

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_user_creates_a_persona_watches_the_prompt_and_opens_the_gallery(page, alice):
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill("alice@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in", exact=True).click()

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Personas").click()
    expect(page.get_by_role("heading", name="No personas yet")).to_be_visible()
    page.get_by_role("link", name="New persona").click()

    preview = page.locator("#prompt-preview")
    expect(preview).to_contain_text("Give the persona a name")
    page.get_by_label("Name").fill("Budget Ben")
    expect(preview).to_contain_text("for a user persona named Budget Ben")
    page.get_by_label("Role or occupation").fill("lighthouse keeper")
    page.get_by_label("Art style").select_option(label="Watercolor")
    expect(preview).to_contain_text("A watercolor portrait painting")
    expect(preview).to_contain_text("who works as lighthouse keeper")

    page.get_by_role("button", name="Create persona").click()
    persona = Persona.objects.get()
    expect(page).to_have_url(re.compile(rf"/personas/{persona.code}/$"))
    expect(page.get_by_text("Persona “Budget Ben” created.")).to_be_visible()
    expect(page.get_by_role("link", name="Generate avatars")).to_have_attribute(
        "href", f"/generate/?persona={persona.code}"
    )

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Gallery").click()
    expect(page.get_by_role("heading", name="No avatars yet")).to_be_visible()
    expect(page.get_by_role("link", name="Generate your first avatars")).to_be_visible()


def test_typing_a_name_already_used_warns_beside_the_field_and_still_saves(page, alice):
    make_persona(workspace_of(alice), alice, name="Budget Ben")
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill("alice@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in", exact=True).click()
    page.goto("/personas/new/")

    hint = page.locator("#name-hint")
    page.get_by_label("Name").fill("budget ben")
    expect(hint).to_contain_text("Another persona in this workspace is already called “budget ben”")
    page.get_by_label("Name").fill("Careful Cora")
    expect(page.locator("#prompt-preview")).to_contain_text("Careful Cora")
    expect(hint).to_be_empty()
    page.get_by_label("Name").fill("Budget Ben")
    expect(hint).to_contain_text("already called")
    page.get_by_role("button", name="Create persona").click()
    expect(page.get_by_text("Persona “Budget Ben” created.")).to_be_visible()
    assert Persona.objects.filter(name="Budget Ben").count() == 2

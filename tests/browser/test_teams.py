"""In real Chromium: an owner invites a colleague, who signs up from the emailed link (no code: the link
proves the address), works in the owner's workspace without key actions, and is removed (issue 16)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from accounts.models import Membership, User
from tests.support import mailbox
from tests.support.accounts import PASSWORD, workspace_of
from tests.support.factories import make_persona
from tests.support.keys import make_key

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_invited_colleague_signs_up_from_the_link_and_is_removed(page, browser, live_server, alice):
    make_key(alice, "fal", label="Studio fal key")
    persona = make_persona(workspace_of(alice), alice, name="Harbour Pilot")

    # The owner invites a colleague from the members page.
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill("alice@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in", exact=True).click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    page.locator(".user-menu summary").click()
    page.get_by_role("link", name="Members and invitations").click()
    page.get_by_label("Email address").fill("nadia@example.com")
    page.get_by_label("Role").select_option("member")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_text("Invitation sent to nadia@example.com.")).to_be_visible()
    expect(page.get_by_test_id("invitation-nadia@example.com")).to_be_visible()

    # The colleague opens the emailed link in their own browser and signs up with no code step.
    link = mailbox.link_in(mailbox.to("nadia@example.com")[-1])
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(15_000)
    colleague = context.new_page()
    colleague.goto(link)
    expect(colleague.get_by_text("You are invited to join")).to_be_visible()
    colleague.get_by_role("link", name="Create an account").click()
    expect(colleague.get_by_label("Email")).to_have_value("nadia@example.com")
    colleague.get_by_label("Password", exact=True).fill("a long passphrase 42")
    colleague.get_by_label("Confirm password").fill("a long passphrase 42")
    colleague.get_by_role("button", name="Sign up").click()
    expect(colleague).to_have_url(re.compile(r"/$"))
    expect(colleague.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(colleague.locator(".workspace-name")).to_have_text("Alice's workspace")
    nadia = User.objects.get(email="nadia@example.com")
    assert Membership.objects.get(user=nadia, workspace=workspace_of(alice)).role == "member"

    # A member sees the workspace's keys, but no action on them.
    colleague.goto("/keys/")
    expect(colleague.get_by_text("Studio fal key")).to_be_visible()
    expect(colleague.get_by_role("link", name="Add a key")).to_have_count(0)
    expect(colleague.get_by_role("link", name="Replace")).to_have_count(0)
    expect(colleague.get_by_role("link", name="Delete")).to_have_count(0)
    colleague.goto(f"/personas/{persona.code}/")
    expect(colleague.get_by_role("heading", name="Harbour Pilot")).to_be_visible()

    # The owner removes them; their next request no longer reaches the workspace.
    page.goto("/workspace/members/")
    page.get_by_role("button", name="Remove nadia@example.com").click()
    expect(page.get_by_text("Removed nadia@example.com from this workspace.")).to_be_visible()
    response = colleague.goto(f"/personas/{persona.code}/")
    assert response is not None and response.status == 404
    colleague.goto("/")
    expect(colleague.locator(".workspace-name")).to_have_text("nadia's workspace")
    context.close()

"""In real Chromium: an owner invites a colleague, who signs up from the emailed link (no code: the link
proves the address), generates an avatar with the workspace's shared key without key actions, shows up
under their own name in the owner's usage, and is removed: their next request is refused (issue 16)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from accounts.models import Membership, User
from generation.models import Generation
from tests.support import mailbox
from tests.support.accounts import PASSWORD, workspace_of
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


def test_an_invited_colleague_signs_up_generates_with_the_shared_key_and_is_removed(
    page, browser, live_server, alice, worker
):
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

    # ... yet generates with the shared key: the avatar is the workspace's, charged to that key.
    colleague.goto(f"/generate/?persona={persona.code}")
    colleague.get_by_label("Model").select_option(label="Flux 2 Max — fal.ai")
    colleague.get_by_role("button", name="Generate").click()
    expect(colleague).to_have_url(re.compile(r"/generations/[0-9a-f-]{36}/$"))
    code = colleague.url.rstrip("/").rsplit("/", 1)[-1]
    expect(colleague.locator("[data-status]")).to_have_attribute("data-status", "succeeded", timeout=30_000)
    expect(colleague.get_by_role("img", name=re.compile("Avatar 1 for Harbour Pilot"))).to_be_visible()

    # The owner sees that request in usage, under the colleague's name and the shared key.
    page.goto("/usage/")
    row = page.get_by_test_id("usage-records").locator(f'tr[data-generation="{code}"]')
    expect(row.locator('td[data-label="Member"]')).to_have_text("nadia@example.com")
    expect(row.get_by_test_id("key")).to_contain_text("Studio fal key")
    expect(row).to_contain_text("Harbour Pilot")

    # The colleague fills in another request; meanwhile the owner removes them.
    colleague.goto(f"/generate/?persona={persona.code}")
    colleague.get_by_label("Model").select_option(label="Flux 2 Max — fal.ai")
    page.goto("/workspace/members/")
    page.get_by_role("button", name="Remove nadia@example.com").click()
    expect(page.get_by_text("Removed nadia@example.com from this workspace.")).to_be_visible()

    # Their next request is refused and starts nothing on the workspace's key.
    colleague.get_by_role("button", name="Generate").click()
    # The request now lands in their own workspace, which has no key: nothing is generated.
    expect(colleague.get_by_text("Add a provider key first")).to_be_visible()
    expect(colleague).to_have_url(re.compile(r"/generate/$"))
    assert Generation.objects.filter(workspace=workspace_of(alice)).count() == 1
    response = colleague.goto(f"/personas/{persona.code}/")
    assert response is not None and response.status == 404
    colleague.goto("/")
    expect(colleague.locator(".workspace-name")).to_have_text("nadia's workspace")
    context.close()

"""The owner can require two-factor sign-in for the workspace (issue 16, D33).

alice owns her workspace, bob is a member of it, charlie owns another. When it is required, a member
without an authenticator app or passkey is sent to /accounts/2fa/ from every workspace page; only the
owner may change it (POST), and only once they have two-factor themselves; every change is in the log.
"""

from __future__ import annotations

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal import auth as totp_auth
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEntry, Membership, User, Workspace
from tests.support.accounts import client_for, workspace_of
from tests.support.factories import make_generation

pytestmark = pytest.mark.django_db

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
TOGGLE = "/workspace/members/two-factor/"
PAGES = ["/personas/", "/generate/", "/gallery/", "/usage/", "/workspace/members/"]


def give_totp(user: User) -> User:
    totp_auth.TOTP.activate(user, SECRET)
    RecoveryCodes.activate(user)
    return user


def require(workspace: Workspace, required: bool = True) -> None:
    workspace.require_two_factor = required
    workspace.save(update_fields=["require_two_factor"])


def state() -> list[object]:
    return [
        list(Workspace.objects.order_by("pk").values()),
        list(AuditEntry.objects.order_by("pk").values()),
    ]


def turn_on(client: Client):
    return client.post(TOGGLE, {"required": "on"})


def message_texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


# Enforcement


@pytest.mark.parametrize("page", PAGES)
def test_a_member_without_two_factor_is_sent_to_set_it_up(alice, bob, page):
    require(workspace_of(alice))
    response = client_for(bob).get(page)
    assert response.status_code == 302
    assert response.url == reverse("mfa_index") == "/accounts/2fa/"
    assert any("requires two-factor sign-in" in text for text in message_texts(response))


def test_the_two_factor_page_itself_opens_so_there_is_no_loop(alice, bob):
    require(workspace_of(alice))
    response = client_for(bob).get("/accounts/2fa/", follow=True)
    assert response.status_code == 200
    assert response.redirect_chain == []


def test_the_redirect_carries_a_message_shown_on_the_two_factor_page(alice, bob):
    require(workspace_of(alice))
    response = client_for(bob).get("/personas/", follow=True)
    assert response.redirect_chain == [("/accounts/2fa/", 302)]
    assert "requires two-factor sign-in" in response.content.decode()


@pytest.mark.parametrize("page", ["/personas/", "/generate/"])
def test_a_member_with_an_authenticator_app_passes(alice, bob, page):
    require(workspace_of(alice))
    give_totp(bob)
    assert client_for(bob).get(page).status_code == 200


def test_recovery_codes_alone_are_not_two_factor(alice, bob):
    require(workspace_of(alice))
    give_totp(bob)
    # Only the recovery codes left (allauth normally deletes them with the last authenticator).
    Authenticator.objects.filter(user=bob).exclude(type=Authenticator.Type.RECOVERY_CODES).delete()
    assert client_for(bob).get("/personas/").status_code == 302


@pytest.mark.parametrize("page", ["/personas/", "/generate/"])
def test_not_required_everyone_passes(alice, bob, page):
    assert workspace_of(alice).require_two_factor is False
    assert client_for(bob).get(page).status_code == 200


def test_htmx_requests_get_a_client_redirect(alice, bob):
    generation = make_generation(workspace_of(alice), alice)
    require(workspace_of(alice))
    page = f"/generations/{generation.code}/"
    response = client_for(bob).get(
        f"{page}status/", HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL=f"http://testserver{page}"
    )
    assert response["HX-Redirect"] == "/accounts/2fa/"


def test_it_applies_to_the_required_workspace_only(alice, bob, charlie):
    """charlie's workspace does not require it: charlie passes; alice's requirement is alice's."""
    require(workspace_of(alice))
    assert client_for(charlie).get("/personas/").status_code == 200


def test_a_member_of_both_is_stopped_only_in_the_requiring_workspace(alice, charlie):
    Membership.objects.create(user=charlie, workspace=workspace_of(alice), role=Membership.Role.MEMBER)
    require(workspace_of(alice))
    client = client_for(charlie)
    assert client.get("/personas/").status_code == 200  # his own workspace is current
    client.post("/workspace/switch/", {"workspace": str(workspace_of(alice).code)})
    assert client.get("/personas/").status_code == 302


def test_admin_pages_are_enforced_too(alice, bob):
    Membership.objects.filter(user=bob).update(role=Membership.Role.ADMIN)
    require(workspace_of(alice))
    response = client_for(bob).get("/workspace/log/")
    assert response.status_code == 302 and response.url == "/accounts/2fa/"


# The toggle


def test_the_owner_with_two_factor_turns_it_on_and_off(alice):
    give_totp(alice)
    client = client_for(alice)
    response = turn_on(client)
    assert response.status_code == 302 and response.url == "/workspace/members/"
    assert Workspace.objects.get(pk=workspace_of(alice).pk).require_two_factor is True
    entry = AuditEntry.objects.filter(action=AuditEntry.Action.TWO_FACTOR_CHANGED).get()
    assert entry.actor == alice and entry.subject == "required"
    assert entry.workspace == workspace_of(alice)

    assert client.get("/workspace/members/").status_code == 200  # the owner still gets in
    response = client.post(TOGGLE)
    assert response.status_code == 302
    assert Workspace.objects.get(pk=workspace_of(alice).pk).require_two_factor is False
    entries = AuditEntry.objects.filter(action=AuditEntry.Action.TWO_FACTOR_CHANGED).order_by("pk")
    assert [e.subject for e in entries] == ["required", "no longer required"]
    log = client.get("/workspace/log/").content.decode()
    assert "Two-factor requirement changed" in log


def test_posting_the_current_value_again_writes_nothing(alice):
    give_totp(alice)
    client = client_for(alice)
    turn_on(client)
    before = state()
    turn_on(client)
    assert state() == before


def test_the_owner_without_two_factor_cannot_turn_it_on(alice):
    client = client_for(alice)
    before = state()
    response = turn_on(client)
    assert response.status_code == 302
    assert state() == before
    assert any("Turn on two-factor sign-in for your own account first" in t for t in message_texts(response))
    page = client.get("/workspace/members/").content.decode()
    assert "Turn on two-factor sign-in for your own account first" in page


@pytest.mark.parametrize("role", [Membership.Role.ADMIN, Membership.Role.MEMBER])
def test_admins_and_members_cannot_toggle(alice, bob, role):
    Membership.objects.filter(user=bob).update(role=role)
    give_totp(bob)
    client = client_for(bob)
    before = state()
    assert turn_on(client).status_code == 403
    assert state() == before
    require(workspace_of(alice))
    before = state()
    assert client.post(TOGGLE).status_code == 403
    assert state() == before


def test_charlie_toggles_only_his_own_workspace(alice, charlie):
    """The URL has no id: it acts on the current workspace, never on alice's."""
    give_totp(charlie)
    turn_on(client_for(charlie))
    assert workspace_of(charlie).require_two_factor is True
    assert workspace_of(alice).require_two_factor is False
    assert not AuditEntry.objects.filter(workspace=workspace_of(alice), action="two_factor_changed").exists()


def test_the_toggle_answers_post_only(alice):
    give_totp(alice)
    client = client_for(alice)
    before = state()
    assert client.get(TOGGLE).status_code == 405
    assert state() == before


def test_the_toggle_needs_the_csrf_token(alice):
    give_totp(alice)
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice, backend="allauth.account.auth_backends.AuthenticationBackend")
    before = state()
    assert client.post(TOGGLE, {"required": "on"}).status_code == 403
    assert state() == before


def test_the_members_page_shows_the_control_to_the_owner_only(alice, bob):
    owner_page = client_for(alice).get("/workspace/members/").content.decode()
    assert 'action="/workspace/members/two-factor/"' in owner_page
    member_page = client_for(bob).get("/workspace/members/").content.decode()
    assert 'action="/workspace/members/two-factor/"' not in member_page
    assert "Two-factor sign-in" in member_page

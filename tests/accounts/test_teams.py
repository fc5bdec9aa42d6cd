"""Teams (issue 16, D33): roles checked on the server, invitations, members, several workspaces, the log.

alice owns her workspace, bob is a member of it, charlie owns another. Every refused action is checked
to change nothing (`state()` before and after).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.test import Client
from django.utils import timezone

from accounts.models import AuditEntry, Invitation, Membership, User
from accounts.services import create_account
from generation.models import CostRecord
from tests.support import clock, mailbox
from tests.support.accounts import PASSWORD, client_for, workspace_of
from tests.support.factories import make_generation, make_persona
from tests.support.keys import make_key

pytestmark = pytest.mark.django_db


def state() -> list[object]:
    """Everything the team pages could change."""
    return [
        list(Membership.objects.order_by("pk").values()),
        list(Invitation.objects.order_by("pk").values()),
        list(AuditEntry.objects.order_by("pk").values()),
        User.objects.count(),
    ]


def invite(client: Client, email: str, role: str = "member"):
    return client.post("/workspace/members/invite/", {"email": email, "role": role})


def sent_link(email: str) -> str:
    return mailbox.link_in(mailbox.to(email)[-1])


def make_admin(user: User, of: User) -> Membership:
    membership = Membership.objects.get(user=user, workspace=workspace_of(of))
    membership.role = Membership.Role.ADMIN
    membership.save()
    return membership


# Roles


def test_a_member_posting_admin_forms_gets_403_and_nothing_changes(alice, bob, bob_client):
    invitation_response = invite(client_for(alice), "dave@example.com")
    assert invitation_response.status_code == 302
    invitation = Invitation.objects.get()
    alice_membership = Membership.objects.get(user=alice)
    before = state()
    for url, data in [
        ("/workspace/members/invite/", {"email": "eve@example.com", "role": "admin"}),
        (f"/workspace/invitations/{invitation.code}/revoke/", {}),
        (f"/workspace/invitations/{invitation.code}/resend/", {}),
        (f"/workspace/members/{alice_membership.code}/role/", {"role": "member"}),
        (f"/workspace/members/{alice_membership.code}/remove/", {}),
        (f"/workspace/members/{alice_membership.code}/transfer/", {}),
        ("/workspace/", {"monthly_cap_usd": "1.00"}),
    ]:
        assert bob_client.post(url, data).status_code == 403, url
    assert bob_client.get("/workspace/log/").status_code == 403
    assert state() == before
    assert len(mailbox.to("eve@example.com")) == 0


def test_pages_show_members_no_admin_actions(alice, bob, bob_client, double):
    make_key(alice, "openai")
    keys = bob_client.get("/keys/").content.decode()
    assert "Re-test" not in keys and "/replace/" not in keys and "/delete/" not in keys
    members = bob_client.get("/workspace/members/").content.decode()
    assert "alice@example.com" in members
    assert "Send invitation" not in members and "/remove/" not in members and "Audit log" not in members
    assert "Leave this workspace" in members


def test_an_admin_manages_keys_members_and_invitations_but_not_the_owner(alice, bob, bob_client, double):
    make_admin(bob, alice)
    keys = bob_client.get("/keys/").content.decode()
    assert 'action="/keys/add/"' in keys
    assert invite(bob_client, "dave@example.com", "admin").status_code == 302
    owner = Membership.objects.get(user=alice)
    before = state()
    for action in ("remove", "role"):
        assert (
            bob_client.post(f"/workspace/members/{owner.code}/{action}/", {"role": "member"}).status_code
            == 302
        )
    # The owner's membership is not the admins' to change; transferring it is the owner's alone.
    assert bob_client.post(f"/workspace/members/{owner.code}/transfer/").status_code == 403
    assert state() == before
    assert Membership.objects.get(user=alice).role == "owner"


def test_the_owner_changes_roles_and_transfers_ownership(alice, bob, alice_client):
    bob_membership = Membership.objects.get(user=bob)
    alice_client.post(f"/workspace/members/{bob_membership.code}/role/", {"role": "admin"})
    assert Membership.objects.get(user=bob).role == "admin"
    alice_client.post(
        f"/workspace/members/{bob_membership.code}/role/", {"role": "owner"}
    )  # not by role change
    assert Membership.objects.get(user=bob).role == "admin"
    alice_client.post(f"/workspace/members/{bob_membership.code}/transfer/")
    assert Membership.objects.get(user=bob).role == "owner"
    assert Membership.objects.get(user=alice, workspace=workspace_of(alice)).role == "admin"
    actions = list(AuditEntry.objects.order_by("pk").values_list("action", flat=True))
    assert actions == ["role_changed", "ownership_transferred"]


# Removing and leaving


def test_removing_a_member_keeps_the_user_and_their_records_and_ends_their_access(alice, bob, alice_client):
    workspace = workspace_of(alice)
    persona = make_persona(workspace, bob)
    generation = make_generation(workspace, bob, persona=persona)
    cost = CostRecord.objects.create(
        workspace=workspace,
        created_by=bob,
        generation=generation,
        provider="openai",
        model=generation.model,
        usage={},
        price_version="test",
        amount_nanousd=1000,
        images=1,
    )
    bob_client = client_for(bob)
    assert bob_client.get(f"/personas/{persona.code}/").status_code == 200
    response = alice_client.post(f"/workspace/members/{Membership.objects.get(user=bob).code}/remove/")
    assert response.status_code == 302
    assert User.objects.filter(pk=bob.pk).exists()
    cost.refresh_from_db()
    generation.refresh_from_db()
    assert cost.created_by == bob and generation.created_by == bob
    # Bob's very next request: no workspace of alice's (bob has none of his own: refused).
    assert bob_client.get(f"/personas/{persona.code}/").status_code in (403, 404)
    assert bob_client.get("/personas/").status_code == 403
    assert AuditEntry.objects.get().action == "member_removed"


def test_a_removed_member_with_a_workspace_of_their_own_lands_in_it(alice, alice_client, charlie):
    Membership.objects.create(user=charlie, workspace=workspace_of(alice), role="member")
    persona = make_persona(workspace_of(alice), alice)
    charlie_client = client_for(charlie)
    charlie_client.post("/workspace/switch/", {"workspace": str(workspace_of(alice).code)})
    assert charlie_client.get(f"/personas/{persona.code}/").status_code == 200
    alice_client.post(
        f"/workspace/members/{Membership.objects.get(user=charlie, workspace=workspace_of(alice)).code}/remove/"
    )
    assert charlie_client.get(f"/personas/{persona.code}/").status_code == 404
    assert "Charlie&#x27;s workspace" in charlie_client.get("/").content.decode()


def test_a_member_can_leave_and_the_owner_cannot(alice, bob, alice_client, bob_client):
    assert alice_client.post("/workspace/leave/").status_code == 302
    assert Membership.objects.filter(user=alice).count() == 1
    assert bob_client.post("/workspace/leave/").status_code == 302
    assert not Membership.objects.filter(user=bob).exists()
    assert AuditEntry.objects.get().action == "member_left"


# Invitations


def test_an_invitation_stores_only_the_tokens_hash_and_mails_the_link(alice, alice_client):
    assert invite(alice_client, "Dave@Example.com", "admin").status_code == 302
    invitation = Invitation.objects.get()
    link = sent_link("Dave@Example.com")
    token = re.fullmatch(r"/invitations/([^/]+)/", link).group(1)
    assert invitation.token_hash == hashlib.sha256(token.encode()).hexdigest()
    stored = str(list(Invitation.objects.values()))
    assert token not in stored
    assert (invitation.email, invitation.email_key, invitation.role) == (
        "Dave@Example.com",
        "dave@example.com",
        "admin",
    )
    assert invitation.expires_at == invitation.created_at + dt.timedelta(days=7) or (
        abs(invitation.expires_at - invitation.created_at - dt.timedelta(days=7)) < dt.timedelta(seconds=1)
    )
    page = alice_client.get("/workspace/members/").content.decode()
    assert "Dave@Example.com" in page and "Revoke" in page


@pytest.mark.parametrize(
    ("email", "problem"),
    [
        ("not-an-address", "valid email"),
        ("alice@example.com", "yourself"),
        ("ALICE@example.com", "yourself"),
        ("bob@example.com", "already a member"),
    ],
)
def test_invitations_that_cannot_be_sent(alice, bob, alice_client, email, problem):
    response = invite(alice_client, email)
    assert response.status_code == 400
    assert problem in response.content.decode()
    assert not Invitation.objects.exists() and not mail.outbox


def test_a_second_pending_invitation_to_the_same_address_is_refused(alice, alice_client):
    invite(alice_client, "dave@example.com")
    response = invite(alice_client, "DAVE@example.com")
    assert response.status_code == 400 and "pending invitation" in response.content.decode()
    assert Invitation.objects.count() == 1


def test_sending_invitations_is_rate_limited_per_address(alice, alice_client, settings):
    settings.INVITATIONS_PER_ADDRESS_LIMIT = "1/h/key"
    invite(alice_client, "dave@example.com")
    invitation = Invitation.objects.get()
    assert alice_client.post(f"/workspace/invitations/{invitation.code}/resend/").status_code == 429
    assert len(mailbox.to("dave@example.com")) == 1


def test_a_visitor_signs_up_from_the_link_without_a_code_and_joins(alice, alice_client):
    invite(alice_client, "dave@example.com")
    link = sent_link("dave@example.com")
    visitor = Client()
    page = visitor.get(link)
    assert page.status_code == 200 and "Create an account" in page.content.decode()
    response = visitor.post(
        "/accounts/signup/", {"email": "dave@example.com", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert response.status_code == 302 and "confirm-email" not in response.url
    dave = User.objects.get(email="dave@example.com")
    assert EmailAddress.objects.get(user=dave).verified
    joined = Membership.objects.get(user=dave, workspace=workspace_of(alice))
    assert joined.role == "member"
    assert Invitation.objects.get().accepted_by == dave
    # Signed in, in alice's workspace (dave also owns a personal one, as every account does).
    home = visitor.get("/").content.decode()
    assert workspace_of(alice).name.replace("'", "&#x27;") in home
    assert not mailbox.to("dave@example.com")[-1].body.count("code")


def test_signing_up_with_another_address_from_the_link_needs_the_code(alice, alice_client):
    invite(alice_client, "dave@example.com")
    visitor = Client()
    visitor.get(sent_link("dave@example.com"))
    response = visitor.post(
        "/accounts/signup/", {"email": "eve@example.com", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert response.status_code == 302 and "confirm-email" in response.url
    eve = User.objects.get(email="eve@example.com")
    assert not EmailAddress.objects.get(user=eve).verified
    assert not Membership.objects.filter(user=eve, workspace=workspace_of(alice)).exists()
    assert Invitation.objects.get().accepted_at is None


def test_a_signed_in_invitee_joins_at_once_and_the_link_works_once(alice, alice_client):
    erin = create_account(email="erin@example.com", password=PASSWORD)
    invite(alice_client, "ERIN@example.com", "admin")
    link = sent_link("ERIN@example.com")
    erin_client = client_for(erin)
    response = erin_client.get(link)
    assert response.status_code == 302
    assert Membership.objects.get(user=erin, workspace=workspace_of(alice)).role == "admin"
    assert workspace_of(alice).name in erin_client.get("/workspace/").content.decode().replace("&#x27;", "'")
    before = state()
    again = erin_client.get(link)
    assert again.status_code == 410 and "already used" in again.content.decode()
    assert Client().get(link).status_code == 410
    assert state() == before
    assert set(AuditEntry.objects.values_list("action", flat=True)) >= {
        "invitation_accepted",
        "member_joined",
    }


def test_a_link_opened_by_another_account_changes_nothing(alice, alice_client, charlie_client):
    invite(alice_client, "dave@example.com")
    link = sent_link("dave@example.com")
    before = state()
    response = charlie_client.get(link)
    assert response.status_code == 404 and "another address" in response.content.decode()
    assert state() == before
    # Its workspace's owner sees what was sent, and does not join anything.
    assert "Only <bdi>dave@example.com</bdi> can accept it" in alice_client.get(link).content.decode()
    assert state() == before


def test_an_invitee_who_is_already_a_member_changes_nothing(alice, alice_client):
    erin = create_account(email="erin@example.com", password=PASSWORD)
    invite(alice_client, "erin@example.com")
    link = sent_link("erin@example.com")
    Membership.objects.create(user=erin, workspace=workspace_of(alice), role="member")
    before = state()
    response = client_for(erin).get(link)
    assert response.status_code == 200 and "already a member" in response.content.decode()
    assert state() == before


def test_an_expired_invitation_changes_nothing(alice, alice_client, monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: clock.NOW)
    invite(alice_client, "dave@example.com")
    link = sent_link("dave@example.com")
    erin_like = create_account(email="dave@example.com", password=PASSWORD)
    monkeypatch.setattr(timezone, "now", lambda: clock.NOW + dt.timedelta(days=7, seconds=1))
    before = state()
    response = client_for(erin_like).get(link)
    assert response.status_code == 410 and "expired" in response.content.decode()
    assert state() == before
    monkeypatch.setattr(timezone, "now", lambda: clock.NOW + dt.timedelta(days=6, hours=23))
    assert client_for(erin_like).get(link).status_code == 302  # still valid a moment before


def test_a_revoked_invitation_changes_nothing(alice, alice_client):
    invite(alice_client, "dave@example.com")
    link = sent_link("dave@example.com")
    invitation = Invitation.objects.get()
    assert alice_client.post(f"/workspace/invitations/{invitation.code}/revoke/").status_code == 302
    dave = create_account(email="dave@example.com", password=PASSWORD)
    before = state()
    response = client_for(dave).get(link)
    assert response.status_code == 410 and "withdrawn" in response.content.decode()
    assert state() == before


def test_resending_makes_a_new_link_and_the_old_one_stops_working(alice, alice_client):
    invite(alice_client, "dave@example.com")
    old = sent_link("dave@example.com")
    invitation = Invitation.objects.get()
    alice_client.post(f"/workspace/invitations/{invitation.code}/resend/")
    new = sent_link("dave@example.com")
    assert new != old
    dave = create_account(email="dave@example.com", password=PASSWORD)
    assert client_for(dave).get(old).status_code == 404
    assert client_for(dave).get(new).status_code == 302
    assert Membership.objects.filter(user=dave, workspace=workspace_of(alice)).exists()


def test_guessing_links_is_rate_limited_per_client_address(alice, alice_client, settings):
    settings.INVITATION_GUESS_LIMIT = "3/h/ip"
    invite(alice_client, "dave@example.com")
    link = sent_link("dave@example.com")
    guesser = Client()
    for n in range(3):
        assert guesser.get(f"/invitations/wrong-{n}/").status_code == 404
    assert guesser.get("/invitations/wrong-4/").status_code == 429
    # Even the right link, from that address, until the window passes: guessing gains nothing.
    assert guesser.get(link).status_code == 429
    assert Client(REMOTE_ADDR="10.0.0.9").get(link).status_code == 200


# Several workspaces


def test_create_a_client_workspace_and_switch_between_workspaces(alice, alice_client):
    personal = workspace_of(alice)
    persona = make_persona(personal, alice)
    response = alice_client.post("/workspace/new/", {"name": "Client: Acme"})
    assert response.status_code == 302
    acme = Membership.objects.get(user=alice, workspace__name="Client: Acme")
    assert acme.role == "owner"
    home = alice_client.get("/").content.decode()
    assert 'class="workspace-name"' in home and "Client: Acme</bdi></span>" in home
    # Another workspace's object is a 404 until alice switches to it (D33).
    assert alice_client.get(f"/personas/{persona.code}/").status_code == 404
    alice_client.post("/workspace/switch/", {"workspace": str(personal.code)})
    assert alice_client.get(f"/personas/{persona.code}/").status_code == 200


def test_switching_to_a_workspace_you_are_not_in_changes_nothing(alice, alice_client, charlie):
    alice_client.post("/workspace/switch/", {"workspace": str(workspace_of(charlie).code)})
    assert alice_client.session.get("workspace_code") is None
    alice_client.post("/workspace/switch/", {"workspace": "not-a-uuid"})
    assert "Alice&#x27;s workspace" in alice_client.get("/").content.decode()


# The audit log


def test_the_log_records_keys_budget_and_invitations(alice, alice_client, double):
    key = make_key(alice, "fal")
    alice_client.post("/workspace/", {"monthly_cap_usd": "12.50"})
    invite(alice_client, "dave@example.com")
    invitation = Invitation.objects.get()
    alice_client.post(f"/workspace/invitations/{invitation.code}/revoke/")
    alice_client.post(f"/keys/{key.code}/delete/")
    actions = list(AuditEntry.objects.order_by("pk").values_list("action", flat=True))
    assert actions == ["key_added", "budget_changed", "invitation_sent", "invitation_revoked", "key_deleted"]
    page = alice_client.get("/workspace/log/").content.decode()
    assert "Budget changed" in page and "$12.50" in page and "dave@example.com" in page


def test_the_log_shows_only_this_workspaces_entries(alice, alice_client, charlie):
    make_key(charlie, "fal", label="Charlie secret label")
    assert "Charlie secret label" not in alice_client.get("/workspace/log/").content.decode()

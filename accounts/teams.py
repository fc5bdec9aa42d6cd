"""Teams: invitations, members and their roles, several workspaces per user (docs/decisions.md D33).

Every function here trusts its caller to have checked the actor's role (accounts/http.py
`admin_required`, `owner_only`); each enforces the rules that hold whatever the caller: the owner's
membership is never removed or demoted by anyone but a transfer, the last owner cannot leave, an
invitation is accepted once, by its address, while it is pending. Every change is written to the audit
log (accounts/audit.py) in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Callable

from allauth.mfa.models import Authenticator
from allauth.mfa.utils import is_mfa_enabled
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.core.validators import validate_email
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts import audit, preferences
from accounts.emails import as_typed, email_key
from accounts.models import Invitation, Membership, User, Workspace

Role = Membership.Role
Action = audit.Action
INVITABLE_ROLES = (Role.ADMIN, Role.MEMBER)  # the owner role moves only by a transfer


class TeamError(Exception):
    """A refusal whose message is safe to show; nothing was changed."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def hash_token(token: str) -> str:
    """Return what is stored for an invitation token: its SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def _user_key(user: User) -> str:
    return email_key(user.email)


# Invitations


def _new_token(invitation: Invitation) -> str:
    token = secrets.token_urlsafe(32)
    invitation.token_hash = hash_token(token)
    invitation.expires_at = timezone.now() + dt.timedelta(days=settings.INVITATION_DAYS)
    return token


def _mail(invitation: Invitation, token: str, link: str) -> None:
    # In the invited person's language if they have an account that chose one; else in the inviter's
    # (the page they are on), the best guess for someone who reads the workspace's language.
    recipient = User.objects.filter(email_key=invitation.email_key).first()
    language = preferences.user_language(recipient)
    context = {"invitation": invitation, "link": link, "days": settings.INVITATION_DAYS}
    with translation.override(language):
        subject = f"{settings.ACCOUNT_EMAIL_SUBJECT_PREFIX}" + _("You are invited to %(workspace)s") % {
            "workspace": invitation.workspace.name
        }
        body = render_to_string("teams/invitation_email.txt", context)
    EmailMessage(subject, body, to=[invitation.email], headers={"Content-Language": language}).send()


def check_invitable(*, workspace: Workspace, inviter: User, email: str, role: str) -> str:
    """Return the address as typed (NFKC, trimmed) if `email` may be invited as `role`; else TeamError."""
    typed = as_typed(email)
    try:
        validate_email(typed)
    except ValidationError as exc:
        raise TeamError(_("Enter a valid email address.")) from exc
    if role not in INVITABLE_ROLES:
        raise TeamError(_("Choose the role admin or member."))
    key = email_key(typed)
    if key == _user_key(inviter):
        raise TeamError(_("You cannot invite yourself: you are already in this workspace."))
    if Membership.objects.filter(workspace=workspace, user__email_key=key).exists():
        raise TeamError(_("%(email)s is already a member of this workspace.") % {"email": typed})
    pending = Invitation.objects.filter(
        workspace=workspace,
        email_key=key,
        accepted_at__isnull=True,
        revoked_at__isnull=True,
        expires_at__gt=timezone.now(),
    )
    if pending.exists():
        raise TeamError(
            _("%(email)s already has a pending invitation: re-send it from the list.") % {"email": typed}
        )
    return typed


def invite(*, workspace: Workspace, inviter: User, email: str, role: str, link_for: LinkFor) -> Invitation:
    """Invite `email` to `workspace` as `role` and mail the link; raise TeamError (nothing sent)."""
    typed = check_invitable(workspace=workspace, inviter=inviter, email=email, role=role)
    with transaction.atomic():
        invitation = Invitation(
            workspace=workspace, email=typed, email_key=email_key(typed), role=role, invited_by=inviter
        )
        token = _new_token(invitation)
        invitation.save()
        audit.record(workspace, inviter, Action.INVITATION_SENT, f"{typed} ({invitation.get_role_display()})")
    _mail(invitation, token, link_for(token))
    return invitation


def resend(invitation: Invitation, *, actor: User, link_for: LinkFor) -> None:
    """Mail a new link (with a new expiry); the old link stops working. Only for an unaccepted, unrevoked one."""
    if invitation.accepted_at is not None or invitation.revoked_at is not None:
        raise TeamError(_("This invitation was already accepted or revoked: invite the address again."))
    with transaction.atomic():
        token = _new_token(invitation)
        invitation.save(update_fields=["token_hash", "expires_at"])
        audit.record(invitation.workspace, actor, Action.INVITATION_RESENT, invitation.email)
    _mail(invitation, token, link_for(token))


def revoke(invitation: Invitation, *, actor: User) -> None:
    """Revoke a pending invitation: its link stops working."""
    if invitation.accepted_at is not None or invitation.revoked_at is not None:
        raise TeamError(_("This invitation was already accepted or revoked."))
    with transaction.atomic():
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        audit.record(invitation.workspace, actor, Action.INVITATION_REVOKED, invitation.email)


def find(token: str) -> Invitation | None:
    """Return the invitation whose link holds `token` (in any state), or None.

    Looked up by the token's hash (the database never sees the token), then compared in constant time.
    """
    if not token or len(token) > 200:
        return None
    wanted = hash_token(token)
    invitation = (
        Invitation.objects.select_related("workspace", "invited_by").filter(token_hash=wanted).first()
    )
    if invitation is None or not hmac.compare_digest(invitation.token_hash, wanted):
        return None
    return invitation


def is_for(invitation: Invitation, user: User) -> bool:
    """Whether `user`'s address is the invited one (any spelling of it)."""
    return hmac.compare_digest(invitation.email_key, _user_key(user))


def accept(invitation: Invitation, user: User) -> Membership:
    """Add `user` to the invitation's workspace with its role; the link is used up. Raise TeamError."""
    with transaction.atomic():
        # Locked: two tabs opening the link at once make one membership, and the second sees it used.
        fresh = Invitation.objects.select_for_update().select_related("workspace").get(pk=invitation.pk)
        if not fresh.is_pending:
            raise TeamError(_("This invitation is no longer valid."))
        if not is_for(fresh, user):
            raise TeamError(_("This invitation is for another email address."))
        if Membership.objects.filter(workspace=fresh.workspace, user=user).exists():
            raise TeamError(_("You are already a member of %(name)s.") % {"name": fresh.workspace.name})
        membership = Membership.objects.create(user=user, workspace=fresh.workspace, role=fresh.role)
        fresh.accepted_at = timezone.now()
        fresh.accepted_by = user
        fresh.save(update_fields=["accepted_at", "accepted_by"])
        audit.record(fresh.workspace, user, Action.INVITATION_ACCEPTED, fresh.email)
        audit.record(
            fresh.workspace, user, Action.MEMBER_JOINED, f"{user.email} ({membership.get_role_display()})"
        )
    return membership


# Members


def remove_member(membership: Membership, *, actor: User) -> None:
    """Remove someone from the workspace (not the owner). The user and what they made stay."""
    if membership.is_owner:
        raise TeamError(_("The owner cannot be removed: the owner can transfer ownership first."))
    if membership.user_id == actor.pk:
        raise TeamError(_("To leave the workspace, use “Leave this workspace”."))
    with transaction.atomic():
        membership.delete()
        audit.record(membership.workspace, actor, Action.MEMBER_REMOVED, membership.user.email)


def leave(membership: Membership) -> None:
    """The member leaves the workspace; the last owner cannot."""
    if membership.is_owner:
        raise TeamError(_("The owner cannot leave: transfer ownership to a member first."))
    with transaction.atomic():
        membership.delete()
        audit.record(membership.workspace, membership.user, Action.MEMBER_LEFT, membership.user.email)


def change_role(membership: Membership, *, role: str, actor: User) -> None:
    """Make a member an admin or an admin a member; the owner's role changes only by a transfer."""
    if membership.is_owner:
        raise TeamError(_("The owner's role changes only when the owner transfers ownership."))
    if role not in INVITABLE_ROLES:
        raise TeamError(_("Choose the role admin or member."))
    if membership.role == role:
        return
    with transaction.atomic():
        old = membership.get_role_display()
        membership.role = role
        membership.save(update_fields=["role"])
        audit.record(
            membership.workspace,
            actor,
            Action.ROLE_CHANGED,
            f"{membership.user.email}: {old} → {membership.get_role_display()}",
        )


def transfer_ownership(owner: Membership, to: Membership) -> None:
    """Make `to` the owner; the old owner stays as an admin."""
    if not owner.is_owner or owner.workspace_id != to.workspace_id or owner.pk == to.pk:
        raise TeamError(_("Choose another member of this workspace."))
    with transaction.atomic():
        owner.role = Role.ADMIN
        owner.save(update_fields=["role"])
        to.role = Role.OWNER
        to.save(update_fields=["role"])
        audit.record(
            owner.workspace, owner.user, Action.OWNERSHIP_TRANSFERRED, f"{owner.user.email} → {to.user.email}"
        )


# Two-factor sign-in

# What counts as two-factor: an authenticator app or a passkey. Recovery codes alone do not (they back up
# one of those, and allauth deletes them with the last one).
TWO_FACTOR_TYPES = [t for t in Authenticator.Type if t != Authenticator.Type.RECOVERY_CODES]


def has_two_factor(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Whether `user` signs in with a second factor (allauth's MFA: an authenticator app or a passkey)."""
    return bool(is_mfa_enabled(user, types=TWO_FACTOR_TYPES))


def set_require_two_factor(owner: Membership, *, required: bool) -> bool:
    """Require (or stop requiring) two-factor sign-in in the owner's workspace; return whether it changed.

    The owner must have two-factor before requiring it: otherwise every workspace page, this one
    included, would send them to /accounts/2fa/ at once.
    """
    if not owner.is_owner:
        raise TeamError(_("Only the workspace owner can do this."))
    if required and not has_two_factor(owner.user):
        raise TeamError(
            _(
                "Turn on two-factor sign-in for your own account first (an authenticator app or a "
                "passkey): once it is required, nobody without it can open this workspace's pages."
            )
        )
    with transaction.atomic():
        workspace = Workspace.objects.select_for_update().get(pk=owner.workspace_id)
        if workspace.require_two_factor == required:
            return False
        workspace.require_two_factor = required
        workspace.save(update_fields=["require_two_factor"])
        owner.workspace.require_two_factor = required
        audit.record(
            workspace,
            owner.user,
            Action.TWO_FACTOR_CHANGED,
            "required" if required else "no longer required",
        )
    return True


# Workspaces


@transaction.atomic
def create_workspace(user: User, name: str) -> Workspace:
    """Make another workspace (an agency's client, say) that `user` owns."""
    workspace = Workspace.objects.create(name=name.strip()[:100])
    Membership.objects.create(user=user, workspace=workspace, role=Role.OWNER)
    audit.record(workspace, user, Action.WORKSPACE_CREATED, workspace.name)
    return workspace


type LinkFor = Callable[[str], str]  # token → the absolute URL of its invitation page
ADMIN_ROLES = (Role.OWNER, Role.ADMIN)

"""Teams: members and invitations, the invitation link, several workspaces, the audit log (D33).

Every action checks the role on the server (accounts/http.py): a member posting an admin form gets a
403 and nothing changes. Objects are looked up in the current workspace only: another workspace's
membership or invitation is a 404, even for someone who belongs to both, until they switch (D33).
"""

from __future__ import annotations

from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from accounts import limits, teams
from accounts.adapter import INVITATION_SESSION_KEY
from accounts.forms import InviteForm, RoleForm, WorkspaceForm
from accounts.http import (
    AppRequest,
    WorkspaceRequest,
    admin_required,
    owner_only,
    require_form_methods,
    workspace_required,
)
from accounts.middleware import SESSION_KEY as WORKSPACE_SESSION_KEY
from accounts.models import AuditEntry, Invitation, Membership, User

LOG_PAGE_SIZE = 200


def _members_page(
    request: WorkspaceRequest, form: InviteForm | None = None, status: int = 200
) -> HttpResponse:
    members = (
        Membership.objects.filter(workspace=request.workspace).select_related("user").order_by("created_at")
    )
    is_admin = request.membership.is_admin
    invitations = (
        Invitation.objects.filter(
            workspace=request.workspace, accepted_at__isnull=True, revoked_at__isnull=True
        )
        .select_related("invited_by")
        .order_by("-created_at")
        if is_admin
        else Invitation.objects.none()
    )
    context = {
        "members": members,
        "invitations": invitations,
        "form": form or (InviteForm() if is_admin else None),
        "is_admin": is_admin,
        "is_owner": request.membership.is_owner,
        "require_two_factor": request.workspace.require_two_factor,
        "me": request.membership,
        "role_choices": RoleForm.base_fields["role"].choices,  # type: ignore[attr-defined]
        "now": timezone.now(),
    }
    return render(request, "teams/members.html", context, status=status)


@require_GET
@workspace_required
def members(request: WorkspaceRequest) -> HttpResponse:
    return _members_page(request)


def _link_for(request: HttpRequest) -> teams.LinkFor:
    return lambda token: request.build_absolute_uri(reverse("teams:invitation", args=[token]))


@require_POST
@admin_required
def invite(request: WorkspaceRequest) -> HttpResponse:
    form = InviteForm(request.POST)
    if not form.is_valid():
        return _members_page(request, form, status=400)
    email, role = form.cleaned_data["email"], form.cleaned_data["role"]
    try:
        teams.check_invitable(workspace=request.workspace, inviter=request.user, email=email, role=role)
    except teams.TeamError as exc:
        form.add_error("email", exc.message)
        return _members_page(request, form, status=400)
    if not limits.consume_per_user(
        request, action="invitations_sent", rate=settings.INVITATIONS_PER_INVITER_LIMIT
    ) or not limits.consume_per_address(
        request, action="invitations_to_address", rate=settings.INVITATIONS_PER_ADDRESS_LIMIT, address=email
    ):
        return limits.too_many(request)
    invitation = teams.invite(
        workspace=request.workspace, inviter=request.user, email=email, role=role, link_for=_link_for(request)
    )
    messages.success(request, _("Invitation sent to %(email)s.") % {"email": invitation.email})
    return redirect("teams:members")


def _get_invitation(request: WorkspaceRequest, code: UUID) -> Invitation:
    return get_object_or_404(
        Invitation.objects.select_related("workspace"), workspace=request.workspace, code=code
    )


def _get_membership(request: WorkspaceRequest, code: UUID) -> Membership:
    return get_object_or_404(
        Membership.objects.select_related("user", "workspace"), workspace=request.workspace, code=code
    )


@require_POST
@admin_required
def revoke_invitation(request: WorkspaceRequest, code: UUID) -> HttpResponse:
    invitation = _get_invitation(request, code)
    try:
        teams.revoke(invitation, actor=request.user)
    except teams.TeamError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Revoked the invitation to %(email)s.") % {"email": invitation.email})
    return redirect("teams:members")


@require_POST
@admin_required
def resend_invitation(request: WorkspaceRequest, code: UUID) -> HttpResponse:
    invitation = _get_invitation(request, code)
    if not limits.consume_per_user(
        request, action="invitations_sent", rate=settings.INVITATIONS_PER_INVITER_LIMIT
    ) or not limits.consume_per_address(
        request,
        action="invitations_to_address",
        rate=settings.INVITATIONS_PER_ADDRESS_LIMIT,
        address=invitation.email,
    ):
        return limits.too_many(request)
    try:
        teams.resend(invitation, actor=request.user, link_for=_link_for(request))
    except teams.TeamError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            _("Sent a new link to %(email)s; the old one no longer works.") % {"email": invitation.email},
        )
    return redirect("teams:members")


@require_POST
@admin_required
def change_role(request: WorkspaceRequest, code: UUID) -> HttpResponse:
    membership = _get_membership(request, code)
    form = RoleForm(request.POST)
    try:
        if not form.is_valid():
            raise teams.TeamError(_("Choose the role admin or member."))
        teams.change_role(membership, role=form.cleaned_data["role"], actor=request.user)
    except teams.TeamError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            _("%(email)s is now %(role)s.")
            % {"email": membership.user.email, "role": membership.get_role_display()},
        )
    return redirect("teams:members")


@require_POST
@admin_required
def remove_member(request: WorkspaceRequest, code: UUID) -> HttpResponse:
    membership = _get_membership(request, code)
    try:
        teams.remove_member(membership, actor=request.user)
    except teams.TeamError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, _("Removed %(email)s from this workspace.") % {"email": membership.user.email}
        )
    return redirect("teams:members")


@require_POST
@owner_only
def transfer_ownership(request: WorkspaceRequest, code: UUID) -> HttpResponse:
    membership = _get_membership(request, code)
    try:
        teams.transfer_ownership(request.membership, membership)
    except teams.TeamError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            _("%(email)s now owns this workspace; you are an admin.") % {"email": membership.user.email},
        )
    return redirect("teams:members")


@require_POST
@owner_only
def require_two_factor(request: WorkspaceRequest) -> HttpResponse:
    """Require two-factor sign-in in the current workspace (`required=on`), or stop requiring it."""
    required = request.POST.get("required") == "on"
    try:
        changed = teams.set_require_two_factor(request.membership, required=required)
    except teams.TeamError as exc:
        messages.error(request, exc.message)
    else:
        if changed and required:
            messages.success(
                request,
                _("Two-factor sign-in is now required: members without it are asked to set it up."),
            )
        elif changed:
            messages.success(request, _("Two-factor sign-in is no longer required."))
    return redirect("teams:members")


@require_POST
@workspace_required
def leave(request: WorkspaceRequest) -> HttpResponse:
    try:
        teams.leave(request.membership)
    except teams.TeamError as exc:
        messages.error(request, exc.message)
        return redirect("teams:members")
    request.session.pop(WORKSPACE_SESSION_KEY, None)
    messages.success(request, _("You left %(name)s.") % {"name": request.workspace.name})
    return redirect("home")


# Several workspaces


@require_form_methods
@login_required
def new_workspace(request: AppRequest) -> HttpResponse:
    form = WorkspaceForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        assert isinstance(request.user, User)
        workspace = teams.create_workspace(request.user, form.cleaned_data["name"])
        request.session[WORKSPACE_SESSION_KEY] = str(workspace.code)
        messages.success(
            request, _("Created %(name)s; you are working in it now.") % {"name": workspace.name}
        )
        return redirect("home")
    return render(request, "teams/new_workspace.html", {"form": form})


@require_POST
@login_required
def switch_workspace(request: AppRequest) -> HttpResponse:
    user, chosen = request.user, _uuid_or_none(request.POST.get("workspace"))
    assert isinstance(user, User)  # login_required
    found = Membership.objects.filter(user=user, workspace__code=chosen) if chosen else None
    membership = found.select_related("workspace").first() if found is not None else None
    if membership is None:
        messages.error(request, _("You are not a member of that workspace."))
        return redirect("home")
    request.session[WORKSPACE_SESSION_KEY] = str(membership.workspace.code)
    messages.success(request, _("You are working in %(name)s.") % {"name": membership.workspace.name})
    return redirect("home")


def _uuid_or_none(value: str | None) -> UUID | None:
    try:
        return UUID(str(value))
    except ValueError:
        return None


# The audit log


@require_GET
@admin_required
def audit_log(request: WorkspaceRequest) -> HttpResponse:
    entries = (
        AuditEntry.objects.filter(workspace=request.workspace)
        .select_related("actor")
        .order_by("-created_at", "-pk")[:LOG_PAGE_SIZE]
    )
    return render(request, "teams/log.html", {"entries": entries, "page_size": LOG_PAGE_SIZE})


# The invitation link


def _state(invitation: Invitation) -> str:
    if invitation.accepted_at is not None:
        return "used"
    if invitation.revoked_at is not None:
        return "revoked"
    return "expired" if invitation.is_expired else "pending"


@never_cache
@require_GET
def invitation(request: AppRequest, token: str) -> HttpResponse:
    """Open an invitation link: join, or sign in / sign up with the invited address (D33)."""
    rate = settings.INVITATION_GUESS_LIMIT
    if not limits.consume_per_client(request, action="invitation_guess", rate=rate, dry_run=True):
        return limits.too_many(request)
    found = teams.find(token)
    if found is None:
        limits.consume_per_client(request, action="invitation_guess", rate=rate)  # a miss counts
        return render(request, "teams/invitation.html", {"state": "unknown"}, status=404)
    state, user = _state(found), request.user
    context = {"invitation": found, "state": state}
    if isinstance(user, User) and not teams.is_for(found, user):
        # Its workspace's owners and admins may check what they sent; to anyone else it is not theirs.
        if Membership.objects.filter(
            workspace=found.workspace, user=user, role__in=teams.ADMIN_ROLES
        ).exists():
            return render(request, "teams/invitation.html", {**context, "state": "inviter"})
        return render(request, "teams/invitation.html", {**context, "state": "other_address"}, status=404)
    if state != "pending":
        return render(request, "teams/invitation.html", context, status=410)
    if not isinstance(user, User):
        request.session[INVITATION_SESSION_KEY] = found.pk
        return render(request, "teams/invitation.html", context)
    return _join(request, found, user)


def _join(request: AppRequest, found: Invitation, user: User) -> HttpResponse:
    if Membership.objects.filter(workspace=found.workspace, user=user).exists():
        return render(request, "teams/invitation.html", {"invitation": found, "state": "already_member"})
    try:
        teams.accept(found, user)
    except teams.TeamError as exc:
        return render(
            request,
            "teams/invitation.html",
            {"invitation": found, "state": "refused", "error": exc.message},
            status=410,
        )
    request.session[WORKSPACE_SESSION_KEY] = str(found.workspace.code)
    messages.success(request, _("You joined %(name)s.") % {"name": found.workspace.name})
    return redirect("home")

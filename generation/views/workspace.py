"""The workspace page: the monthly budget, each member's and each key's monthly limit (the owner and admins
set them; docs/decisions.md D34), and who is a member (teams:members manages them); deleting the workspace."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from accounts import audit
from accounts.http import WorkspaceRequest, owner_only, require_form_methods, workspace_required
from accounts.middleware import SESSION_KEY as WORKSPACE_SESSION_KEY
from accounts.models import Membership, User, Workspace
from generation import budgets, workspaces
from generation.forms import BudgetForm, LimitForm
from generation.money import format_usd, to_usd
from keys.models import ProviderKey


@dataclass(frozen=True)
class LimitRow:
    """One member or key on the page: its month (spend, reservations, limit) and the form that sets it."""

    scope: str  # "member" or "key"
    subject: str  # the member's email or the key's code: what the form posts back
    name: str
    status: budgets.BudgetStatus
    form: LimitForm
    badge: str = ""


def _limit_form(status: budgets.BudgetStatus, prefix: str, data: QueryDict | None = None) -> LimitForm:
    initial = {"limit_usd": to_usd(status.cap_nanousd)} if status.cap_nanousd is not None else {}
    return LimitForm(data, initial=initial, auto_id=f"id_{prefix}_%s")


def _rows(workspace: Workspace, bound: dict[str, LimitForm]) -> tuple[list[LimitRow], list[LimitRow]]:
    """Return the members' rows and the generation keys' rows; `bound` replaces a row's form (errors)."""
    members = []
    memberships = Membership.objects.filter(workspace=workspace).select_related("user").order_by("created_at")
    for i, membership in enumerate(memberships):
        status = budgets.status(workspace, member=membership.user)
        prefix = f"member_{i}"
        form = bound.get(f"member:{membership.user.email}") or _limit_form(status, prefix)
        members.append(
            LimitRow(
                "member",
                membership.user.email,
                membership.user.email,
                status,
                form,
                membership.get_role_display(),
            )
        )
    keys = []
    generation_keys = ProviderKey.objects.for_workspace(workspace).filter(kind=ProviderKey.Kind.GENERATE)
    for i, key in enumerate(generation_keys.order_by("provider", "label")):
        status = budgets.status(workspace, key=key)
        form = bound.get(f"key:{key.code}") or _limit_form(status, f"key_{i}")
        keys.append(
            LimitRow("key", str(key.code), f"{key.label} ({key.hint})", status, form, key.provider_label)
        )
    return members, keys


def _subject(request: WorkspaceRequest) -> dict[str, Any]:
    """Return the member or the key a limit form names, of this workspace only (else 404)."""
    if request.POST.get("scope") == "member":
        email = request.POST.get("member", "")
        if "\x00" in email:
            raise Http404  # no address holds NUL, and PostgreSQL refuses one in a query
        user = User.objects.filter(memberships__workspace=request.workspace, email=email).first()
        if user is None:
            raise Http404
        return {"member": user}
    try:
        code = UUID(request.POST.get("key", ""))
    except ValueError:
        raise Http404 from None
    key = (
        ProviderKey.objects.for_workspace(request.workspace)
        .filter(code=code, kind=ProviderKey.Kind.GENERATE)
        .first()
    )
    if key is None:
        raise Http404
    return {"key": key}


def _save_limit(request: WorkspaceRequest) -> tuple[HttpResponse | None, dict[str, LimitForm]]:
    """Set a member's or a key's limit from the POST; return a redirect, or the bound form with its errors."""
    subject = _subject(request)
    scope = budgets.Scope(**subject)
    form = LimitForm(request.POST, auto_id=f"id_{request.POST['scope']}_%s")
    if not form.is_valid():
        name = f"member:{subject['member'].email}" if "member" in subject else f"key:{subject['key'].code}"
        return None, {name: form}
    cap = form.cap_nanousd()
    budgets.set_limit(workspace=request.workspace, user=request.user, cap_nanousd=cap, **subject)
    audit.record(
        request.workspace,
        request.user,
        audit.Action.LIMIT_CHANGED,
        f"{scope.title}: " + (_("no limit") if cap is None else format_usd(cap)),
    )
    if cap is None:
        messages.success(request, _("%(limit)s is cleared: no limit.") % {"limit": scope.title.capitalize()})
    else:
        messages.success(
            request,
            _("%(limit)s is now %(cap)s.") % {"limit": scope.title.capitalize(), "cap": format_usd(cap)},
        )
    return redirect("generation:workspace"), {}


def _save_budget(request: WorkspaceRequest, form: BudgetForm) -> HttpResponse | None:
    if not form.is_valid():
        return None
    cap = form.cap_nanousd()
    budgets.set_cap(workspace=request.workspace, user=request.user, cap_nanousd=cap)
    audit.record(
        request.workspace,
        request.user,
        audit.Action.BUDGET_CHANGED,
        _("no cap") if cap is None else format_usd(cap),
    )
    if cap is None:
        messages.success(request, _("The monthly budget is cleared: no cap."))
    else:
        messages.success(request, _("The monthly budget is now %(cap)s.") % {"cap": format_usd(cap)})
    return redirect("generation:workspace")


@require_form_methods
@workspace_required
def workspace_settings(request: WorkspaceRequest) -> HttpResponse:
    current = budgets.status(request.workspace)
    initial = {}
    if current.cap_nanousd is not None:
        initial["monthly_cap_usd"] = to_usd(current.cap_nanousd)
    limiting = request.method == "POST" and request.POST.get("scope") in ("member", "key")
    form = BudgetForm(request.POST if request.method == "POST" and not limiting else None, initial=initial)
    bound: dict[str, LimitForm] = {}
    if request.method == "POST":
        if not request.membership.is_admin:
            raise PermissionDenied(
                _("Only the workspace owner and admins can change the budget and the limits.")
            )
        done, bound = _save_limit(request) if limiting else (_save_budget(request, form), {})
        if done is not None:
            return done
    members, keys = _rows(request.workspace, bound)
    return render(
        request,
        "generation/workspace.html",
        {
            "form": form,
            "budget": current,
            "members": members,
            "keys": keys,
            "is_admin": request.membership.is_admin,
        },
    )


@require_form_methods
@owner_only
def delete_workspace(request: WorkspaceRequest) -> HttpResponse:
    """The owner deletes the workspace: typing its name, after being offered the usage CSV."""
    error = ""
    try:
        workspaces.check_deletable(request.workspace, request.user)
    except workspaces.CannotDelete as exc:
        error = exc.message
    if request.method == "POST" and not error:
        if request.POST.get("name", "").strip() != request.workspace.name:
            error = _("Type the workspace's name exactly to delete it.")
        else:
            name = request.workspace.name
            workspaces.delete_workspace(request.workspace, request.user)
            request.session.pop(WORKSPACE_SESSION_KEY, None)
            messages.success(request, _("Deleted %(name)s and everything in it.") % {"name": name})
            return redirect("home")
    status = 400 if request.method == "POST" else 200
    return render(request, "generation/workspace_delete.html", {"error": error}, status=status)

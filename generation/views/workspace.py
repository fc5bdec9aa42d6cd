"""The workspace page: the monthly budget (owner and admins set it) and who is a member (teams:members manages them)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from accounts import audit
from accounts.http import WorkspaceRequest, owner_only, require_form_methods, workspace_required
from accounts.middleware import SESSION_KEY as WORKSPACE_SESSION_KEY
from accounts.models import Membership
from generation import budgets, workspaces
from generation.forms import BudgetForm
from generation.money import format_usd, to_usd


@require_form_methods
@workspace_required
def workspace_settings(request: WorkspaceRequest) -> HttpResponse:
    current = budgets.status(request.workspace)
    initial = {}
    if current.cap_nanousd is not None:
        initial["monthly_cap_usd"] = to_usd(current.cap_nanousd)
    form = BudgetForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST":
        if not request.membership.is_admin:
            raise PermissionDenied(_("Only the workspace owner and admins can change the budget."))
        if form.is_valid():
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
    members = (
        Membership.objects.filter(workspace=request.workspace).select_related("user").order_by("created_at")
    )
    return render(
        request,
        "generation/workspace.html",
        {"form": form, "budget": current, "members": members, "is_admin": request.membership.is_admin},
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

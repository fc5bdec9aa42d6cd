from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from accounts.http import WorkspaceRequest, workspace_required
from generation import budgets
from generation.dates import month_start
from generation.usage import history
from keys.models import ProviderKey


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    """The landing page for visitors; the dashboard for signed-in users."""
    if not request.user.is_authenticated:
        return render(request, "landing.html")
    return dashboard(request)


@workspace_required
def dashboard(request: WorkspaceRequest) -> HttpResponse:
    """This UTC month's spend and budget, the newest avatars and where to go next."""
    workspace = request.workspace
    budget = budgets.status(workspace)
    context = {
        "month": budget.month,  # the budget's own spend: one source, read once
        "budget": budget,
        # A date, so that the heading names the UTC month, not the viewer's (their zone may be a day apart).
        "this_month": month_start().date(),
        "recent_images": history.recent_images(workspace),
        "has_keys": ProviderKey.objects.for_workspace(workspace)
        .filter(kind=ProviderKey.Kind.GENERATE)
        .exists(),
    }
    return render(request, "dashboard.html", context)

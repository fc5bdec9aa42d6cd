"""Usage and cost history: every charge with filters, totals and a monthly chart, and its CSV export."""

from __future__ import annotations

import csv
from typing import Any
from uuid import UUID

from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils.text import slugify
from django.views.decorators.http import require_safe

from accounts.http import WorkspaceRequest, workspace_required
from accounts.models import Membership
from generation import catalog
from generation.reconciliation import selectors as reconciliations
from generation.usage import chart, export, totals
from generation.usage import history as paging
from generation.usage.filters import FilterForm, Filters, parse_filters
from keys.models import ProviderKey


def _cursor(value: str | None) -> UUID | None:
    try:
        return UUID(value) if value else None
    except ValueError:
        return None


def _choices(request: WorkspaceRequest, filters: Filters) -> dict[str, Any]:
    """Return the filter options: catalog providers and models (retired ones too) and current members."""
    models = catalog.load().models.values()
    members = (
        Membership.objects.filter(workspace=request.workspace)
        .order_by("user__email")
        .values_list("user__email", flat=True)
    )
    return {
        "providers": sorted({m.provider for m in models} | ({filters.provider} - {""})),
        "models": sorted({m.id for m in models} | ({filters.model} - {""})),
        "members": sorted(set(members) | ({filters.member} - {""})),
        "keys": [
            (str(code), f"{label} ({hint})")
            for code, label, hint in ProviderKey.objects.for_workspace(request.workspace)
            .filter(kind=ProviderKey.Kind.GENERATE)
            .order_by("provider", "label")
            .values_list("code", "label", "hint")
        ],
    }


@require_safe
@workspace_required
def history(request: WorkspaceRequest) -> HttpResponse:
    form = FilterForm(request.GET)
    filters = form.filters()
    before, after = _cursor(request.GET.get("before")), _cursor(request.GET.get("after"))
    months = totals.monthly(request.workspace, filters)
    context = {
        "form": form,  # its errors, beside the period's fields
        "filters": filters,
        "errors": form.ignored(),
        "page": paging.page(request.workspace, filters, before=before, after=after),
        "paged": bool(before or after),
        "totals": totals.totals(request.workspace, filters),
        "months": months,
        "chart": chart.chart(months),
        "reconciliations": reconciliations.sections(request.workspace),
        "is_admin": request.membership.is_admin,
        **_choices(request, filters),
    }
    return render(request, "generation/history.html", context)


class _Echo:
    """A file-like object whose write() returns the line, so csv.writer can feed a generator."""

    def write(self, value: str) -> str:
        return value


@require_safe
@workspace_required
def history_csv(request: WorkspaceRequest) -> StreamingHttpResponse:
    filters, _ = parse_filters(request.GET)  # a period that does not validate is ignored, as on the page
    writer = csv.writer(_Echo())
    lines = (writer.writerow(row) for row in export.csv_rows(request.workspace, filters))
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    name = f"aniavatar-usage-{slugify(request.workspace.name) or 'workspace'}-{filters.period}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response

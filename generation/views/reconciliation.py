"""Reconciliation pages: "Reconcile now" (owners), one run's lines, and the owner's choice of key ids.

The usage page (`history`) shows each provider's latest run; these views start a run, show one, and
record which provider key id is one of our keys. Another workspace's run or key is a 404.
"""

from __future__ import annotations

import datetime as dt
import functools
from uuid import UUID

from django import forms
from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

import providers
from accounts.http import WorkspaceRequest, admin_required, workspace_required
from generation import tasks
from generation.reconciliation import selectors, service
from keys.models import ProviderKey


class ReconcileForm(forms.Form):
    """Which provider, and optionally which UTC days (both included); the default is this month so far."""

    provider = forms.ChoiceField(choices=providers.choices)
    start = forms.DateField(required=False)
    last = forms.DateField(required=False)

    def period(self) -> tuple[dt.date, dt.date]:
        start, end = service.default_period()
        first, last = self.cleaned_data.get("start"), self.cleaned_data.get("last")
        if first and last:
            return first, last + dt.timedelta(days=1)
        return start, end


@require_POST
@admin_required
def reconcile_now(request: WorkspaceRequest) -> HttpResponse:
    form = ReconcileForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a provider and, if you like, a period of UTC days."))
        return redirect("generation:history")
    start, end = form.period()
    try:
        with transaction.atomic():
            run = service.start_reconciliation(
                request.workspace, form.cleaned_data["provider"], start=start, end=end, user=request.user
            )
            transaction.on_commit(functools.partial(tasks.reconcile.delay, run.pk), robust=True)
    except service.ReconciliationRefused as exc:
        messages.error(request, str(exc))
        return redirect("generation:history")
    messages.success(
        request,
        _("Reconciliation with %(provider)s started for %(start)s to %(last)s (UTC days).")
        % {"provider": providers.get(run.provider).label, "start": run.start, "last": run.last_day},
    )
    return redirect("generation:reconciliation", code=run.code)


@require_safe
@workspace_required
def reconciliation_detail(request: WorkspaceRequest, code: UUID) -> HttpResponse:
    run = get_object_or_404(selectors.runs(request.workspace), code=code)
    context = {
        "run": run,
        "provider_label": providers.get(run.provider).label,
        "lines": selectors.lines_of(run),
        "is_admin": request.membership.is_admin,
    }
    return render(request, "generation/reconciliation.html", context)


def _code(value: str | None) -> UUID:
    """Return a UUID from a form field, or raise Http404 (a malformed id is an id that does not exist)."""
    try:
        return UUID(value or "")
    except ValueError:
        raise Http404 from None


@require_POST
@admin_required
def choose_key_match(request: WorkspaceRequest) -> HttpResponse:
    """Record which provider key id is one of the workspace's generation keys (or forget the match)."""
    run = get_object_or_404(selectors.runs(request.workspace), code=_code(request.POST.get("run")))
    key = get_object_or_404(
        ProviderKey.objects.for_workspace(request.workspace).filter(kind=ProviderKey.Kind.GENERATE),
        code=_code(request.POST.get("key")),
    )
    choice = (request.POST.get("provider_key_id") or "").strip()
    seen = {entry.get("key_id") for entry in run.key_matches} | {
        key_id for entry in run.key_matches for key_id in entry.get("seen", [])
    }
    if choice and choice not in seen:
        messages.error(request, _("Choose one of the key ids in the provider's report."))
        return redirect("generation:reconciliation", code=run.code)
    try:
        service.set_key_match(request.workspace, key, choice, provider=run.provider)
    except service.ReconciliationRefused as exc:
        messages.error(request, str(exc))
        return redirect("generation:reconciliation", code=run.code)
    if choice:
        messages.success(
            request,
            _("“%(label)s” is now matched to %(id)s. Reconcile again to compare.")
            % {"label": key.label, "id": choice},
        )
    else:
        messages.success(request, _("The match of “%(label)s” was forgotten.") % {"label": key.label})
    return redirect("generation:reconciliation", code=run.code)

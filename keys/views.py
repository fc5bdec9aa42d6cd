"""Settings → API keys: list, add, re-test, replace and delete provider keys.

Every view sends `Cache-Control: no-store`; the key field is marked sensitive (error reports show it as
stars) and is never rendered back; changes are POST only; another workspace's key is a 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from django.contrib import messages
from django.db.models import F, Window
from django.db.models.functions import RowNumber
from django.http import HttpResponse, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods

import providers
from accounts.http import WorkspaceRequest, admin_required, workspace_required
from keys import services
from keys.forms import AddKeyForm, AddUsageKeyForm, ReplaceKeyForm
from keys.models import KeyUse, ProviderKey

RECENT_USES = 5


@dataclass
class KeyRow:
    key: ProviderKey
    needs_reentry: bool
    uses: list[KeyUse]


def _get_key(request: WorkspaceRequest, code: UUID) -> ProviderKey:
    # 404, not 403: another tenant must not learn that this id exists.
    return get_object_or_404(
        ProviderKey.objects.for_workspace(request.workspace).select_related("workspace"), code=code
    )


def _rows(request: WorkspaceRequest, kind: str) -> list[KeyRow]:
    keys = list(
        ProviderKey.objects.for_workspace(request.workspace).filter(kind=kind).select_related("workspace")
    )
    recent = (
        KeyUse.objects.filter(key__in=keys)
        .select_related("actor")
        .annotate(
            rank=Window(
                RowNumber(), partition_by=F("key_id"), order_by=[F("created_at").desc(), F("id").desc()]
            )
        )
        .filter(rank__lte=RECENT_USES)
    )
    uses: dict[int | None, list[KeyUse]] = {}  # KeyUse.key_id is nullable (SET_NULL); here never None
    for use in recent:
        uses.setdefault(use.key_id, []).append(use)
    for found in uses.values():
        found.sort(key=lambda u: (u.created_at, u.pk), reverse=True)
    rows = []
    for key in keys:
        found = uses.get(key.pk, [])
        rows.append(KeyRow(key, needs_reentry=key.needs_reentry(found[0] if found else None), uses=found))
    return rows


def _list_page(
    request: WorkspaceRequest, form: AddKeyForm | None, usage_form: AddUsageKeyForm | None = None
) -> HttpResponse:
    is_admin = request.membership.is_admin
    context = {
        "rows": _rows(request, ProviderKey.Kind.GENERATE),
        "usage_rows": _rows(request, ProviderKey.Kind.USAGE),
        "form": form,
        "usage_form": usage_form or (AddUsageKeyForm() if is_admin else None),
        "is_admin": is_admin,
        "adapters": providers.all_adapters(),
        "usage_key_kinds": f" {_('or')} ".join(
            _(adapter.usage_key_description)
            for adapter in providers.all_adapters()
            if providers.Capability.USAGE_REPORT in adapter.capabilities
        ),
    }
    return render(request, "keys/list.html", context)


def _announce(request: WorkspaceRequest, key: ProviderKey, verb: str) -> None:
    """Tell the user what happened to the key, by label and hint only."""
    text = _("%(verb)s “%(label)s” (%(hint)s). %(status)s") % {
        "verb": verb,
        "label": key.label,
        "hint": key.hint,
        "status": services.shown(key.status_message),
    }
    if key.status in (ProviderKey.Status.RESTRICTED, ProviderKey.Status.UNVERIFIED):
        messages.warning(request, text)
    else:
        messages.success(request, text)


@never_cache
@require_GET
@workspace_required
def key_list(request: WorkspaceRequest) -> HttpResponse:
    return _list_page(request, AddKeyForm() if request.membership.is_admin else None)


@never_cache
@sensitive_post_parameters("api_key")
@require_http_methods(["GET", "POST"])
@admin_required
def add_key(request: WorkspaceRequest) -> HttpResponse:
    if request.method != "POST":
        return redirect("keys:list")
    form = AddKeyForm(request.POST)
    if form.is_valid():
        try:
            key = services.add_key(
                workspace=request.workspace,
                user=request.user,
                provider=form.cleaned_data["provider"],
                label=form.cleaned_data["label"],
                secret=form.cleaned_data["api_key"],
            )
        except services.VaultError as exc:
            form.add_error("api_key", services.shown(exc.message))
        else:
            _announce(request, key, _("Saved"))
            return redirect("keys:list")
    return _list_page(request, form)


@never_cache
@sensitive_post_parameters("usage-api_key")
@require_http_methods(["GET", "POST"])
@admin_required
def add_usage_key(request: WorkspaceRequest) -> HttpResponse:
    """Add a read-only usage key (Usage reports section); it can never generate."""
    if request.method != "POST":
        return redirect("keys:list")
    form = AddUsageKeyForm(request.POST)
    if form.is_valid():
        try:
            key = services.add_usage_key(
                workspace=request.workspace,
                user=request.user,
                provider=form.cleaned_data["provider"],
                label=form.cleaned_data["label"],
                secret=form.cleaned_data["api_key"],
            )
        except services.VaultError as exc:
            form.add_error("api_key", services.shown(exc.message))
        else:
            _announce(request, key, _("Saved the usage key"))
            return redirect(f"{reverse('keys:list')}#usage-reports")
    return _list_page(request, AddKeyForm(), form)


@never_cache
@admin_required
def retest_key(request: WorkspaceRequest, code: UUID) -> HttpResponse:
    key = _get_key(request, code)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        verdict = services.retest_key(key, user=request.user)
    except services.WrongKind as exc:
        messages.error(request, services.shown(exc.message))
        return redirect("keys:list")
    except services.KeyUnavailable:
        messages.error(
            request, _("“%(label)s” can no longer be decrypted. Re-enter this key.") % {"label": key.label}
        )
        return redirect("keys:list")
    text = f"“{key.label}” ({key.hint}): {services.shown(verdict.message)}"
    if verdict.status == ProviderKey.Status.VALID and verdict.verified:
        messages.success(request, text)
    elif verdict.status == ProviderKey.Status.INVALID:
        messages.error(request, text)
    else:
        messages.warning(request, text)
    return redirect("keys:list")


@never_cache
@sensitive_post_parameters("api_key")
@require_http_methods(["GET", "POST"])
@admin_required
def replace_key(request: WorkspaceRequest, code: UUID) -> HttpResponse:
    key = _get_key(request, code)
    data = request.POST if request.method == "POST" else None
    form = ReplaceKeyForm(data, provider=key.provider, usage=key.is_usage_key, label=key.label)
    if request.method == "POST" and form.is_valid():
        try:
            services.replace_key(
                key, user=request.user, secret=form.cleaned_data["api_key"], label=form.cleaned_data["label"]
            )
        except services.VaultError as exc:
            form.add_error("api_key", services.shown(exc.message))
        else:
            _announce(request, key, _("Replaced the key of"))
            return redirect("keys:list")
    latest = KeyUse.objects.filter(key=key).order_by("-created_at", "-id").first()
    context = {"key": key, "form": form, "needs_reentry": key.needs_reentry(latest)}
    return render(request, "keys/replace.html", context)


@never_cache
@require_http_methods(["GET", "POST"])
@admin_required
def delete_key(request: WorkspaceRequest, code: UUID) -> HttpResponse:
    key = _get_key(request, code)
    if request.method == "POST":
        services.delete_key(key, user=request.user)
        messages.success(
            request, _("Deleted “%(label)s” (%(hint)s).") % {"label": key.label, "hint": key.hint}
        )
        return redirect("keys:list")
    return render(request, "keys/delete.html", {"key": key})

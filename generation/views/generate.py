"""The generation form with its live quote, and one generation's live status page."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.http import HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST, require_safe

import providers
from accounts.http import WorkspaceRequest, require_form_methods, workspace_required
from generation import budgets, dates, money, previews, pricing, services
from generation.forms import GenerateForm, with_previews_default
from generation.models import CostRecord, GeneratedImage, Generation
from generation.references import send_size
from generation.scoping import get_generation, get_image, get_persona
from keys import services as vault
from keys.models import ProviderKey
from providers.decisions import Cancel

# Every second while a generation runs: a streamed preview shows within a second of arriving (D36).
POLL_SECONDS = 1


def _keys(request: WorkspaceRequest) -> list[ProviderKey]:
    return [key for name in providers.names() for key in vault.usable_keys(request.workspace, name)]


def _code(value: str | None) -> UUID | None:
    try:
        return UUID(value) if value else None
    except ValueError:
        return None


def _again(generation: Generation, keys: list[ProviderKey]) -> dict[str, Any]:
    """Return every setting of an earlier generation, as the form's initial values ("Generate again")."""
    initial: dict[str, Any] = {
        "persona": generation.persona,
        "prompt": generation.prompt,
        "model": generation.model,
        "size": generation.size,
        "quality": generation.quality,
        "background": generation.background,
        "n": generation.n,
        "previews": generation.partial_images > 0 or generation.n > 1,
    }
    if generation.provider_key_id in {key.pk for key in keys}:
        initial["provider_key"] = generation.provider_key
    # Its references too (issue 19): the persona's photos to tick again, the avatar of "more like this".
    refs = [r for r in generation.references or [] if isinstance(r, dict)]
    initial["references"] = [str(r.get("code")) for r in refs if r.get("kind") == "persona"]
    if like := next((str(r.get("code")) for r in refs if r.get("kind") == "image"), None):
        initial["like"] = like
    return initial


def _more_like_this(image: GeneratedImage, keys: list[ProviderKey]) -> dict[str, Any]:
    """Return the settings of the avatar's generation, with the avatar as the reference (issue 19)."""
    initial = _again(image.generation, keys)
    initial["like"] = image.code
    initial["references"] = []  # the avatar is the reference; the persona's photos can still be ticked
    initial["n"] = 1
    initial["change"] = "pose"
    return initial


def _form(request: WorkspaceRequest, data: QueryDict | None = None) -> GenerateForm:
    initial: dict[str, Any] = {}
    keys = _keys(request)
    persona_code = _code(request.GET.get("persona"))
    again_code = _code(request.GET.get("again"))
    like_code = _code(request.GET.get("like"))
    if data is None and like_code:
        initial = _more_like_this(get_image(request, like_code), keys)
    elif data is None and again_code:
        initial = _again(get_generation(request, again_code), keys)
    elif data is None and persona_code:
        persona = get_persona(request, persona_code)
        initial = {"persona": persona, "prompt": services.build_prompt(persona)}
    form = GenerateForm(data, workspace=request.workspace, keys=keys, initial=initial)
    if "model" in initial and (model := form.selected_model()) and model.id != initial["model"]:
        # The model is no longer offered (retired, or its key is gone): its size, quality and key would
        # not fit the default model the form falls back to. Keep the persona and the prompt only.
        initial = {k: initial[k] for k in ("persona", "prompt", "like") if k in initial}
        form = GenerateForm(data, workspace=request.workspace, keys=keys, initial=initial)
    return form


def _quote_context(request: WorkspaceRequest, form: GenerateForm) -> dict[str, Any]:
    """Return the price of what the form describes now, and the last similar request's actual cost."""
    # An unbound form shows its initial values (the defaults, or the settings of "Generate again").
    data = form.data if form.is_bound else form.initial
    model = form.selected_model()
    if model is None:
        return {}
    size = data.get("size")
    if size not in model.sizes:
        size = model.sizes[0]
    quality = data.get("quality") if data.get("quality") in model.qualities else None
    if quality is None and model.qualities:
        quality = "medium" if "medium" in model.qualities else model.qualities[0]
    try:
        n = min(max(int(data.get("n") or 1), 1), 4)
    except ValueError:
        n = 1
    adapter = providers.get(model.provider)
    # The checkbox as the form shows it: ticked by default, else as the request sent it.
    chosen = form.chosen_references()
    wanted = bool(form["previews"].value()) and not chosen  # edits are not streamed
    partials = services.preview_partials(model, previews=wanted, n=n)
    sizes = [send_size(ref.width, ref.height) for ref in chosen]
    prompt = data.get("prompt") or ""
    quote = pricing.quote(
        model, size=size, quality=quality, n=n, prompt=prompt, partial_images=partials, references=sizes
    )
    last = (
        CostRecord.objects.for_workspace(request.workspace)
        .filter(
            model=model.id,
            generation__width=int(size.split("x")[0]),
            generation__height=int(size.split("x")[1]),
            generation__quality=quality or "",
            generation__n=n,
        )
        .filter(generation__references=[])
        .exclude(amount_nanousd=None)
        .order_by("-created_at")
        .first()
        # References differ in size and number from one request to the next: no "last request like this".
        if not chosen
        else None
    )
    return {
        "quote": quote,
        "quote_display": money.format_usd(quote.amount_nanousd),
        "model_info": model,
        "adapter": adapter,
        "previews_offered": previews.offered(adapter),
        "shutdown_warning": model.shutdown_warning(dates.utc_today()),
        "last_cost": last,
        "n": n,
        "chosen_references": chosen,
        "like_image": form.like_image(),
    }


@require_form_methods
@workspace_required
def generate(request: WorkspaceRequest) -> HttpResponse:
    if request.method == "POST":
        form = _form(request, request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                generation = services.start_generation(
                    workspace=request.workspace,
                    user=request.user,
                    provider_key=data["provider_key"],
                    model=data["model_info"],
                    prompt=data["prompt"],
                    size=data["size"],
                    quality=data["quality"],
                    background=data["background"],
                    n=data["n"],
                    persona=data["persona"],
                    previews=data["previews"],
                    references=data["reference_objects"],
                )
            except (services.GenerationRefused, budgets.BudgetExceeded) as exc:
                form.add_error(None, str(exc))
            else:
                return redirect("generation:detail", code=generation.code)
    elif request.htmx and request.GET.get("fill") == "prompt":
        # The persona changed: offer its prompt (the user may still edit it).
        return render(request, "generation/generate.html#prompt", {"form": _form(request)})
    else:
        form = _form(request, with_previews_default(request.GET) if request.GET.get("model") else None)
    context = {
        "form": form,
        **_quote_context(request, form),
        "has_keys": bool(form.keys),
        "budget": budgets.status(request.workspace),
    }
    if request.htmx and request.GET.get("model"):
        # The model changed: re-render the options that depend on it, and the price.
        return render(request, "generation/generate.html#options", {**context, "quote_oob": True})
    return render(request, "generation/generate.html", context)


@require_GET
@workspace_required
def quote(request: WorkspaceRequest) -> HttpResponse:
    form = _form(request, with_previews_default(request.GET))
    return render(request, "generation/generate.html#quote", {"form": form, **_quote_context(request, form)})


def _progress(generation: Generation, now: datetime) -> tuple[str, str]:
    """Return what is happening (a sentence) and its short form for the tab title."""
    if generation.is_final:
        return "", str(generation.get_status_display())
    if generation.cancel_requested_at is not None:
        return (
            _("Cancelling: waiting for the provider to confirm; this page then says what was charged…"),
            _("Cancelling"),
        )
    if generation.status == Generation.Status.QUEUED:
        return _("Queued: waiting for a worker to send it to the provider…"), _("Queued")
    stage = generation.stage
    if stage == Generation.Stage.RETRYING:
        reason = _("rate limited") if generation.stage_detail == "rate_limited" else _("temporary error")
        if generation.retry_at and (wait := math.ceil((generation.retry_at - now).total_seconds())) > 0:
            return (
                _("Provider busy (%(reason)s), retrying in %(n)d s.") % {"reason": reason, "n": wait},
                _("Retrying in %(n)d s") % {"n": wait},
            )
        return _("Provider busy (%(reason)s), retrying now.") % {"reason": reason}, _("Retrying")
    if stage == Generation.Stage.CHECKING:
        return _("The images are back: checking and storing them…"), _("Checking images")
    if stage == Generation.Stage.PROVIDER:
        return _at_provider(generation)
    return _("Sending the request to the provider…"), _("Starting")


def _at_provider(generation: Generation) -> tuple[str, str]:
    """Return what the provider says it is doing (fal's queue position and status), or the previews so far."""
    status, _sep, position = generation.stage_detail.partition(":")
    if status == "IN_QUEUE" and position.isdigit():
        return (
            _("In the provider's queue: position %(n)s. The provider reports its status as IN_QUEUE.")
            % {"n": position},
            _("Queue position %(n)s") % {"n": position},
        )
    if status == "IN_QUEUE":
        return _("In the provider's queue. The provider reports its status as IN_QUEUE."), _("In queue")
    if status == "IN_PROGRESS":
        return (
            _(
                "The provider is drawing: it reports its status as IN_PROGRESS. This usually takes 10 to 60 seconds."
            ),
            _("Drawing"),
        )
    if generation.previews_received:
        return (
            _("The provider is drawing: preview %(n)d of %(total)d below; the final image follows.")
            % {"n": generation.previews_received, "total": max(generation.partial_images, 1)},
            _("Preview %(n)d") % {"n": generation.previews_received},
        )
    return (
        _("At the provider: the provider is drawing. This usually takes 10 to 60 seconds."),
        _("At the provider"),
    )


def _paid_with(generation: Generation, cost: CostRecord | None) -> str:
    """Return the key that paid as recorded (kept after the key is deleted), else the key it runs with."""
    if cost is not None and cost.key_display:
        return cost.key_display
    key = generation.provider_key
    return f"{key.label} ({key.hint})" if key is not None else ""


def _detail_context(generation: Generation) -> dict[str, Any]:
    now = timezone.now()
    # From the click to the end: the time a person waited, the queue included (started_at is when a
    # worker claimed the row, seconds later, which made a 6 s run read "4 s").
    elapsed = round(((generation.finished_at or now) - generation.created_at).total_seconds())
    progress, state = _progress(generation, now)
    name = generation.persona_name or _("Generation")
    cost = CostRecord.objects.filter(generation=generation).first()
    return {
        "paid_with": _paid_with(generation, cost),
        "generation": generation,
        "images": list(generation.images.all()) if generation.status == Generation.Status.SUCCEEDED else [],
        "cost": cost,
        "elapsed": max(elapsed, 0),
        "progress": progress,
        "page_title": f"{state} – {name}",
        "poll_seconds": POLL_SECONDS,
        "preview": bool(generation.preview.name) and not generation.is_final,
    }


@require_safe
@workspace_required
def generation_detail(request: WorkspaceRequest, code: UUID) -> HttpResponse:
    generation = get_generation(request, code)
    return render(request, "generation/detail.html", _detail_context(generation))


@require_GET
@workspace_required
def generation_status(request: WorkspaceRequest, code: UUID) -> HttpResponse:
    generation = get_generation(request, code)
    # With a <title> at the top level of the answer: htmx sets the tab's title from it.
    context = {**_detail_context(generation), "title_oob": True}
    return render(request, "generation/detail.html#status", context)


@require_POST
@workspace_required
def cancel_generation(request: WorkspaceRequest, code: UUID) -> HttpResponse:
    """Cancel a queued or running generation (D32); the page then says what was charged."""
    generation = get_generation(request, code)
    verdict, message = services.cancel_generation(generation)
    if verdict is Cancel.TOO_LATE:
        messages.warning(request, message)
    elif verdict is Cancel.ASK_WORKER:
        messages.info(request, message)
    # Otherwise it is cancelled now, and its page says so (and what was charged) where it shows the status.
    return redirect("generation:detail", code=generation.code)

"""Actions on personas and generations called by views (the worker side is in pipeline.py)."""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

import providers
from accounts.models import User, Workspace
from generation import budgets, catalog, pipeline, pricing, storage, tasks
from generation import previews as generation_previews
from generation.models import GeneratedImage, Generation, Persona, PersonaReference
from generation.references import MAX_REFERENCES, CleanReference, send_size
from keys.models import ProviderKey
from providers.adapter import Capability
from providers.decisions import Cancel, CancelAsked, on_cancel

logger = logging.getLogger(__name__)


class GenerationRefused(Exception):
    """The request cannot start (for example a budget cap); the message says why, with numbers."""


def build_prompt(persona: Persona) -> str:
    """Return an image prompt from the persona's structured fields."""
    # Keyed by str: the field holds the choice's value, which an ArtStyle member equals.
    styles: dict[str, str] = {
        Persona.ArtStyle.PHOTO: "A photo-realistic portrait photograph",
        Persona.ArtStyle.RENDER_3D: "A 3D-rendered character portrait",
        Persona.ArtStyle.ILLUSTRATION: "A digital illustration portrait",
        Persona.ArtStyle.ANIME: "An anime-style character portrait",
        Persona.ArtStyle.FLAT_VECTOR: "A flat vector avatar illustration",
        Persona.ArtStyle.WATERCOLOR: "A watercolor portrait painting",
    }
    style = styles.get(persona.art_style, "A portrait")
    who = []
    if persona.age_range:
        who.append(
            {"child": "a child", "teen": "a teenager", "65+": "a person over 65"}.get(
                persona.age_range, f"a person aged {persona.age_range}"
            )
        )
    else:
        who.append("a person")
    if persona.gender_presentation:
        who.append(f"with a {persona.gender_presentation} gender presentation")
    if persona.role:
        who.append(f"who works as {persona.role}")
    parts = [f"{style} of {' '.join(who)}, for a user persona named {persona.name}."]
    if persona.appearance:
        parts.append(f"Appearance: {persona.appearance.strip()}.")
    if persona.expression:
        parts.append(f"Expression: {persona.expression.strip()}.")
    if persona.clothing:
        parts.append(f"Clothing: {persona.clothing.strip()}.")
    if persona.setting:
        parts.append(f"Background: {persona.setting.strip()}.")
    if persona.notes:
        parts.append(persona.notes.strip())
    parts.append("Head and shoulders, centered, friendly and professional, suitable as a profile avatar.")
    return " ".join(p.replace("..", ".") for p in parts)


def start_generation(
    *,
    workspace: Workspace,
    user: User,
    provider_key: ProviderKey,
    model: catalog.Model,
    prompt: str,
    size: str,
    quality: str = "",
    background: str = "",
    n: int = 1,
    persona: Persona | None = None,
    previews: bool = False,
    references: Sequence[PersonaReference | GeneratedImage] = (),
) -> Generation:
    """Create a queued generation with its quote reserved, and enqueue it once committed.

    `previews`: show partial images while the provider draws, where its adapter streams them (each
    adds to the price; the quote counts them).

    Raises GenerationRefused, or budgets.BudgetExceeded when the quote does not fit in the month's cap
    or in the member's or the key's monthly limit.
    """
    if provider_key.workspace_id != workspace.pk or provider_key.provider != model.provider:
        raise GenerationRefused(_("Choose a key of this workspace for the model's provider."))
    if provider_key.is_usage_key:
        raise GenerationRefused(_("A read-only usage key cannot generate. Choose a generation key."))
    if any(ref.workspace_id != workspace.pk for ref in references):
        raise GenerationRefused(_("Choose reference images of this workspace."))
    if references and Capability.EDIT not in providers.get(model.provider).capabilities:
        raise GenerationRefused(_("This model's provider cannot make images from references here."))
    # Edits are not streamed: previews only for text to image.
    partials = preview_partials(model, previews=previews and not references, n=n)
    sizes = [send_size(ref.width, ref.height) for ref in references]
    quote = pricing.quote(
        model,
        size=size,
        quality=quality or None,
        n=n,
        prompt=prompt,
        partial_images=partials,
        references=sizes,
    )
    width, height = catalog.parse_size(size)
    with transaction.atomic():
        # Checked and reserved in one transaction under the workspace's row lock: concurrent
        # submissions cannot together pass the workspace's cap, the member's limit or the key's.
        checked = budgets.check_and_lock(workspace, quote.amount_nanousd, member=user, key=provider_key)
        generation = Generation.objects.create(
            workspace=workspace,
            created_by=user,
            persona=persona,
            persona_name=persona.name if persona else "",
            provider_key=provider_key,
            provider=model.provider,
            model=model.id,
            prompt=prompt,
            width=width,
            height=height,
            quality=quality,
            background=background,
            output_format=model.output_format,
            n=n,
            partial_images=partials,
            references=[
                {"kind": "persona" if isinstance(ref, PersonaReference) else "image", "code": str(ref.code)}
                for ref in references
            ],
            quote_nanousd=quote.amount_nanousd,
            quote_exact=quote.exact,
            reserved_nanousd=quote.amount_nanousd,
        )
        budgets.alert_managers(workspace, checked, quote.amount_nanousd)
        # Ids only, and only after commit: the worker must find the row, and never sees a secret. Robust:
        # if the broker is down, the row is already committed with its reservation; the user is sent to
        # it (queued) instead of an error page that invites a second, doubly reserved request, and the
        # sweep sends it again (sweep_stale_generations, every minute, after 10).
        transaction.on_commit(lambda: tasks.run_generation.delay(generation.pk), robust=True)
    logger.info("generation %s queued: %s x%d", generation.code, model.id, n)
    return generation


def preview_partials(model: catalog.Model, *, previews: bool, n: int) -> int:
    """Return the partial images a generation asks for (0 when its provider streams none)."""
    return generation_previews.partial_images(providers.get(model.provider), wanted=previews, n=n)


# Cancelling (docs/decisions.md D32)

# Shown once, as a message in the user's language (not stored: what is stored is pipeline's sentence);
# marked here, translated where they are returned.
CANCEL_ASKED = gettext_noop(
    "Cancelling: the worker is asking %(provider)s to stop the request. This page shows what was charged "
    "once it has answered."
)
ALREADY_FINISHED = gettext_noop("This generation had already finished, so there was nothing to cancel.")
IMAGES_BACK = gettext_noop(
    "Too late to cancel: the provider has already made the images, and billed them. They are being stored."
)


def cancel_generation(generation: Generation) -> tuple[Cancel, str]:
    """Cancel a queued or running generation; return what was done and the sentence that says so.

    A queued one, or one between calls, ends at once with nothing charged. An OpenAI call that is out
    cannot be stopped at OpenAI: the generation ends at once as cancelled, possibly charged (the worker
    makes the amount exact if the answer comes after all). A fal generation is cancelled at fal by its
    worker, which finishes it from fal's answer. In every case no new request is sent afterwards.
    """
    adapter = providers.get(generation.provider)
    now = timezone.now()
    queued = Generation.objects.filter(pk=generation.pk, status=Generation.Status.QUEUED)
    # A queued row is not the worker's yet: whichever of this UPDATE and the worker's claim comes first wins.
    if queued.update(
        status=Generation.Status.CANCELED,
        cancel_requested_at=now,
        finished_at=now,
        reserved_nanousd=0,
        error_message=pipeline.CANCELLED_NOTHING_CHARGED,
    ):
        logger.info("generation %s: cancelled while queued", generation.code)
        return Cancel.NOTHING_SENT, pipeline.CANCELLED_NOTHING_CHARGED
    with transaction.atomic():
        row = Generation.objects.select_for_update().filter(pk=generation.pk).first()
        if row is None:
            return Cancel.TOO_LATE, _(ALREADY_FINISHED)
        verdict = on_cancel(
            CancelAsked(
                final=row.is_final,
                queued=row.status == Generation.Status.QUEUED,
                provider_cancels=adapter.provider_cancels,
                calls_started=row.attempts,
                stage=row.stage,
            )
        )
        if verdict is Cancel.TOO_LATE:
            return verdict, _(ALREADY_FINISHED if row.is_final else IMAGES_BACK)
        # From here the worker sends no new request (pipeline._renew_lease before a call).
        Generation.objects.filter(pk=row.pk, cancel_requested_at=None).update(cancel_requested_at=now)
        if verdict is Cancel.ASK_WORKER:
            return verdict, _(CANCEL_ASKED) % {"provider": adapter.label}
        stop_waiting = verdict is Cancel.STOP_WAITING
        message = pipeline.CANCELLED_POSSIBLY_CHARGED if stop_waiting else pipeline.CANCELLED_NOTHING_CHARGED
        pipeline.finish(
            row,
            None,
            status=Generation.Status.CANCELED,
            message=message,
            outcome=(
                pipeline.interrupted(row, pipeline.STOPPED_WAITING_CHARGE.format(provider=adapter.label))
                if stop_waiting
                else None
            ),
            model=catalog.load().get(row.model),
        )
    logger.info("generation %s: cancelled while running (%s)", generation.code, verdict)
    return verdict, message


# Reference photos (issue 19): stored cleaned, private, deleted with their persona.


def add_references(
    *, persona: Persona, photos: list[tuple[str, CleanReference]], by: User
) -> list[PersonaReference]:
    """Store cleaned reference photos for `persona` (checked by the form); the uploader consented now.

    Raises GenerationRefused when the persona has no room left, storage.StorageFailed when the storage
    did not take the files (then none is kept, rows or files)."""
    now = timezone.now()
    rows = []
    with transaction.atomic():
        # Counted under the persona's row lock: two uploads at once cannot pass the limit together.
        Persona.objects.select_for_update().filter(pk=persona.pk).first()
        room = MAX_REFERENCES - persona.references.count()
        if len(photos) > room:
            raise GenerationRefused(
                _("A persona holds at most %(max)d reference photos.") % {"max": MAX_REFERENCES}
            )
        files = []
        for name, clean in photos:
            row = PersonaReference(
                workspace=persona.workspace,
                persona=persona,
                created_by=by,
                original_name=name,
                width=clean.width,
                height=clean.height,
                content_type=clean.content_type,
                size_bytes=len(clean.data),
                consent_at=now,
            )
            ext = "png" if clean.content_type == "image/png" else "jpg"
            files.append((row.file, f"{secrets.token_urlsafe(24)}.{ext}", clean.data))
            rows.append(row)
        storage.save_all(files)  # all or none
        try:
            for row in rows:
                row.save()
        except Exception:
            storage.delete_all((row.file.storage, row.file.name) for row in rows if row.file.name)
            raise
    logger.info("persona %s: %d reference photo(s) added", persona.code, len(rows))
    return rows


def delete_files_on_commit(files: list[tuple[Any, str]]) -> None:
    """Delete stored files once the transaction that removed their rows has committed."""
    transaction.on_commit(functools.partial(storage.delete_all, files))


def delete_reference(reference: PersonaReference) -> None:
    files = [(reference.file.storage, reference.file.name)] if reference.file.name else []
    reference.delete()
    delete_files_on_commit(files)


def delete_persona(persona: Persona) -> None:
    """Delete a persona and its reference photos (rows and files); its generations keep their images."""
    files = [(r.file.storage, r.file.name) for r in persona.references.all() if r.file.name]
    persona.delete()
    delete_files_on_commit(files)

"""The worker side of a generation: claim the row, call the provider, store images and cost.

Invariants (docs/architecture.md §5):
- One attempt owns a running row (`attempt`); a duplicated or redelivered task that cannot claim it
  does nothing, so a generation is never sent to the provider twice by two tasks.
- The key is decrypted just before the provider call, lives only in `_call_provider`'s frame and the
  adapter's call beneath it, and no database connection is held while waiting on the provider.
- What is provider-specific (requests, retries, whether a failure was billed, costs) is the provider's
  adapter (`providers.get(generation.provider)`); this module owns the row, the lease and the files.
- Request ids are saved right after submit: a restarted task resumes them instead of paying again.
- Every generation ends in a final state with a message, and every charge has a cost record.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import logging
import secrets
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

import providers
from generation import catalog, previews, references, storage
from generation.images import CheckedImage, ImageRejected, check_image, make_thumbnail
from generation.models import CostRecord, GeneratedImage, Generation, PersonaReference, UnavailableModel
from generation.usage.roll_ups import roll_up, settle_unknown
from keys import services as vault
from keys.models import ProviderKey
from providers.adapter import Adapter, Call, CancelRequested, Outcome, Stage
from providers.base import ErrorKind, ImageRequest, ProviderError, ProviderImage, gettext_noop
from providers.decisions import RETRY_AFTER_CAP, Action, Interrupted, after_interruption

logger = logging.getLogger(__name__)

# What a generation's page says about how it ended; stored in English as written here and translated where
# shown (generation/stored_text.py), so gettext_noop only marks them for the catalogue.
KEY_MISMATCH_MESSAGE = gettext_noop(
    "The API key of this generation does not belong to this workspace and provider, so it was not used "
    "and nothing was charged. Choose one of this workspace's keys and try again."
)
KEY_DELETED_MESSAGE = gettext_noop(
    "The API key for this generation was deleted. Add a key on the API keys page and try again."
)
OUR_SIDE_MESSAGE = gettext_noop(
    "Something went wrong on our side. Nothing more will be sent to the provider; try again."
)
STORAGE_FAILED_MESSAGE = gettext_noop(
    "The provider made the images, but our file storage failed while saving them, so none were kept. "
    "The provider's charge is recorded below; try again."
)
NOTHING_CHARGED_MESSAGE = gettext_noop(
    "The worker stopped before this generation finished. Nothing was charged; try again."
)
UNREADABLE_CHARGE = gettext_noop(
    "The provider billed this request but its answer could not be read, so the amount is unknown."
)
OUR_ERROR_CHARGE = gettext_noop(
    "Something went wrong on our side after the request was sent; the provider may have billed it."
)
INTERRUPTED_CHARGE = gettext_noop(
    "The worker stopped while the provider was working on this request; the provider may have billed it."
)
USAGE_KEY_MESSAGE = gettext_noop(
    "The key chosen for this generation is a read-only usage key: it reads usage reports and can never "
    "generate. Nothing was sent to the provider; choose a generation key and try again."
)
CANCELLED_NOTHING_CHARGED = gettext_noop(
    "Cancelled before the provider started on it, so nothing was charged."
)
CANCELLED_POSSIBLY_CHARGED = gettext_noop(
    "Cancelled, but the provider had already started and may bill it: see the cost below."
)
CANCELLED_CHARGED = gettext_noop(
    "Cancelled. The provider had already finished part of it, which was billed: see the cost below."
)
TOO_LATE_TO_CANCEL = gettext_noop(
    "The cancel came too late: the provider had already finished, so the images are here and billed."
)
CANCELLED_PARTLY = gettext_noop(
    "{made} of {n} images were made before the cancel, and are billed; the rest were cancelled."
)
STOPPED_WAITING_CHARGE = gettext_noop(
    "Cancelled while {provider} was generating: it cannot be stopped there, and it generates and bills the "
    "images whether or not anyone reads the answer. The amount is unknown until its answer arrives."
)
LATE_ANSWER_MESSAGE = gettext_noop(
    "Cancelled while {provider} was generating. Its answer came afterwards: the cost below is what it billed "
    "(the images were not kept)."
)
LATE_REFUSAL_NOTE = gettext_noop(
    "{provider} answered after the cancel with a refusal, which it does not bill."
)
NOT_SENT_AGAIN = gettext_noop(
    "It was not sent again, so it cannot be paid twice; Usage shows it as possibly charged."
)
IMAGES_MADE = gettext_noop("{made} of {n} images were made.")  # then why the others were not
TRY_AGAIN = gettext_noop("Try again.")  # after why an image the provider sent was refused
# Waiting this long for a finish slot renews the lease before finishing (a normal wait is milliseconds).
LONG_SLOT_WAIT = 30.0
# fal keeps a request's result for hours: past this, a vanished worker's requests are not resumed.
RESUME_WITHIN = timedelta(hours=6)


def _timeout() -> float:
    return float(settings.PROVIDER_TIMEOUT_SECONDS)


def _lease_length() -> timedelta:
    # One provider call plus its longest retry wait and some slack; renewed before every call.
    return timedelta(seconds=_timeout() + RETRY_AFTER_CAP + 60)


def _safety_identifier(generation: Generation) -> str:
    """Return a stable, hashed end-user id (OpenAI abuse monitoring) that reveals nobody's email."""
    raw = f"{generation.workspace.code}:{generation.created_by_id}".encode()
    return hashlib.sha256(raw).hexdigest()[:32]


# Claiming and leases


def claim(generation_id: int, attempt: uuid.UUID) -> Generation | None:
    """Make `attempt` the owner of the row, or return None if another attempt owns it or it is final."""
    now = timezone.now()
    claimable = Q(status=Generation.Status.QUEUED) | Q(
        status=Generation.Status.RUNNING, lease_expires_at__lt=now
    )
    updated = Generation.objects.filter(claimable, pk=generation_id).update(
        status=Generation.Status.RUNNING,
        attempt=attempt,
        lease_expires_at=now + _lease_length(),
        started_at=Coalesce(F("started_at"), now),
        stage=Generation.Stage.STARTING,
        stage_detail="",
        retry_at=None,
    )
    if not updated:
        return None
    # The key's own workspace too: the vault binds the ciphertext to its code.
    return Generation.objects.select_related("workspace", "provider_key__workspace").get(pk=generation_id)


def _renew_lease(generation: Generation, attempt: uuid.UUID, *, calling: bool = False, **fields: Any) -> None:
    """Extend our lease (and save `fields`); raise LostLease when another attempt took the row over.

    Before a provider call (`calling`), raise CancelRequested instead when the user asked to cancel:
    in the same UPDATE, so that a cancel and a new call never cross (D32).
    """
    owned = Generation.objects.filter(pk=generation.pk, attempt=attempt, status=Generation.Status.RUNNING)
    rows = owned.filter(cancel_requested_at=None) if calling else owned
    updated = rows.update(lease_expires_at=timezone.now() + _lease_length(), **fields)
    if not updated:
        if calling and owned.exists():
            raise CancelRequested
        raise LostLease
    release_connection()


def release_connection() -> None:
    """Do not hold a connection while waiting on the provider (tens of seconds per call): on PostgreSQL it
    goes back to the process's pool for other threads. Inside an atomic block (tests that wrap everything
    in a transaction) closing would abort it."""
    if not connection.in_atomic_block:
        connection.close()


class LostLease(Exception):
    """Another attempt owns the row now (or it was finished); stop without writing anything."""


# The provider call: the plaintext key exists only inside this function and the adapter's call beneath.
# (@sensitive_variables: Django's error reports show none of its locals, nor those of the calls beneath.)


# References (issue 19): loaded here, from storage, within the generation's own workspace only.

REFERENCE_GONE_MESSAGE = (
    "A reference image of this generation was deleted before it was sent, so nothing was sent or "
    "charged. Choose the references again and generate."
)


class ReferenceUnavailable(Exception):
    """A reference the generation names is gone (or is not of its workspace): nothing is sent."""


def load_references(generation: Generation) -> tuple[ProviderImage, ...]:
    """Return the generation's reference images, scaled as they are sent, in the order it names them.

    Looked up by code *within the generation's workspace*: a code of another workspace's photo or
    avatar (a row written by hand, a bug) finds nothing and stops the run, so one workspace's
    references can never be sent with another's request. Task arguments carry only the generation's id.
    """
    wanted = [(str(r.get("kind")), str(r.get("code"))) for r in generation.references or []]
    if not wanted:
        return ()
    found: dict[tuple[str, str], Any] = {}
    persona_codes = [code for kind, code in wanted if kind == "persona"]
    image_codes = [code for kind, code in wanted if kind == "image"]
    try:
        for ref in PersonaReference.objects.filter(
            workspace_id=generation.workspace_id, code__in=persona_codes
        ):
            found["persona", str(ref.code)] = ref.file
        for image in GeneratedImage.objects.filter(
            workspace_id=generation.workspace_id, code__in=image_codes
        ):
            found["image", str(image.code)] = image.file
    except ValidationError:  # a code that is not a UUID
        raise ReferenceUnavailable(generation.code) from None
    if len(found) != len(set(wanted)):
        logger.warning("generation %s: a reference is gone or not of its workspace", generation.code)
        raise ReferenceUnavailable(generation.code)
    loaded = []
    for key in wanted:
        with found[key].open("rb") as f:
            loaded.append(references.for_provider(f.read()))
    return tuple(loaded)


def _request_for(generation: Generation, model: catalog.Model) -> ImageRequest:
    refs = load_references(generation)
    return ImageRequest(
        references=refs,
        input_fidelity=(model.input_fidelity or None) if refs else None,
        model=generation.model,
        prompt=generation.prompt,
        width=generation.width,
        height=generation.height,
        quality=generation.quality or None,
        background=generation.background or None,
        output_format=model.output_format,
        n=generation.n,
        safety_identifier=_safety_identifier(generation),
        partial_images=generation.partial_images,
    )


@sensitive_variables()
def _call_provider(
    generation: Generation, key: ProviderKey, attempt: uuid.UUID, model: catalog.Model, adapter: Adapter
) -> Outcome:
    """Decrypt the key and let the provider's adapter make the request; raise KeyUnavailable."""
    # A request made or waited on is at the provider: said in the renewal made anyway, no extra query.
    at_provider: dict[str, Any] = {"stage": Generation.Stage.PROVIDER, "stage_detail": "", "retry_at": None}
    # The stage and detail last written by this attempt.
    shown: list[tuple[str, str]] = [(Generation.Stage.STARTING, "")]

    def before_call() -> None:
        _renew_lease(generation, attempt, calling=True, attempts=F("attempts") + 1, **at_provider)
        shown[0] = (Generation.Stage.PROVIDER, "")

    def keep_alive() -> None:
        _renew_lease(generation, attempt, **at_provider)
        shown[0] = (Generation.Stage.PROVIDER, "")

    def on_progress(stage: Stage, detail: str, retry_at: datetime | None) -> None:
        # Written only when it changes: "at the provider" right after a renewal costs nothing, and so does
        # the provider's status polled again unchanged (fal: IN_QUEUE:2). A retry's wait renews the lease
        # too (it may be long).
        value, detail = Generation.Stage(stage.value), detail[:30]
        if (value, detail) == shown[0] and value != Generation.Stage.RETRYING:
            return
        _renew_lease(generation, attempt, stage=value, stage_detail=detail, retry_at=retry_at)
        shown[0] = (value, detail)

    def save_requests(entries: list[dict[str, Any]]) -> None:
        _renew_lease(generation, attempt, provider_requests=entries)

    def cancel_requested() -> bool:
        asked = Generation.objects.filter(pk=generation.pk).exclude(cancel_requested_at=None).exists()
        release_connection()
        return asked

    call = Call(
        request=_request_for(generation, model),
        timeout=_timeout(),
        before_call=before_call,
        keep_alive=keep_alive,
        save_requests=save_requests,
        saved=list(generation.provider_requests or []) if adapter.resumable else [],
        log_name=str(generation.code),
        on_progress=on_progress,
        cancel_requested=cancel_requested,
        on_partial=previews.sink(generation, attempt) if generation.partial_images else None,
    )
    secret = vault.decrypt_for_provider_call(key, generation_code=generation.code)
    return adapter.run(secret, call)


# Finishing


def _store_files(generation: Generation, images: list[CheckedImage]) -> list[GeneratedImage]:
    """Write verified images and their thumbnails under unguessable names; return unsaved rows.

    All of them or none: raise StorageFailed with nothing left in the storage.
    """
    rows, files = [], []
    for index, checked in enumerate(images):
        ext = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}[checked.content_type]
        name = secrets.token_urlsafe(24)
        row = GeneratedImage(
            code=uuid.uuid4(),
            workspace=generation.workspace,
            generation=generation,
            index=index,
            width=checked.width,
            height=checked.height,
            content_type=checked.content_type,
            size_bytes=len(checked.data),
            sha256=checked.sha256,
        )
        files += [
            (row.file, f"{name}.{ext}", checked.data),
            (row.thumbnail, f"{name}.thumb.webp", checked.thumbnail),
        ]
        rows.append(row)
    storage.save_all(files)
    return rows


def _delete_files(rows: list[GeneratedImage]) -> None:
    storage.delete_all((f.storage, f.name) for row in rows for f in (row.file, row.thumbnail) if f.name)


def finish(
    generation: Generation,
    attempt: uuid.UUID | None,
    *,
    status: str,
    error: ProviderError | None = None,
    message: str = "",
    outcome: Outcome | None = None,
    model: catalog.Model | None = None,
    rows: Sequence[GeneratedImage] = (),
    lease_expired_before: datetime | None = None,
) -> bool:
    """Save image rows (files already stored), cost record and final status in one transaction.

    Returns False if we no longer own the row. The caller that stored the rows' files deletes them when
    this does not return True. The sweep passes `lease_expired_before`: a row claimed again (or whose
    lease was renewed) since the sweep saw it stale is not its to finish.
    """
    try:
        with transaction.atomic():
            owned = Generation.objects.select_for_update().filter(
                pk=generation.pk, status=Generation.Status.RUNNING
            )
            if attempt is not None:
                owned = owned.filter(attempt=attempt)
            if lease_expired_before is not None:
                owned = owned.filter(lease_expires_at__lt=lease_expired_before)
            # Only what the charge needs: the row is written back below with the fields that change.
            locked = owned.only("created_by_id", "quote_nanousd", "cancel_requested_at", "preview").first()
            if locked is None:
                raise LostLease
            for row in rows:
                row.save()
            message = _too_late_to_cancel(locked, status, outcome, message)
            locked.status = status
            locked.error_kind = error.kind if error else ""
            locked.error_message = message or (error.user_message if error else "")
            locked.finished_at = timezone.now()
            locked.reserved_nanousd = 0
            locked.lease_expires_at = None
            changed = [
                "status",
                "error_kind",
                "error_message",
                "finished_at",
                "reserved_nanousd",
                "lease_expires_at",
            ]
            _drop_preview(locked, changed)
            adapter = providers.get(generation.provider)
            if outcome is not None and outcome.request_ids and not adapter.resumable:
                # A resumable adapter saved its requests as it made them; the others' ids are kept here.
                locked.provider_requests = [{"request_id": rid} for rid in outcome.request_ids]
                changed.append("provider_requests")
            locked.save(update_fields=changed)
            if outcome is not None and model is not None and (outcome.billed or outcome.possibly_billed):
                _record_charge(generation, locked, adapter, model, outcome, images=len(rows))
    except LostLease:
        return False
    return True


def _drop_preview(locked: Generation, changed: list[str]) -> None:
    """Forget the generation's live preview as it ends, and delete its file once that is committed."""
    name = locked.preview.name
    if name:
        locked.preview = ""  # a FileField takes a name
        changed.append("preview")
        transaction.on_commit(lambda: previews.discard(name))


def _too_late_to_cancel(locked: Generation, status: str, outcome: Outcome | None, message: str) -> str:
    """Return `message`, saying first that the cancel came too late when everything was made anyway."""
    if status != Generation.Status.SUCCEEDED or locked.cancel_requested_at is None:
        return message
    if outcome is not None and outcome.cancelled:
        return message  # some requests were cancelled: the message says how many images were made
    return f"{TOO_LATE_TO_CANCEL} {message}".strip()


def _record_charge(
    generation: Generation,
    locked: Generation,
    adapter: Adapter,
    model: catalog.Model,
    outcome: Outcome,
    *,
    images: int,
) -> None:
    """Write the generation's cost record (inside finish()'s transaction) and add it to the roll-ups.

    A charge that may have happened has an unknown amount (never $0) and its reason; so has a billed
    answer whose usage could not be read.
    """
    if outcome.possibly_billed:
        amount, charge, reason = None, CostRecord.Charge.POSSIBLE, outcome.possible_reason
    else:
        amount, charge = adapter.cost(outcome.usage, model.price), CostRecord.Charge.CHARGED
        reason = "" if amount is not None else UNREADABLE_CHARGE
    input_amount = adapter.input_cost(outcome.usage, model.price) if amount is not None else None
    exceeded = amount is not None and amount > locked.quote_nanousd
    if exceeded:
        logger.error(
            "pricing bug: generation %s cost %d nano-USD, above its quote of %d (%s)",
            generation.code,
            amount,
            locked.quote_nanousd,
            generation.model,
        )
    # Who paid: the member, and the key named as it is now (kept if the key is deleted later).
    keys = ProviderKey.objects.filter(pk=generation.provider_key_id) if generation.provider_key_id else None
    key = keys.values("pk", "label", "hint").first() if keys is not None else None
    record = CostRecord.objects.create(
        workspace=generation.workspace,
        created_by_id=locked.created_by_id,  # NULL if the member left meanwhile
        generation=locked,
        provider_key_id=key["pk"] if key else None,  # NULL if the key was deleted meanwhile
        key_label=key["label"] if key else "",
        key_hint=key["hint"] if key else "",
        provider=generation.provider,
        model=generation.model,
        usage=outcome.usage,
        unit_prices=model.price,
        price_version=catalog.load().version,
        amount_nanousd=amount,
        input_nanousd=input_amount,
        exceeded_quote=exceeded,
        provider_request_ids=outcome.request_ids,
        images=images,
        charge=charge,
        unknown_reason=reason[:1000],
    )
    # Last before the commit: every worker adds to this month's row, so hold its lock briefly.
    roll_up([record])


def run_generation(generation_id: int) -> bool:
    """Run one generation to a final state (the Celery task's body); return whether this attempt ran it."""
    attempt = uuid.uuid4()
    generation = claim(generation_id, attempt)
    if generation is None:
        logger.info("generation %s: not claimable (owned by another attempt or final)", generation_id)
        return False
    try:
        _run_claimed(generation, attempt)
    except LostLease:
        logger.warning("generation %s: lease lost to another attempt; stopping", generation.code)
        return False
    except Exception:
        # Nothing may be lost: an unexpected error still ends the generation where the user sees it.
        logger.exception("generation %s: unexpected error", generation.code)
        _finish_after_our_error(generation, attempt)
    return True


def _finish_after_our_error(generation: Generation, attempt: uuid.UUID) -> None:
    """Fail a generation our own code broke; a call already started is on the books as possibly charged.

    The error may have come after a provider call began (say the database refused a lease renewal after
    fal queued a request): that request can still run and bill, so it gets its cost record.
    """
    row = Generation.objects.filter(pk=generation.pk).only("attempts", "provider_requests").first()
    started = row is not None and (row.attempts > 0 or bool(row.provider_requests))
    if not started or row is None:
        finish(generation, attempt, status=Generation.Status.FAILED, message=OUR_SIDE_MESSAGE)
        return
    finish(
        generation,
        attempt,
        status=Generation.Status.FAILED,
        message=OUR_SIDE_MESSAGE,
        outcome=interrupted(row, OUR_ERROR_CHARGE),
        model=catalog.load().get(generation.model),
    )


_SLOTS_LOCK = threading.Lock()


@functools.cache
def _slots(size: int) -> threading.BoundedSemaphore:
    return threading.BoundedSemaphore(size)


def finish_slot() -> threading.BoundedSemaphore:
    """Return the worker's gate for finishing generations after their calls (WORKER_FINISH_SLOTS).

    Many threads wait on providers at once, but answers that arrive together would otherwise all be
    checked, thumbnailed and written to the database at once, sharing the GIL, the cores and the pool's
    connections: each would finish as late as the last, and free its thread for the next generation
    just as late. Through the gate they take turns (roughly in the order they arrive), and the first
    ones finish at once. Files are written between the two turns a generation takes, outside the gate,
    so a slow storage upload holds up only its own generation.
    """
    with _SLOTS_LOCK:  # one semaphore per size, even when the first threads ask together
        return _slots(settings.WORKER_FINISH_SLOTS)


def _run_claimed(generation: Generation, attempt: uuid.UUID) -> None:
    model = catalog.load().get(generation.model)
    key = generation.provider_key
    if key is None:
        finish(
            generation,
            attempt,
            status=Generation.Status.FAILED,
            message=KEY_DELETED_MESSAGE,
        )
        return
    if key.workspace_id != generation.workspace_id or key.provider != generation.provider:
        # Only a row written by hand gets here (start_generation checks; PostgreSQL refuses the row):
        # refuse before decrypting, so another workspace's key is never used or charged.
        logger.error(
            "generation %s: refused key %s of another workspace or provider", generation.code, key.code
        )
        finish(generation, attempt, status=Generation.Status.FAILED, message=KEY_MISMATCH_MESSAGE)
        return
    if key.is_usage_key:
        # Never sent anywhere: a usage key reads reports only (the vault would refuse it too).
        finish(generation, attempt, status=Generation.Status.FAILED, message=USAGE_KEY_MESSAGE)
        return
    adapter = providers.get(generation.provider)
    if not adapter.resumable and generation.attempts > 0:
        # A previous attempt died during the call. Calling again could bill twice: stop here, and put
        # the call on the books as possibly charged.
        finish(
            generation,
            attempt,
            status=Generation.Status.FAILED,
            message=adapter.interrupted_message,
            outcome=interrupted(generation),
            model=model,
        )
        return
    try:
        outcome = _call_provider(generation, key, attempt, model, adapter)
    except vault.KeyUnavailable as exc:
        finish(generation, attempt, status=Generation.Status.FAILED, message=str(exc))
        return
    except ReferenceUnavailable:
        finish(generation, attempt, status=Generation.Status.FAILED, message=REFERENCE_GONE_MESSAGE)
        return
    except CancelRequested:
        # Cancelled before this call sent anything (earlier tries, if any, were refused: not billed).
        finish(generation, attempt, status=Generation.Status.CANCELED, message=CANCELLED_NOTHING_CHARGED)
        return
    try:
        saved = _conclude(generation, attempt, key, model, outcome)
    except LostLease:
        _late_answer(generation, attempt, model, adapter, outcome)
        raise
    if not saved:
        _late_answer(generation, attempt, model, adapter, outcome)


def _conclude(
    generation: Generation, attempt: uuid.UUID, key: ProviderKey, model: catalog.Model, outcome: Outcome
) -> bool:
    """Check and store what came back and finish; return whether this attempt saved the generation's end."""
    try:
        if outcome.images:
            # One write per generation, for the person watching: the images are being checked and stored.
            _renew_lease(generation, attempt, stage=Generation.Stage.CHECKING, stage_detail="", retry_at=None)
        with _turn(generation, attempt):
            checked, rejected = _check_images(generation, outcome)
        return _settle(generation, attempt, key, model, outcome, checked, rejected)
    except LostLease:
        raise
    except storage.StorageFailed:
        # The images were made (and billed) but could not be kept: the storage wrote none of them.
        logger.exception(
            "generation %s: the file storage failed after the provider answered", generation.code
        )
        return finish(
            generation,
            attempt,
            status=Generation.Status.FAILED,
            message=STORAGE_FAILED_MESSAGE,
            outcome=outcome,
            model=model,
        )
    except Exception:
        if not (outcome.billed or outcome.possibly_billed):
            raise
        # The provider billed (or may have billed) this call: whatever failed after it, the charge gets
        # its cost record.
        logger.exception("generation %s: unexpected error after a billed call", generation.code)
        return finish(
            generation,
            attempt,
            status=Generation.Status.FAILED,
            message=OUR_SIDE_MESSAGE,
            outcome=outcome,
            model=model,
        )


def _late_answer(
    generation: Generation, attempt: uuid.UUID, model: catalog.Model, adapter: Adapter, outcome: Outcome
) -> None:
    """Make exact the possible charge the page recorded when it cancelled this attempt's call (D32).

    The page finished the generation as cancelled while its call was out (`services.cancel_generation`),
    with a cost record of unknown amount. The answer came after all: billed, the record gets its exact
    amount; refused, the provider billed nothing. Its images are not kept: the user cancelled.
    """
    if outcome.possibly_billed and not outcome.billed:
        return  # no answer either: the charge stays possible, for reconciliation to settle
    with transaction.atomic():
        record = (
            CostRecord.objects.select_for_update()
            .filter(
                generation_id=generation.pk,
                generation__status=Generation.Status.CANCELED,
                generation__attempt=attempt,
                charge=CostRecord.Charge.POSSIBLE,
                amount_nanousd=None,
                resolution="",
            )
            .first()
        )
        if record is None:
            return  # not cancelled by the page while this attempt's call was out
        if outcome.billed:
            amount = adapter.cost(outcome.usage, model.price)
            fields: dict[str, Any] = {
                "charge": CostRecord.Charge.CHARGED,
                "amount_nanousd": amount,
                "input_nanousd": adapter.input_cost(outcome.usage, model.price)
                if amount is not None
                else None,
                "usage": outcome.usage,
                "unknown_reason": "" if amount is not None else UNREADABLE_CHARGE,
                "exceeded_quote": amount is not None and amount > generation.quote_nanousd,
            }
        else:
            amount = 0
            fields = {
                "amount_nanousd": 0,
                "input_nanousd": 0,
                "resolution": CostRecord.Resolution.NOT_BILLED,
                "resolved_at": timezone.now(),
                "resolution_note": LATE_REFUSAL_NOTE.format(provider=adapter.label),
            }
        fields["provider_request_ids"] = outcome.request_ids or record.provider_request_ids
        CostRecord.objects.filter(pk=record.pk).update(**fields)
        if amount is not None:
            settle_unknown(record, amount)  # the record as it was: its roll-up counted it as unknown
        Generation.objects.filter(pk=generation.pk).update(
            error_message=LATE_ANSWER_MESSAGE.format(provider=adapter.label)
        )
    logger.info("generation %s: the answer to a cancelled call came; its cost is settled", generation.code)


@contextlib.contextmanager
def _turn(generation: Generation, attempt: uuid.UUID) -> Iterator[None]:
    """Hold one of the worker's finish slots; renew the lease first if the wait for it was long."""
    waiting = time.monotonic()
    with finish_slot():
        if time.monotonic() - waiting > LONG_SLOT_WAIT:
            _renew_lease(generation, attempt)  # the sweep must not take a row we are about to finish
        yield


def _check_images(
    generation: Generation, outcome: Outcome
) -> tuple[list[CheckedImage], ProviderError | None]:
    """Verify each image and make its thumbnail; return the good ones and why any was rejected."""
    checked, rejected = [], None
    for sent in outcome.images:
        try:
            image = check_image(sent.data, width=generation.width, height=generation.height)
        except ImageRejected as exc:
            rejected = ProviderError(ErrorKind.BAD_RESPONSE, str(exc))
            continue
        # The decoded pixels are not needed once the thumbnail is made: let them go with the slot.
        thumbnail = make_thumbnail(image.pixels if image.pixels is not None else image.data)
        checked.append(dataclasses.replace(image, thumbnail=thumbnail, pixels=None))
    return checked, rejected


def _settle(
    generation: Generation,
    attempt: uuid.UUID,
    key: ProviderKey,
    model: catalog.Model,
    outcome: Outcome,
    checked: list[CheckedImage],
    rejected: ProviderError | None,
) -> bool:
    """Store the files, then (in a finish slot) record the key's use and save the generation's end.

    Return whether the generation's end was saved (finish())."""
    # Outside the slot: storage may be remote (S3), and a slow upload must hold up only this generation.
    rows = _store_files(generation, checked) if checked else []
    saved = False
    try:
        with _turn(generation, attempt):
            saved = _record_outcome(generation, attempt, key, model, outcome, rows, rejected)
    finally:
        if not saved:
            _delete_files(rows)  # nothing refers to them
    return saved


def _record_outcome(
    generation: Generation,
    attempt: uuid.UUID,
    key: ProviderKey,
    model: catalog.Model,
    outcome: Outcome,
    rows: list[GeneratedImage],
    rejected: ProviderError | None,
) -> bool:
    """Record the key's use and finish; return whether the generation's end was saved (finish())."""
    error = outcome.error or (rejected if not rows else None)
    if error is not None and error.kind == ErrorKind.INVALID_KEY:
        vault.mark_key_rejected(key, message=error.user_message, generation_code=generation.code)
    elif outcome.billed:
        vault.mark_key_worked(key)

    if rows:
        missing = generation.n - len(rows)
        note = ""
        if outcome.cancelled:
            note = CANCELLED_PARTLY.format(made=len(rows), n=generation.n)
        elif missing:
            reason = outcome.partial_errors[0] if outcome.partial_errors else rejected or error
            made = IMAGES_MADE.format(made=len(rows), n=generation.n)
            note = f"{made} {reason.user_message}" if reason else made
        return finish(
            generation,
            attempt,
            status=Generation.Status.SUCCEEDED,
            message=note,
            outcome=outcome,
            model=model,
            rows=rows,
            error=None,
        )
    elif outcome.cancelled:
        return finish(
            generation,
            attempt,
            status=Generation.Status.CANCELED,
            message=_cancelled_message(outcome),
            outcome=outcome,
            model=model,
        )
    else:
        # An image we rejected gets its precise reason ("… 512×512 image instead of 1024×1024").
        detail = f"{error.message} {TRY_AGAIN}" if rejected is not None and error is rejected else ""
        adapter = providers.get(generation.provider)
        if _model_gone(error, model, adapter):
            detail = mark_model_unavailable(generation, model, adapter)
        elif outcome.possibly_billed and error is not None:
            detail = f"{error.user_message} {outcome.possible_reason} {NOT_SENT_AGAIN}"
        return finish(
            generation,
            attempt,
            status=Generation.Status.FAILED,
            error=error,
            message=detail,
            outcome=outcome,
            model=model,
        )


def _cancelled_message(outcome: Outcome) -> str:
    """Return what a generation the worker cancelled at the provider says about its charge."""
    if outcome.billed:
        return CANCELLED_CHARGED
    if outcome.possibly_billed:
        return CANCELLED_POSSIBLY_CHARGED
    return CANCELLED_NOTHING_CHARGED


def _model_gone(error: ProviderError | None, model: catalog.Model, adapter: Adapter) -> bool:
    """Whether the provider's answer means the model was shut down.

    Only for a model whose shutdown was announced: for any other, "does not exist or you do not have
    access to it" (OpenAI's words) more likely means this key lacks access, and the model stays offered.
    """
    return (
        error is not None
        and error.kind == ErrorKind.NOT_FOUND
        and adapter.not_found_means_unknown_model
        and model.shutdown is not None
    )


def interrupted(generation: Generation, reason: str = INTERRUPTED_CHARGE) -> Outcome:
    """Return the outcome of calls started but never seen through: possibly charged, amount unknown."""
    request_ids = [
        str(entry["request_id"]) for entry in generation.provider_requests or [] if entry.get("request_id")
    ]
    return Outcome(possibly_billed=True, possible_reason=reason, request_ids=request_ids)


def mark_model_unavailable(generation: Generation, model: catalog.Model, adapter: Adapter) -> str:
    """Stop offering a model its provider says does not exist to this workspace; return the message."""
    UnavailableModel.objects.update_or_create(
        workspace=generation.workspace,
        model=model.id,
        defaults={"noticed_at": timezone.now(), "generation_code": generation.code},
    )
    return (
        f"{adapter.label} does not offer this model any more: it answered that {model.label} does not exist, "
        "so it has been shut down. It is no longer offered in this workspace; choose another model."
    )


# The sweep: nothing stays queued or running forever.


@dataclasses.dataclass
class Sweep:
    """What the sweep did, and the generations it leaves for a new attempt (`tasks` enqueues them)."""

    counts: dict[str, int]
    to_run: list[int]


def sweep_stale_generations(*, now: datetime | None = None) -> Sweep:
    """Finish generations whose worker vanished; return those to resume or resend (the caller enqueues)."""
    now = now or timezone.now()
    counts = {"resumed": 0, "failed": 0, "requeued": 0}
    to_run: list[int] = []
    stale = Generation.objects.filter(status=Generation.Status.RUNNING, lease_expires_at__lt=now)
    for generation in stale.select_related("workspace"):
        adapter = providers.get(generation.provider)
        action = after_interruption(
            Interrupted(
                resumable=adapter.resumable,
                # Ids, not pending slots: a slot saved before its submit and never given an id
                # cannot be polled.
                saved_requests=any(entry.get("request_id") for entry in generation.provider_requests or []),
                calls_started=generation.attempts,
                too_old=generation.created_at < now - RESUME_WITHIN,
            )
        )
        if action is Action.RESUME:
            # Its requests are saved: a new attempt polls them instead of submitting again.
            to_run.append(generation.pk)
            counts["resumed"] += 1
            continue
        unbilled = action is Action.FAIL_UNBILLED
        # Only if no new attempt claimed the row meanwhile: it may be calling the provider right now.
        failed = finish(
            generation,
            generation.attempt,
            status=Generation.Status.FAILED,
            message=NOTHING_CHARGED_MESSAGE if unbilled else adapter.interrupted_message,
            outcome=None if unbilled else interrupted(generation),
            model=catalog.load().get(generation.model),
            lease_expired_before=now,
        )
        if failed:
            counts["failed"] += 1
    # A queued row whose message was lost (the embedded broker loses in-flight messages on a crash).
    lost = Generation.objects.filter(
        status=Generation.Status.QUEUED, created_at__lt=now - timedelta(minutes=10)
    )
    for generation_id in lost.values_list("pk", flat=True):
        to_run.append(generation_id)
        counts["requeued"] += 1
    return Sweep(counts, to_run)

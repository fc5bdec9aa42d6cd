"""The worker side of a generation: claim the row, call the provider, store images and cost.

Invariants (DESIGN.md §5):
- One attempt owns a running row (`attempt`); a duplicated or redelivered task that cannot claim it
  does nothing, so a generation is never sent to the provider twice by two tasks.
- The key is decrypted just before the provider call, lives only in the local variables of
  `_call_openai` / `_call_fal`, and no database connection is held while waiting on the provider.
- fal request ids are saved right after submit: a restarted task polls them instead of paying again.
- Every generation ends in a final state with a message, and every charge has a cost record.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import logging
import random
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from generation import catalog, pricing
from generation.images import CheckedImage, ImageRejected, check_image, make_thumbnail
from generation.models import CostRecord, GeneratedImage, Generation, UnavailableModel
from generation.usage.roll_ups import roll_up
from keys import services as vault
from keys.models import ProviderKey
from providers import fal_queue, openai_images
from providers.base import ErrorKind, ImageRequest, ProviderError, ProviderResult

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 4  # provider calls per image slot, the first included
BACKOFF_BASE = 2.0
BACKOFF_CAP = 30.0
RETRY_AFTER_CAP = 60.0
OUR_SIDE_MESSAGE = "Something went wrong on our side. Nothing more will be sent to the provider; try again."
# Waiting this long for a finish slot renews the lease before finishing (a normal wait is milliseconds).
LONG_SLOT_WAIT = 30.0
INTERRUPTED_MESSAGE = (
    "The worker stopped while OpenAI was generating these images. OpenAI may have billed the request: "
    "check your usage page at OpenAI. Try again."
)
FAL_INTERRUPTED_MESSAGE = (
    "The worker stopped while fal.ai was working on this request. fal.ai may have billed it: check your "
    "requests at fal.ai. Try again."
)


def backoff_delay(attempt_index: int, retry_after: float | None) -> float:
    """Return the wait before retry number `attempt_index + 1`: Retry-After, else capped jittered backoff."""
    if retry_after is not None:
        return min(retry_after, RETRY_AFTER_CAP)
    return random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt_index))  # full jitter


def _timeout() -> float:
    return float(settings.PROVIDER_TIMEOUT_SECONDS)


def _lease_length() -> timedelta:
    # One provider call plus its longest retry wait and some slack; renewed before every call.
    return timedelta(seconds=_timeout() + RETRY_AFTER_CAP + 60)


def _safety_identifier(generation: Generation) -> str:
    """Return a stable, hashed end-user id (OpenAI abuse monitoring) that reveals nobody's email."""
    raw = f"{generation.workspace.code}:{generation.created_by_id}".encode()
    return hashlib.sha256(raw).hexdigest()[:32]


@dataclass
class Outcome:
    """What came back from the provider for one generation."""

    images: list[tuple[bytes, str]] = field(default_factory=list)  # verified later
    usage: dict[str, Any] = field(default_factory=dict)
    request_ids: list[str] = field(default_factory=list)
    billed: bool = False  # the provider charged (even if what it sent is unusable)
    billed_sizes: list[tuple[int, int]] = field(default_factory=list)  # fal: images billed
    error: ProviderError | None = None  # set when no usable image came back
    partial_errors: list[ProviderError] = field(default_factory=list)  # fal: slots that failed


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
    )
    if not updated:
        return None
    # The key's own workspace too: the vault binds the ciphertext to its code.
    return Generation.objects.select_related("workspace", "provider_key__workspace").get(pk=generation_id)


def _renew_lease(generation: Generation, attempt: uuid.UUID, **fields: Any) -> None:
    """Extend our lease (and save `fields`); raise LostLease when another attempt took the row over."""
    updated = Generation.objects.filter(
        pk=generation.pk, attempt=attempt, status=Generation.Status.RUNNING
    ).update(lease_expires_at=timezone.now() + _lease_length(), **fields)
    if not updated:
        raise LostLease
    # Do not hold a connection while waiting on the provider (tens of seconds per call): on PostgreSQL it
    # goes back to the process's pool for other threads. Inside an atomic block (tests that wrap
    # everything in a transaction) closing would abort it.
    if not connection.in_atomic_block:
        connection.close()


class LostLease(Exception):
    """Another attempt owns the row now (or it was finished); stop without writing anything."""


def _with_retries(
    generation: Generation, attempt: uuid.UUID, call: Callable[[], ProviderResult], **lease_fields: Any
) -> ProviderResult:
    """Run `call` with bounded retries on retryable errors; count every provider call on the row."""
    for index in range(MAX_ATTEMPTS):
        _renew_lease(generation, attempt, attempts=F("attempts") + 1, **lease_fields)
        lease_fields = {}
        try:
            return call()
        except ProviderError as exc:
            if not exc.retryable or index == MAX_ATTEMPTS - 1:
                raise
            delay = backoff_delay(index, exc.retry_after)
            logger.info(
                "generation %s: %s, retry %d/%d in %.1fs",
                generation.code,
                exc.kind,
                index + 1,
                MAX_ATTEMPTS - 1,
                delay,
            )
            time.sleep(delay)
    raise AssertionError("unreachable")


# Provider calls: the plaintext key exists only inside these two functions.
# (@sensitive_variables: Django's error reports show none of their locals, nor those of the calls beneath.)


def _request_for(generation: Generation, model: catalog.Model, *, n: int) -> ImageRequest:
    return ImageRequest(
        model=generation.model,
        prompt=generation.prompt,
        width=generation.width,
        height=generation.height,
        quality=generation.quality or None,
        background=generation.background or None,
        output_format=model.output_format,
        n=n,
        safety_identifier=_safety_identifier(generation),
    )


@sensitive_variables()
def _call_openai(
    generation: Generation, key: ProviderKey, attempt: uuid.UUID, model: catalog.Model
) -> Outcome:
    request = _request_for(generation, model, n=generation.n)
    secret = vault.decrypt_for_provider_call(key, generation_code=generation.code)
    try:
        result = _with_retries(
            generation, attempt, lambda: openai_images.generate(secret, request, timeout=_timeout())
        )
    except ProviderError as exc:
        # A 200 that could not be read was still billed by OpenAI, at an amount we cannot know.
        billed = exc.kind == ErrorKind.BAD_RESPONSE and exc.status_code in (None, 200)
        return Outcome(error=exc, billed=billed, request_ids=[exc.request_id] if exc.request_id else [])
    return Outcome(
        images=[(image.data, image.content_type) for image in result.images],
        usage=result.usage,
        request_ids=[result.request_id] if result.request_id else [],
        billed=True,
    )


@sensitive_variables()
def _call_fal(generation: Generation, key: ProviderKey, attempt: uuid.UUID, model: catalog.Model) -> Outcome:
    """Make `n` one-image requests (all queued first, then awaited); resume ones already submitted."""
    request = _request_for(generation, model, n=1)
    saved: list[dict[str, Any]] = list(generation.provider_requests or [])
    outcome = Outcome()
    secret = vault.decrypt_for_provider_call(key, generation_code=generation.code)

    def submit(slot: int) -> dict[str, Any] | None:
        try:
            handle = _with_retries(
                generation,
                attempt,
                lambda: fal_queue.submit(secret, model.id, request, timeout=min(30.0, _timeout())),
            )
        except ProviderError as exc:
            outcome.partial_errors.append(exc)
            return None
        entry = {"slot": slot, "request_id": handle.request_id}
        saved.append(entry)
        # Saved before waiting: a restarted task resumes this request instead of paying again.
        _renew_lease(generation, attempt, provider_requests=saved)
        return entry

    def await_slot(entry: dict[str, Any]) -> None:
        billed = False  # this request finished at fal (so it was billed): kept across the retries below
        for index in range(MAX_ATTEMPTS):
            _renew_lease(generation, attempt)  # each wait may take a whole provider deadline
            handle = fal_queue.FalHandle.for_request_id(model.id, entry["request_id"])
            try:
                result = fal_queue.wait_for_result(secret, handle, deadline=time.monotonic() + _timeout())
            except ProviderError as exc:
                # Finished at fal, so billed: its result could not be fetched, or what it sent is unusable.
                billed = billed or exc.completed or exc.kind == ErrorKind.BAD_RESPONSE
                if exc.kind == ErrorKind.TIMEOUT and not billed:
                    # Still queued at fal: cancel it so it cannot complete (and bill) behind our back.
                    with contextlib.suppress(ProviderError):
                        billed = not fal_queue.cancel(secret, handle)  # False: it had just finished
                last = not exc.retryable or index == MAX_ATTEMPTS - 1
                if billed and last:
                    outcome.billed_sizes.append((generation.width, generation.height))
                    outcome.request_ids.append(entry["request_id"])
                if last:
                    outcome.partial_errors.append(exc)
                    return
                time.sleep(backoff_delay(index, exc.retry_after))
                if billed:
                    continue  # fetch the same request's result again: submitting anew would bill twice
                # fal does not bill failed requests: submit this slot again.
                entry["failed"] = True
                replacement = submit(entry["slot"])
                if replacement is None:
                    return
                entry = replacement
                continue
            outcome.request_ids.append(entry["request_id"])
            outcome.billed_sizes.extend(
                (int(s.get("width") or generation.width), int(s.get("height") or generation.height))
                for s in result.usage.get("images", [])
            )
            outcome.images.extend((image.data, image.content_type) for image in result.images)
            return

    # Queue every image first, so n images take about as long as one.
    entries = []
    for slot in range(generation.n):
        entry = next((e for e in saved if e["slot"] == slot and not e.get("failed")), None) or submit(slot)
        if entry is not None:
            entries.append(entry)
    for entry in entries:
        await_slot(entry)

    outcome.billed = bool(outcome.billed_sizes)
    outcome.usage = {
        "images": [
            {"width": w, "height": h, "megapixels": pricing.megapixels(w, h)} for w, h in outcome.billed_sizes
        ]
    }
    if not outcome.images and outcome.partial_errors:
        outcome.error = outcome.partial_errors[0]
    return outcome


# Finishing


def _cost_for(generation: Generation, model: catalog.Model, outcome: Outcome) -> int | None:
    if generation.provider == "fal":
        return pricing.fal_cost(outcome.billed_sizes, model.price)
    return pricing.openai_cost(outcome.usage, model.price)


def _store_files(generation: Generation, images: list[CheckedImage]) -> list[GeneratedImage]:
    """Write verified images and their thumbnails under unguessable names; return unsaved rows."""
    rows = []
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
        row.file.save(f"{name}.{ext}", ContentFile(checked.data), save=False)
        row.thumbnail.save(f"{name}.thumb.webp", ContentFile(checked.thumbnail), save=False)
        rows.append(row)
    return rows


def _delete_files(rows: list[GeneratedImage]) -> None:
    for row in rows:
        for f in (row.file, row.thumbnail):
            if f.name:
                default_storage.delete(f.name)


def finish(
    generation: Generation,
    attempt: uuid.UUID | None,
    *,
    status: str,
    error: ProviderError | None = None,
    message: str = "",
    outcome: Outcome | None = None,
    model: catalog.Model | None = None,
    rows: list[GeneratedImage] = (),
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
            locked = owned.only("created_by_id", "quote_nanousd").first()
            if locked is None:
                raise LostLease
            for row in rows:
                row.save()
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
            if outcome is not None and outcome.request_ids and generation.provider == "openai":
                locked.provider_requests = [{"request_id": rid} for rid in outcome.request_ids]
                changed.append("provider_requests")
            locked.save(update_fields=changed)
            if outcome is not None and outcome.billed and model is not None:
                amount = _cost_for(generation, model, outcome)
                exceeded = amount is not None and amount > locked.quote_nanousd
                if exceeded:
                    logger.error(
                        "pricing bug: generation %s cost %d nano-USD, above its quote of %d (%s)",
                        generation.code,
                        amount,
                        locked.quote_nanousd,
                        generation.model,
                    )
                record = CostRecord.objects.create(
                    workspace=generation.workspace,
                    created_by_id=locked.created_by_id,  # NULL if the member left meanwhile
                    generation=locked,
                    provider=generation.provider,
                    model=generation.model,
                    usage=outcome.usage,
                    unit_prices=model.price,
                    price_version=catalog.load().version,
                    amount_nanousd=amount,
                    exceeded_quote=exceeded,
                    provider_request_ids=outcome.request_ids,
                    images=len(rows),
                )
                # Last before the commit: every worker adds to this month's row, so hold its lock briefly.
                roll_up([record])
    except LostLease:
        return False
    return True


def run_generation(generation_id: int) -> None:
    """Run one generation to a final state (the Celery task's body)."""
    attempt = uuid.uuid4()
    generation = claim(generation_id, attempt)
    if generation is None:
        logger.info("generation %s: not claimable (owned by another attempt or final)", generation_id)
        return
    try:
        _run_claimed(generation, attempt)
    except LostLease:
        logger.warning("generation %s: lease lost to another attempt; stopping", generation.code)
    except Exception:
        # Nothing may be lost: an unexpected error still ends the generation where the user sees it.
        logger.exception("generation %s: unexpected error", generation.code)
        finish(generation, attempt, status=Generation.Status.FAILED, message=OUR_SIDE_MESSAGE)


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
            message="The API key for this generation was deleted. Add a key in Settings and try again.",
        )
        return
    if generation.provider == "openai" and generation.attempts > 0:
        # A previous attempt died during the call. Calling again could bill twice: stop here.
        finish(generation, attempt, status=Generation.Status.FAILED, message=INTERRUPTED_MESSAGE)
        return
    try:
        call = _call_fal if generation.provider == "fal" else _call_openai
        outcome = call(generation, key, attempt, model)
    except vault.KeyUnavailable as exc:
        finish(generation, attempt, status=Generation.Status.FAILED, message=str(exc))
        return
    try:
        with _turn(generation, attempt):
            checked, rejected = _check_images(generation, outcome)
        _settle(generation, attempt, key, model, outcome, checked, rejected)
    except LostLease:
        raise
    except Exception:
        if not outcome.billed:
            raise
        # The provider billed this call: whatever failed after it, the charge gets its cost record.
        logger.exception("generation %s: unexpected error after a billed call", generation.code)
        finish(
            generation,
            attempt,
            status=Generation.Status.FAILED,
            message=OUR_SIDE_MESSAGE,
            outcome=outcome,
            model=model,
        )


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
    for data, _content_type in outcome.images:
        try:
            image = check_image(data, width=generation.width, height=generation.height)
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
) -> None:
    """Store the files, then (in a finish slot) record the key's use and save the generation's end."""
    # Outside the slot: storage may be remote (S3), and a slow upload must hold up only this generation.
    rows = _store_files(generation, checked) if checked else []
    saved = False
    try:
        with _turn(generation, attempt):
            saved = _record_outcome(generation, attempt, key, model, outcome, rows, rejected)
    finally:
        if not saved:
            _delete_files(rows)  # nothing refers to them


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
        if missing:
            reason = (outcome.partial_errors or [rejected or error])[0]
            note = f"{len(rows)} of {generation.n} images were made. " + (
                reason.user_message if reason else ""
            )
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
    else:
        # An image we rejected gets its precise reason ("… 512×512 image instead of 1024×1024").
        detail = f"{error.message} Try again." if rejected is not None and error is rejected else ""
        if error is not None and error.kind == ErrorKind.NOT_FOUND and generation.provider == "openai":
            detail = mark_model_unavailable(generation, model)
        return finish(
            generation,
            attempt,
            status=Generation.Status.FAILED,
            error=error,
            message=detail,
            outcome=outcome,
            model=model,
        )


def mark_model_unavailable(generation: Generation, model: catalog.Model) -> str:
    """Stop offering a model its provider says does not exist to this workspace; return the message."""
    UnavailableModel.objects.update_or_create(
        workspace=generation.workspace,
        model=model.id,
        defaults={"noticed_at": timezone.now(), "generation_code": generation.code},
    )
    return (
        f"OpenAI does not offer this model any more: it answered that {model.label} does not exist, so it "
        "has been shut down. It is no longer offered in this workspace; choose another model."
    )


# The sweep: nothing stays queued or running forever.


def sweep_stale_generations(*, now: Any = None) -> dict[str, int]:
    """Finish or resume generations whose worker vanished; return counts."""
    from generation import tasks

    now = now or timezone.now()
    counts = {"resumed": 0, "failed": 0, "requeued": 0}
    stale = Generation.objects.filter(status=Generation.Status.RUNNING, lease_expires_at__lt=now)
    for generation in stale.select_related("workspace"):
        too_old = generation.created_at < now - timedelta(hours=6)
        if generation.provider == "fal" and generation.provider_requests and not too_old:
            # Its fal requests are saved: a new attempt polls them instead of submitting again.
            transaction.on_commit(lambda gid=generation.pk: tasks.run_generation.delay(gid))
            counts["resumed"] += 1
            continue
        # `attempts` counts provider calls as they start: once one has, the provider may hold the request
        # (and bill it) even if the worker died before it learnt the request id.
        if generation.attempts == 0 and not generation.provider_requests:
            message = "The worker stopped before this generation finished. Nothing was charged; try again."
        elif generation.provider == "openai":
            message = INTERRUPTED_MESSAGE
        else:
            message = FAL_INTERRUPTED_MESSAGE
        # Only if no new attempt claimed the row meanwhile: it may be calling the provider right now.
        failed = finish(
            generation,
            generation.attempt,
            status=Generation.Status.FAILED,
            message=message,
            lease_expired_before=now,
        )
        if failed:
            counts["failed"] += 1
    # A queued row whose message was lost (the embedded broker loses in-flight messages on a crash).
    lost = Generation.objects.filter(
        status=Generation.Status.QUEUED, created_at__lt=now - timedelta(minutes=10)
    )
    for generation_id in lost.values_list("pk", flat=True):
        transaction.on_commit(lambda gid=generation_id: tasks.run_generation.delay(gid))
        counts["requeued"] += 1
    return counts

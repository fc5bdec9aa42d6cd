"""What to do after a provider call failed, as pure tables: no HTTP, no database, no clock.

Each decision says whether the user may have been charged, which is why it lives apart from the loops
that carry it out (the adapters' `run`) and is tested as a table (tests/providers/test_decisions.py).

- RETRY: send the request again; nothing was billed (refused, or provably never reached the provider).
- RESUME: a request the provider may still hold is polled again instead of sent again (one whose id an
  interrupted attempt saved, or one we could not cancel).
- REFETCH: the provider finished the request, so it billed it; only reading the result failed. Fetch the
  same result again: sending the request again would bill twice.
- FAIL_BILLED / FAIL_UNBILLED: stop; the generation fails with or without a charge to record.
- FAIL_POSSIBLY_BILLED: stop; the provider may hold the request and bill it, and we cannot know.

A cancel from the generation's page (docs/decisions.md D32) is decided here too: `on_cancel` says who
finishes the generation and whether anything may have been charged, `after_fal_cancel` what fal's
answer to a cancel means for one request.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

from providers.base import ErrorKind, ProviderError

MAX_ATTEMPTS = 4  # provider calls per image slot, the first included
BACKOFF_BASE = 2.0
BACKOFF_CAP = 30.0
RETRY_AFTER_CAP = 60.0


class Action(StrEnum):
    RETRY = "retry"
    RESUME = "resume"
    REFETCH = "refetch"
    FAIL_BILLED = "fail_billed"
    FAIL_UNBILLED = "fail_unbilled"
    FAIL_POSSIBLY_BILLED = "fail_possibly_billed"

    @property
    def final(self) -> bool:
        return self in (Action.FAIL_BILLED, Action.FAIL_UNBILLED, Action.FAIL_POSSIBLY_BILLED)

    @property
    def billed(self) -> bool:
        """Whether the provider charged the request this action is about."""
        return self in (Action.REFETCH, Action.FAIL_BILLED)


def backoff_delay(attempt_index: int, retry_after: float | None) -> float:
    """Return the wait before retry number `attempt_index + 1`: Retry-After, else capped jittered backoff."""
    if retry_after is not None:
        return min(retry_after, RETRY_AFTER_CAP)
    return random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt_index))  # full jitter


def is_last(attempt_index: int) -> bool:
    return attempt_index >= MAX_ATTEMPTS - 1


# OpenAI: one synchronous call per generation; nothing to poll or fetch again.


def after_openai_failure(error: ProviderError, *, last: bool) -> Action:
    """Decide after a failed OpenAI image call.

    Only what provably did not reach OpenAI (a connect failure) or what OpenAI answered with a refusal
    (429, 5xx, 408) is retried. A request that was sent and never answered keeps being generated and
    billed after we stop waiting (OpenAI has no idempotency key): retrying it could pay twice.
    """
    # A 200 whose body could not be used was still billed by OpenAI (its usage, if readable, prices it).
    if error.kind == ErrorKind.BAD_RESPONSE and error.status_code in (None, 200):
        return Action.FAIL_BILLED
    if error.unanswered:
        return Action.FAIL_POSSIBLY_BILLED
    if error.retryable and not last:
        return Action.RETRY
    return Action.FAIL_UNBILLED


# fal: requests are queued, polled and fetched; a finished request is billed whatever happens next.


@dataclass(frozen=True)
class FalWait:
    """What is known after waiting on one queued fal request failed."""

    kind: ErrorKind
    retryable: bool
    billed_before: bool  # an earlier wait on this request already learnt it finished
    completed: bool  # fal reported it COMPLETED (so billed); only fetching the result failed
    # After a timeout: True cancelled, False it had just finished, None not asked or unknown.
    cancelled: bool | None = None
    last: bool = False  # no attempt left
    status_code: int | None = None  # fal's answer, where one came
    ended: bool = True  # fal had reported the request's final state (COMPLETED) when this failed

    @classmethod
    def of(cls, error: ProviderError, *, billed_before: bool, last: bool) -> FalWait:
        return cls(
            error.kind,
            error.retryable,
            billed_before,
            error.completed,
            last=last,
            status_code=error.status_code,
            ended=error.ended,
        )


def fal_must_cancel(wait: FalWait) -> bool:
    """Whether to cancel the request first: a timeout while it may still be queued at fal.

    Cancelling stops it completing (and billing) behind our back before we submit a replacement.
    """
    return wait.kind == ErrorKind.TIMEOUT and not fal_billed(wait)


def fal_billed(wait: FalWait) -> bool:
    """Whether this request is known to be billed: it finished, or what it sent back is unusable."""
    return (
        wait.billed_before or wait.completed or wait.kind == ErrorKind.BAD_RESPONSE or wait.cancelled is False
    )


def after_fal_wait(wait: FalWait) -> Action:
    """Decide after waiting on a fal request failed (call `fal_must_cancel` first and record its answer)."""
    if fal_billed(wait):
        return Action.FAIL_BILLED if wait.last or not wait.retryable else Action.REFETCH
    if wait.status_code == 422:
        # The request's own refusal (content policy, invalid input): fal's FAQ says a 422 may be charged
        # when a runner already spent GPU time on it.
        return Action.FAIL_POSSIBLY_BILLED
    if wait.kind == ErrorKind.TIMEOUT and wait.cancelled is None:
        # We could not cancel it: it may still run and bill. Wait on the same request, never a new one.
        return Action.FAIL_POSSIBLY_BILLED if wait.last else Action.RESUME
    if not wait.ended and wait.retryable and wait.kind != ErrorKind.TIMEOUT:
        # A status check failed (429, 5xx, the network) before fal said the request ended: it is still
        # queued or running, and will bill. Poll the same request again; submitting anew would pay twice.
        return Action.FAIL_POSSIBLY_BILLED if wait.last else Action.RESUME
    if wait.last or not wait.retryable:
        return Action.FAIL_UNBILLED
    # fal does not bill failed requests (5xx, a cancelled timeout): submit this one again.
    return Action.RETRY


def after_fal_submit(error: ProviderError, *, last: bool) -> Action:
    """Decide after submitting a request to fal's queue failed.

    An answer (a refusal, a 5xx) means nothing was queued. A submit sent and never answered, or
    answered 200 with a body we could not read (no usable request id), may have been queued under an
    id we never learnt: it can run and be billed, so it is not sent again.
    """
    if error.unanswered or (error.kind == ErrorKind.BAD_RESPONSE and error.status_code in (None, 200)):
        return Action.FAIL_POSSIBLY_BILLED
    return Action.RETRY if error.retryable and not last else Action.FAIL_UNBILLED


# A generation whose worker vanished mid-call (the sweep).


@dataclass(frozen=True)
class Interrupted:
    """What the database says about a generation whose worker stopped during its provider calls."""

    resumable: bool  # the adapter can resume from saved request ids
    saved_requests: bool  # request ids were saved before the worker stopped
    calls_started: int  # provider calls counted on the row as they began
    too_old: bool  # past the provider's result retention: polling would find nothing


def after_interruption(state: Interrupted) -> Action:
    """Decide what the sweep does with a generation whose lease expired."""
    if state.resumable and state.saved_requests and not state.too_old:
        return Action.RESUME
    # Once a call has started, the provider may hold the request (and bill it) even if the worker died
    # before it learnt the request id.
    if state.calls_started == 0 and not state.saved_requests:
        return Action.FAIL_UNBILLED
    return Action.FAIL_POSSIBLY_BILLED


# A cancel from the generation's page (D32).


class Cancel(StrEnum):
    NOTHING_SENT = "nothing_sent"  # finish it now, cancelled: no request is with the provider
    STOP_WAITING = "stop_waiting"  # finish it now, cancelled and possibly charged: a blocking call is out
    ASK_WORKER = "ask_worker"  # the worker cancels its requests at the provider, then finishes it
    TOO_LATE = "too_late"  # it has ended, or its images are back (billed) and being stored


@dataclass(frozen=True)
class CancelAsked:
    """What the database says about a generation when someone asks to cancel it."""

    final: bool  # it has ended
    queued: bool  # no worker has claimed it yet
    provider_cancels: bool  # the provider can cancel a request it holds (fal's queue)
    calls_started: int  # provider calls counted on the row as they began
    stage: str  # the running stage: "" starting, "provider", "retrying", "checking"


def on_cancel(state: CancelAsked) -> Cancel:
    """Decide what a cancel does. Once one is asked, the worker sends no new request (`before_call`)."""
    if state.final or state.stage == "checking":
        # Checking means the answer is back: the provider billed it, so its images are kept and shown.
        return Cancel.TOO_LATE
    if state.queued:
        return Cancel.NOTHING_SENT
    if state.provider_cancels:
        return Cancel.ASK_WORKER
    if state.calls_started and state.stage != "retrying":
        # A blocking call is out (or was, when a worker died): it is generated and billed whether or not
        # anyone reads the answer. Between retries the last call was a refusal, which bills nothing.
        return Cancel.STOP_WAITING
    return Cancel.NOTHING_SENT


def after_fal_cancel(last_status: str | None, cancelled: bool | None) -> Action:
    """Decide about one fal request the user cancelled, from its last polled status and fal's answer.

    `cancelled`: True fal accepted the cancel (202), False it had already completed (400), None the
    cancel failed (the network, a 5xx). fal bills neither a request cancelled in its queue nor the time
    spent queued; a runner that had started may have spent GPU time, which fal may bill.
    """
    if cancelled is False:
        return Action.REFETCH  # it finished, so it was billed: fetch the result like any other
    if cancelled is None:
        return Action.RESUME  # it still runs and will bill: wait for it as usual, never lose it
    if last_status == "IN_QUEUE":
        return Action.FAIL_UNBILLED
    return Action.FAIL_POSSIBLY_BILLED

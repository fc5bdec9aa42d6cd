"""The retry and billing verdicts as tables: no HTTP, no database, no clock."""

from __future__ import annotations

import pytest

from providers.base import ErrorKind, ProviderError
from providers.decisions import (
    MAX_ATTEMPTS,
    Action,
    Cancel,
    CancelAsked,
    FalWait,
    Interrupted,
    after_fal_cancel,
    after_fal_submit,
    after_fal_wait,
    after_interruption,
    after_openai_failure,
    backoff_delay,
    fal_must_cancel,
    is_last,
    on_cancel,
)

K = ErrorKind
RETRY, REFETCH, RESUME = Action.RETRY, Action.REFETCH, Action.RESUME
BILLED, UNBILLED, MAYBE = Action.FAIL_BILLED, Action.FAIL_UNBILLED, Action.FAIL_POSSIBLY_BILLED


def error(kind: ErrorKind, status: int | None = None, *, completed: bool = False) -> ProviderError:
    return ProviderError(kind, "x", status_code=status, completed=completed)


OPENAI = [
    # kind, HTTP status, last attempt?, action
    (K.RATE_LIMITED, 429, False, RETRY),
    (K.RATE_LIMITED, 429, True, UNBILLED),
    (K.SERVER_ERROR, 500, False, RETRY),
    (K.TIMEOUT, None, False, RETRY),  # a connect timeout: never sent
    (K.CONNECTION, None, False, RETRY),  # a refused connection: never sent
    (K.INVALID_KEY, 401, False, UNBILLED),
    (K.NO_CREDIT, 429, False, UNBILLED),
    (K.SAFETY, 400, False, UNBILLED),
    (K.NOT_FOUND, 404, False, UNBILLED),
    (K.BAD_REQUEST, 400, False, UNBILLED),
    # A 200 whose body could not be read was billed; a 4xx that could not be read was not.
    (K.BAD_RESPONSE, 200, False, BILLED),
    (K.BAD_RESPONSE, None, True, BILLED),
    (K.BAD_RESPONSE, 400, False, UNBILLED),
]


@pytest.mark.parametrize(("kind", "status", "last", "action"), OPENAI)
def test_openai(kind, status, last, action):
    assert after_openai_failure(error(kind, status), last=last) is action


@pytest.mark.parametrize("kind", [K.TIMEOUT, K.CONNECTION])
@pytest.mark.parametrize("last", [False, True])
def test_an_openai_request_sent_and_never_answered_is_possibly_billed_and_never_retried(kind, last):
    sent = ProviderError(kind, "x", unanswered=True)
    assert after_openai_failure(sent, last=last) is MAYBE


FAL_WAITS = [
    # kind, billed before, completed, cancel answer, last, action
    (K.SERVER_ERROR, False, False, None, False, RETRY),  # fal reported it failed: submit again
    (K.SERVER_ERROR, False, False, None, True, UNBILLED),
    (K.SERVER_ERROR, False, True, None, False, REFETCH),  # finished, fetching failed: fetch again
    (K.SERVER_ERROR, False, True, None, True, BILLED),
    (K.SERVER_ERROR, True, False, None, False, REFETCH),  # known finished from an earlier wait
    (K.RATE_LIMITED, False, True, None, False, REFETCH),
    (K.BAD_RESPONSE, False, False, None, False, BILLED),  # it sent something unusable: billed
    (K.SAFETY, False, False, None, False, UNBILLED),  # a refusal without a status: not a 422
    (K.INVALID_KEY, False, False, None, False, UNBILLED),
    (K.TIMEOUT, False, False, True, False, RETRY),  # cancelled while queued: submit again
    (K.TIMEOUT, False, False, True, True, UNBILLED),
    (K.TIMEOUT, False, False, False, False, REFETCH),  # cancel: it had just finished
    (K.TIMEOUT, False, False, False, True, BILLED),
    (K.TIMEOUT, False, False, None, False, RESUME),  # could not cancel: wait on it, never a new one
    (K.TIMEOUT, False, False, None, True, MAYBE),
    (K.TIMEOUT, True, False, None, False, REFETCH),
]


@pytest.mark.parametrize(("kind", "billed_before", "completed", "cancelled", "last", "action"), FAL_WAITS)
def test_fal_wait(kind, billed_before, completed, cancelled, last, action):
    wait = FalWait(
        kind,
        retryable=error(kind).retryable,
        billed_before=billed_before,
        completed=completed,
        cancelled=cancelled,
        last=last,
    )
    assert after_fal_wait(wait) is action
    assert action.billed == (action in (REFETCH, BILLED))


@pytest.mark.parametrize(
    ("kind", "last", "action"),
    [
        (K.RATE_LIMITED, False, RESUME),  # a status check refused: the request is still there, poll it
        (K.SERVER_ERROR, False, RESUME),
        (K.CONNECTION, False, RESUME),
        (K.SERVER_ERROR, True, MAYBE),  # still not known to have ended: it may run and bill
        (K.NOT_FOUND, False, UNBILLED),  # fal does not know the request: nothing will bill
    ],
)
def test_a_failed_status_check_never_submits_again(kind, last, action):
    # Before fal reported the request's final state, a failed check says nothing about the request.
    wait = FalWait(
        kind, retryable=error(kind).retryable, billed_before=False, completed=False, last=last, ended=False
    )
    assert after_fal_wait(wait) is action


@pytest.mark.parametrize("kind", [K.SAFETY, K.BAD_REQUEST])
def test_a_fal_refusal_after_the_request_started_may_be_charged(kind):
    # fal's FAQ: a 422 may be charged when a runner already spent GPU time on it.
    wait = FalWait(kind, retryable=False, billed_before=False, completed=False, status_code=422)
    assert after_fal_wait(wait) is MAYBE


@pytest.mark.parametrize(
    ("kind", "billed_before", "completed", "cancel"),
    [
        (K.TIMEOUT, False, False, True),  # may still be queued: cancel it before submitting again
        (K.TIMEOUT, True, False, False),  # finished: nothing to cancel, fetch it again
        (K.TIMEOUT, False, True, False),
        (K.SERVER_ERROR, False, False, False),
    ],
)
def test_fal_cancels_only_a_request_that_may_still_be_queued(kind, billed_before, completed, cancel):
    wait = FalWait(kind, retryable=True, billed_before=billed_before, completed=completed)
    assert fal_must_cancel(wait) is cancel


@pytest.mark.parametrize(
    ("kind", "last", "action"),
    [(K.RATE_LIMITED, False, RETRY), (K.RATE_LIMITED, True, UNBILLED), (K.NO_CREDIT, False, UNBILLED)],
)
def test_fal_submit(kind, last, action):
    assert after_fal_submit(error(kind), last=last) is action


def test_a_fal_submit_sent_and_never_answered_may_have_been_queued():
    assert after_fal_submit(ProviderError(K.TIMEOUT, "x", unanswered=True), last=False) is MAYBE
    # Accepted (200) with a body we could not read: queued under an id we never learnt.
    assert after_fal_submit(ProviderError(K.BAD_RESPONSE, "x", status_code=200), last=False) is MAYBE
    assert after_fal_submit(ProviderError(K.BAD_RESPONSE, "x"), last=False) is MAYBE
    assert after_fal_submit(ProviderError(K.CONNECTION, "x", unanswered=False), last=False) is RETRY


@pytest.mark.parametrize(
    ("resumable", "saved", "calls", "too_old", "action"),
    [
        (True, True, 1, False, RESUME),  # fal: poll the saved requests
        (True, True, 1, True, MAYBE),  # past fal's retention: cannot know
        (True, False, 1, False, MAYBE),  # died between submit and saving the id
        (True, False, 0, False, UNBILLED),  # died before any call
        (False, False, 1, False, MAYBE),  # OpenAI: the call may have been billed
        (False, False, 0, False, UNBILLED),
    ],
)
def test_an_interrupted_generation(resumable, saved, calls, too_old, action):
    state = Interrupted(resumable=resumable, saved_requests=saved, calls_started=calls, too_old=too_old)
    assert after_interruption(state) is action


def test_the_last_attempt_and_the_backoff():
    assert [is_last(i) for i in range(MAX_ATTEMPTS)] == [False] * (MAX_ATTEMPTS - 1) + [True]
    assert backoff_delay(0, retry_after=7) == 7
    assert backoff_delay(0, retry_after=600) == 60  # Retry-After is capped
    assert all(0 <= backoff_delay(i, None) <= 30 for i in range(10))


# A cancel from the generation's page (D32)

NOTHING_SENT, STOP_WAITING = Cancel.NOTHING_SENT, Cancel.STOP_WAITING
ASK_WORKER, TOO_LATE = Cancel.ASK_WORKER, Cancel.TOO_LATE

CANCELS = [
    # final, queued, provider cancels, calls started, stage, verdict
    (True, False, False, 1, "", TOO_LATE),  # ended: nothing to cancel
    (True, False, True, 1, "", TOO_LATE),
    (False, True, False, 0, "", NOTHING_SENT),  # no worker has it: nothing was sent
    (False, True, True, 0, "", NOTHING_SENT),
    (False, False, False, 0, "", NOTHING_SENT),  # claimed, no call yet: the next call is refused
    (False, False, False, 1, "provider", STOP_WAITING),  # an OpenAI call is out: possibly charged
    (False, False, False, 2, "retrying", NOTHING_SENT),  # between retries: the last call was refused
    (False, False, False, 1, "", STOP_WAITING),  # a call started, stage unknown: the careful answer
    (False, False, False, 1, "checking", TOO_LATE),  # the images are back and billed
    (False, False, True, 0, "", ASK_WORKER),  # fal: the worker cancels its requests at fal
    (False, False, True, 1, "provider", ASK_WORKER),
    (False, False, True, 1, "retrying", ASK_WORKER),
    (False, False, True, 1, "checking", TOO_LATE),
]


@pytest.mark.parametrize(("final", "queued", "provider_cancels", "calls", "stage", "verdict"), CANCELS)
def test_on_cancel(final, queued, provider_cancels, calls, stage, verdict):
    asked = CancelAsked(
        final=final, queued=queued, provider_cancels=provider_cancels, calls_started=calls, stage=stage
    )
    assert on_cancel(asked) is verdict


FAL_CANCELS = [
    # last polled status, fal's answer to the cancel (True 202, False 400 completed, None failed), action
    ("IN_QUEUE", True, UNBILLED),  # cancelled in fal's queue: never ran, never billed
    ("IN_PROGRESS", True, MAYBE),  # a runner had started: fal may bill the GPU time it spent
    (None, True, MAYBE),  # status unknown: the careful answer
    ("IN_QUEUE", False, REFETCH),  # it completed meanwhile: billed, so fetch its result
    ("IN_PROGRESS", False, REFETCH),
    ("IN_QUEUE", None, RESUME),  # the cancel failed: it will run and bill, so wait for it as usual
    ("IN_PROGRESS", None, RESUME),
]


@pytest.mark.parametrize(("status", "cancelled", "action"), FAL_CANCELS)
def test_after_fal_cancel(status, cancelled, action):
    assert after_fal_cancel(status, cancelled) is action

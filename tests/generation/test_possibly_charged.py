"""Every possibly billed call is on the books: an unknown amount with its reason, never $0, never nothing.

Each path (a timeout or a dropped connection after the request was sent, a worker crash during the call,
an answer whose images cannot be read, a fal refusal after the request started) leaves a cost record,
is never sent twice, and counts at its quote in the month's budget.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.db import DatabaseError

from generation import budgets, catalog, pipeline, tasks
from generation.models import CostRecord, Generation
from keys import services as vault
from providers import fal_queue
from providers.base import ErrorKind, ImageRequest, ProviderError
from tests.support.accounts import workspace_of
from tests.support.generation import start
from tests.support.keys import FAL_KEY, make_key

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast(settings, tmp_path, monkeypatch):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PROVIDER_TIMEOUT_SECONDS = 0.5
    monkeypatch.setattr(pipeline.time, "sleep", lambda seconds: None)


def _run(generation: Generation) -> Generation:
    pipeline.run_generation(generation.pk)
    generation.refresh_from_db()
    return generation


def _possibly_charged(generation: Generation) -> CostRecord:
    assert generation.status == "failed"
    assert generation.reserved_nanousd == 0
    record = CostRecord.objects.get(generation=generation)
    assert record.amount_nanousd is None  # unknown, never 0
    assert record.charge == CostRecord.Charge.POSSIBLE and record.unknown_reason
    assert record.amount_display == "possibly charged — amount unknown"
    # Counted at its quote in the month's budget until a reconciliation resolves it.
    assert budgets.status(workspace_of(generation.created_by)).spent_nanousd == generation.quote_nanousd
    return record


@pytest.mark.parametrize("fault", ["slow", "reset"])
def test_an_openai_call_sent_and_never_answered_is_possibly_charged_and_not_sent_again(alice, double, fault):
    double.hang_seconds = 2
    key = make_key(alice, "openai")
    double.script("openai", [fault] * 4)
    generation = _run(start(alice, key, "gpt-image-2", size="1024x1024"))
    assert double.count("openai.generate") == 1  # a retry could have paid twice
    record = _possibly_charged(generation)
    assert "no answer came back" in record.unknown_reason
    assert "not sent again" in generation.error_message


def test_an_openai_call_that_never_connected_is_retried_and_not_charged(alice, double, settings):
    key = make_key(alice, "openai")
    settings.OPENAI_BASE_URL = "http://127.0.0.1:1/v1"  # nothing listens: refused before sending
    generation = _run(start(alice, key, "gpt-image-2", size="1024x1024"))
    assert generation.status == "failed" and generation.error_kind == "connection"
    assert generation.attempts == 4
    assert not CostRecord.objects.filter(generation=generation).exists()


def test_an_unreadable_image_is_priced_from_the_usage_in_the_same_answer(alice, double):
    key = make_key(alice, "openai")
    double.script("openai", ["bad_base64"])
    generation = _run(start(alice, key, "gpt-image-2", size="1024x1024", quality="low"))
    assert generation.status == "failed" and generation.error_kind == "bad_response"
    record = CostRecord.objects.get(generation=generation)
    assert record.charge == CostRecord.Charge.CHARGED
    assert record.usage["output_tokens"] > 0
    model = catalog.load().get("gpt-image-2")
    expected = record.usage["input_tokens"] * model.price["text_input"]
    expected += record.usage["output_tokens"] * model.price["image_output"]
    assert record.amount_nanousd == expected  # exact, not unknown


def test_a_fal_refusal_after_the_request_started_is_possibly_charged(alice, double):
    key = make_key(alice, "fal")
    double.script("fal", ["moderation"])
    generation = _run(start(alice, key, "fal-ai/flux-2-max", size="1024x1024"))
    assert generation.error_kind == "safety"
    assert double.count("fal.submit") == 1
    record = _possibly_charged(generation)
    assert "HTTP 422" in record.unknown_reason
    assert record.provider_request_ids  # the request reconciliation can look for


def test_a_fal_submit_sent_and_never_answered_is_possibly_charged_and_not_sent_again(alice, double):
    double.hang_seconds = 2
    key = make_key(alice, "fal")
    double.script("fal", ["slow"] * 4)
    generation = _run(start(alice, key, "fal-ai/flux-2-max", size="1024x1024"))
    assert double.count("fal.submit") == 1
    _possibly_charged(generation)


def test_an_openai_call_interrupted_by_a_crash_is_possibly_charged(alice, double):
    key = make_key(alice, "openai")
    generation = start(alice, key, "gpt-image-2", size="1024x1024")
    # A worker claimed the row and started the call (attempts counts calls as they begin), then died.
    Generation.objects.filter(pk=generation.pk).update(
        status="running", attempts=1, attempt=uuid.uuid4(), lease_expires_at=generation.created_at
    )
    later = generation.created_at + dt.timedelta(minutes=1)
    assert tasks.sweep_stale_generations(now=later)["failed"] == 1
    generation.refresh_from_db()
    record = _possibly_charged(generation)
    assert "worker stopped" in record.unknown_reason
    assert double.count("openai.generate") == 0  # nothing was sent again


def test_a_redelivered_openai_task_after_a_crash_records_the_possible_charge(alice, double):
    key = make_key(alice, "openai")
    generation = start(alice, key, "gpt-image-2", size="1024x1024")
    Generation.objects.filter(pk=generation.pk).update(attempts=1)  # a dead attempt started the call
    generation = _run(generation)
    _possibly_charged(generation)
    assert double.count("openai.generate") == 0


def test_possible_charges_hold_the_budget(alice, double):
    key = make_key(alice, "openai")
    double.hang_seconds = 2
    double.script("openai", ["slow"])
    first = _run(start(alice, key, "gpt-image-2", size="1024x1024"))
    budgets.set_cap(workspace=workspace_of(alice), user=alice, cap_nanousd=first.quote_nanousd + 1)
    with pytest.raises(budgets.BudgetExceeded):
        start(alice, key, "gpt-image-2", size="1024x1024")


def test_pages_and_the_csv_say_possibly_charged(alice, alice_client, double):
    double.hang_seconds = 2
    key = make_key(alice, "openai")
    double.script("openai", ["slow"])
    generation = _run(start(alice, key, "gpt-image-2", size="1024x1024"))
    page = alice_client.get(f"/generations/{generation.code}/").content.decode()
    assert "possibly charged — amount unknown" in page and "no answer came back" in page
    assert "possibly charged — amount unknown" in alice_client.get("/usage/").content.decode()
    csv = b"".join(alice_client.get("/usage.csv").streaming_content).decode()
    header, row = csv.splitlines()[:2]
    assert "charge,unknown_reason,resolution,resolution_note" in header
    assert ",unknown," in row and "possibly charged" in row


@pytest.mark.parametrize("status", [429, 502])
def test_a_failed_fal_status_check_polls_the_same_request_again_never_a_new_one(
    alice, double, monkeypatch, status
):
    kind = ErrorKind.RATE_LIMITED if status == 429 else ErrorKind.SERVER_ERROR
    hiccup = ProviderError(kind, f"fal.ai answered HTTP {status}.", status_code=status)
    monkeypatch.setattr(fal_queue, "_poll", _failing_first(fal_queue._poll, hiccup))
    generation = _run(start(alice, make_key(alice, "fal"), "fal-ai/flux-2-max", size="1024x1024"))
    assert generation.status == "succeeded"
    assert double.count("fal.submit") == 1  # a second submit would have been billed too
    assert CostRecord.objects.get(generation=generation).amount_nanousd is not None


def test_our_own_error_after_fal_queued_a_request_still_records_a_possible_charge(alice, double, monkeypatch):
    def broken_wait(*args, **kwargs):
        raise DatabaseError("database is locked")  # our side fails while fal holds the queued request

    monkeypatch.setattr(fal_queue, "wait_for_result", broken_wait)
    generation = _run(start(alice, make_key(alice, "fal"), "fal-ai/flux-2-max", size="1024x1024"))
    assert double.count("fal.submit") == 1
    record = _possibly_charged(generation)
    assert record.provider_request_ids == [generation.provider_requests[0]["request_id"]]
    assert "on our side" in record.unknown_reason


def test_an_openai_admin_key_cannot_be_added_as_a_generation_key(alice, double):
    with pytest.raises(vault.KeyRejected, match="Admin key"):
        make_key(alice, "openai", "sk-admin-ReconTestAdminKey0123456789abcdefghijklmnopqrstuv")
    assert double.requests() == []


def _failing_first(function, error):
    calls = [0]

    def flaky(*args, **kwargs):
        calls[0] += 1
        if calls[0] == 1:
            raise error
        return function(*args, **kwargs)

    return flaky


def test_a_fal_slot_whose_submit_a_dead_attempt_never_saw_answered_is_never_sent_again(alice, double):
    key = make_key(alice, "fal")
    generation = start(alice, key, "fal-ai/flux-2-max", size="1024x1024", n=2)
    # The dead attempt queued slot 0 and saved its id, then died while sending slot 1 (saved as pending).
    handle = fal_queue.submit(
        FAL_KEY, "fal-ai/flux-2-max", ImageRequest("fal-ai/flux-2-max", "x", 1024, 1024)
    )
    Generation.objects.filter(pk=generation.pk).update(
        attempts=2,
        provider_requests=[{"slot": 0, "request_id": handle.request_id}, {"slot": 1, "request_id": None}],
    )
    generation = _run(generation)
    assert double.count("fal.submit") == 1  # only the dead attempt's: slot 1 was not sent again
    assert generation.status == "succeeded" and generation.images.count() == 1
    record = CostRecord.objects.get(generation=generation)
    assert record.charge == CostRecord.Charge.POSSIBLE and "sending the request" in record.unknown_reason


def test_a_refused_fal_submit_is_not_left_pending(alice, double):
    key = make_key(alice, "fal")
    double.script("fal", ["insufficient_quota"])
    generation = _run(start(alice, key, "fal-ai/flux-2-max", size="1024x1024"))
    assert generation.status == "failed"
    assert generation.provider_requests == [{"slot": 0, "request_id": None, "failed": True}]
    assert not CostRecord.objects.filter(generation=generation).exists()

"""Cancel from the generation's page (D32): every cancelled generation ends where its owner sees it, and
every charge it may carry has a cost record.

The pipeline runs in-process against the provider double over loopback (the real SDK and httpx). The
cancel is the real view, posted at a precise point of the worker's run (wrapping the provider client's
functions), so no test waits on a clock.
"""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connections
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from generation import budgets, pipeline, services
from generation.models import CostRecord, GeneratedImage, Generation, UsageMonth
from providers import fal_queue, openai_images
from providers.decisions import Cancel
from tests.support.accounts import client_for, workspace_of
from tests.support.generation import start
from tests.support.keys import make_key
from tests.support.prices import fal_image

pytestmark = pytest.mark.django_db

FLUX = fal_image()  # one flux-2-max 1024² image


@pytest.fixture(autouse=True)
def _fast(settings, tmp_path, monkeypatch):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PROVIDER_TIMEOUT_SECONDS = 2
    monkeypatch.setattr(pipeline.time, "sleep", lambda seconds: None)


def _run(generation: Generation) -> Generation:
    pipeline.run_generation(generation.pk)
    generation.refresh_from_db()
    return generation


def _cancel(client: Client, generation: Generation):
    return client.post(reverse("generation:cancel", args=[generation.code]))


def _spent(generation: Generation) -> int:
    return budgets.status(workspace_of(generation.created_by)).spent_nanousd


def _page(client: Client, generation: Generation) -> str:
    return client.get(reverse("generation:detail", args=[generation.code])).content.decode()


def _cancel_during(monkeypatch, module, name: str, client: Client, generation: Generation, *, after=True):
    """Post the page's cancel when the worker calls `module.name` (after it returned, or before it)."""
    real = getattr(module, name)
    done = []

    def wrapped(*args, **kwargs):
        if not after and not done:
            done.append(_cancel(client, generation))
        result = real(*args, **kwargs)
        if after and not done:
            done.append(_cancel(client, generation))
        return result

    monkeypatch.setattr(module, name, wrapped)
    return done


# Queued: nothing was sent


def test_a_queued_generation_is_cancelled_at_once_and_never_sent(alice, alice_client, double):
    generation = start(alice, make_key(alice, "openai"), "gpt-image-2", size="1024x1024")
    response = _cancel(alice_client, generation)
    assert response.status_code == 302
    generation.refresh_from_db()
    assert generation.status == "canceled" and generation.is_final
    assert generation.reserved_nanousd == 0 and generation.finished_at is not None
    assert not CostRecord.objects.filter(generation=generation).exists()
    # The queued task runs later: the row is not claimable, nothing reaches the provider.
    assert pipeline.run_generation(generation.pk) is False
    assert double.count("openai.generate") == 0
    page = _page(alice_client, generation)
    assert "nothing was charged" in page and "nothing charged" in page
    assert 'data-testid="cancel"' not in page


def test_the_page_offers_cancel_only_while_queued_or_running(alice, alice_client, double):
    generation = start(alice, make_key(alice, "openai"), "gpt-image-2", size="1024x1024")
    assert 'data-testid="cancel"' in _page(alice_client, generation)
    Generation.objects.filter(pk=generation.pk).update(status="running", attempts=1, stage="provider")
    assert 'data-testid="cancel"' in _page(alice_client, generation)
    Generation.objects.filter(pk=generation.pk).update(status="succeeded")
    assert 'data-testid="cancel"' not in _page(alice_client, generation)


def test_cancelling_a_finished_generation_says_so_and_changes_nothing(alice, alice_client, double):
    generation = _run(start(alice, make_key(alice, "openai"), "gpt-image-2", size="1024x1024", quality="low"))
    assert generation.status == "succeeded"
    response = _cancel(alice_client, generation)
    assert response.status_code == 302
    page = alice_client.get(response.url).content.decode()
    assert services.ALREADY_FINISHED in page
    generation.refresh_from_db()
    assert generation.status == "succeeded" and generation.cancel_requested_at is None
    assert CostRecord.objects.get(generation=generation).charge == "charged"


def test_cancel_is_a_post_with_a_csrf_token(alice, double):
    generation = start(alice, make_key(alice, "openai"), "gpt-image-2", size="1024x1024")
    url = reverse("generation:cancel", args=[generation.code])
    strict = client_for(alice)
    strict.handler.enforce_csrf_checks = True
    assert strict.get(url).status_code == 405
    assert strict.post(url).status_code == 403  # no token
    generation.refresh_from_db()
    assert generation.status == "queued"
    page = strict.get(reverse("generation:detail", args=[generation.code]))
    token = page.context["csrf_token"]
    assert strict.post(url, {"csrfmiddlewaretoken": str(token)}).status_code == 302
    generation.refresh_from_db()
    assert generation.status == "canceled"


def test_another_workspace_cannot_cancel(alice, charlie_client, double):
    generation = start(alice, make_key(alice, "openai"), "gpt-image-2", size="1024x1024")
    assert _cancel(charlie_client, generation).status_code == 404
    generation.refresh_from_db()
    assert generation.status == "queued" and generation.cancel_requested_at is None


def test_a_member_can_cancel_a_generation_of_the_workspace(alice, bob_client, double):
    generation = start(alice, make_key(alice, "openai"), "gpt-image-2", size="1024x1024")
    assert _cancel(bob_client, generation).status_code == 302
    generation.refresh_from_db()
    assert generation.status == "canceled"


# OpenAI: one blocking call that OpenAI cannot cancel


def test_openai_cancelled_in_flight_ends_cancelled_and_the_late_answer_makes_the_cost_exact(
    alice, alice_client, double, monkeypatch
):
    generation = start(alice, make_key(alice, "openai"), "gpt-image-2", size="1024x1024", quality="low")
    # The page's cancel arrives while the call is out (before OpenAI answers).
    done = _cancel_during(monkeypatch, openai_images, "generate", alice_client, generation, after=False)
    generation = _run(generation)
    assert done[0].status_code == 302
    assert generation.status == "canceled"
    assert double.count("openai.generate") == 1
    record = CostRecord.objects.get(generation=generation)
    # The answer came after all: OpenAI billed it, and its usage prices it exactly.
    assert record.charge == "charged" and record.amount_nanousd is not None and record.amount_nanousd > 0
    assert record.unknown_reason == "" and record.usage["output_tokens"] > 0
    assert record.provider_request_ids and record.provider_request_ids[0].startswith("req_")
    assert not GeneratedImage.objects.filter(generation=generation).exists()  # the user cancelled
    assert "the cost below is what it billed" in generation.error_message
    # The month's totals moved the record from "unknown" to its amount.
    month = UsageMonth.objects.get(workspace=generation.workspace)
    assert (month.requests, month.unknown, month.amount_nanousd) == (1, 0, record.amount_nanousd)
    assert _spent(generation) == record.amount_nanousd
    page = _page(alice_client, generation)
    assert record.amount_display in page and 'data-testid="cancel"' not in page


def test_openai_cancelled_in_flight_with_no_answer_stays_possibly_charged(
    alice, alice_client, double, monkeypatch, settings
):
    settings.PROVIDER_TIMEOUT_SECONDS = 0.5
    double.hang_seconds = 2
    double.script("openai", ["slow"])
    generation = start(alice, make_key(alice, "openai"), "gpt-image-2", size="1024x1024")
    done = _cancel_during(monkeypatch, openai_images, "generate", alice_client, generation, after=False)
    generation = _run(generation)
    assert done[0].status_code == 302
    assert generation.status == "canceled"
    assert generation.error_message == pipeline.CANCELLED_POSSIBLY_CHARGED
    record = CostRecord.objects.get(generation=generation)
    assert record.charge == "possible" and record.amount_nanousd is None
    assert "Cancelled while OpenAI was generating" in record.unknown_reason
    assert _spent(generation) == generation.quote_nanousd  # counted at its quote until reconciled
    assert double.count("openai.generate") == 1  # never sent again
    assert "possibly charged" in _page(alice_client, generation)


def test_openai_cancelled_in_flight_then_refused_was_not_billed(alice, alice_client, double, monkeypatch):
    double.script("openai", ["moderation"])
    generation = start(alice, make_key(alice, "openai"), "gpt-image-2", size="1024x1024")
    _cancel_during(monkeypatch, openai_images, "generate", alice_client, generation, after=False)
    generation = _run(generation)
    assert generation.status == "canceled"
    record = CostRecord.objects.get(generation=generation)
    assert record.amount_nanousd == 0 and record.not_billed and record.resolution_note
    assert UsageMonth.objects.get(workspace=generation.workspace).unknown == 0
    assert _spent(generation) == 0


def test_openai_cancelled_between_retries_charges_nothing_and_sends_nothing_more(
    alice, alice_client, double, monkeypatch
):
    double.script("openai", ["rate_limit"])
    generation = start(alice, make_key(alice, "openai"), "gpt-image-2", size="1024x1024")
    cancels = []

    def sleep(seconds):  # the wait before the retry: the user cancels then
        if not cancels:
            cancels.append(_cancel(alice_client, generation))

    monkeypatch.setattr(pipeline.time, "sleep", sleep)
    assert pipeline.run_generation(generation.pk) is False  # the page finished it
    generation.refresh_from_db()
    assert cancels and generation.status == "canceled"
    assert generation.error_message == pipeline.CANCELLED_NOTHING_CHARGED
    assert double.count("openai.generate") == 1  # the retry was never sent
    assert not CostRecord.objects.filter(generation=generation).exists()


def test_a_claimed_generation_cancelled_before_its_call_sends_nothing(alice, double, monkeypatch):
    generation = start(alice, make_key(alice, "fal"), "fal-ai/flux-2-max", size="1024x1024")
    real_claim = pipeline.claim

    def claim_then_cancel(generation_id, attempt):
        claimed = real_claim(generation_id, attempt)
        verdict, _ = services.cancel_generation(claimed)
        assert verdict is Cancel.ASK_WORKER
        return claimed

    monkeypatch.setattr(pipeline, "claim", claim_then_cancel)
    generation = _run(generation)
    assert generation.status == "canceled"
    assert generation.error_message == pipeline.CANCELLED_NOTHING_CHARGED
    assert double.count("fal.submit") == 0
    assert not CostRecord.objects.filter(generation=generation).exists()


# fal: the worker cancels its requests at fal


def _job(double, request_id: str):
    with double.lock:
        return double.fal_jobs[request_id]


@pytest.fixture
def slow_fal(double):
    double.latency = 1000.0  # a request stays queued, then running, far longer than any test
    return double


def test_fal_cancelled_while_queued_charges_nothing(alice, alice_client, slow_fal, monkeypatch):
    generation = start(alice, make_key(alice, "fal"), "fal-ai/flux-2-max", size="1024x1024")
    done = _cancel_during(monkeypatch, fal_queue, "submit", alice_client, generation)
    generation = _run(generation)
    assert done[0].status_code == 302
    assert generation.status == "canceled"
    assert generation.error_message == pipeline.CANCELLED_NOTHING_CHARGED
    assert slow_fal.count("fal.cancel") == 1
    assert not CostRecord.objects.filter(generation=generation).exists()
    assert slow_fal.billed("fal") == []  # fal's books agree
    assert _spent(generation) == 0
    assert "nothing charged" in _page(alice_client, generation)


def test_the_page_says_cancelling_until_the_worker_has_cancelled_at_fal(alice, alice_client, slow_fal):
    generation = start(alice, make_key(alice, "fal"), "fal-ai/flux-2-max", size="1024x1024")
    Generation.objects.filter(pk=generation.pk).update(status="running", attempts=1, stage="provider")
    response = _cancel(alice_client, generation)
    page = alice_client.get(response.url).content.decode()
    assert "Cancelling: the worker is asking fal.ai to stop the request" in page
    assert 'data-testid="cancel"' not in page  # asked once
    generation.refresh_from_db()
    assert generation.status == "running" and generation.cancel_requested_at is not None


def test_fal_cancelled_while_drawing_is_possibly_charged(alice, alice_client, slow_fal, monkeypatch):
    generation = start(alice, make_key(alice, "fal"), "fal-ai/flux-2-max", size="1024x1024")
    real = fal_queue.submit

    def submit_then_start_drawing(*args, **kwargs):
        handle = real(*args, **kwargs)
        _job(slow_fal, handle.request_id).created -= 500  # IN_PROGRESS at fal
        _cancel(alice_client, generation)
        return handle

    monkeypatch.setattr(fal_queue, "submit", submit_then_start_drawing)
    generation = _run(generation)
    assert generation.status == "canceled"
    assert generation.error_message == pipeline.CANCELLED_POSSIBLY_CHARGED
    record = CostRecord.objects.get(generation=generation)
    assert record.charge == "possible" and record.amount_nanousd is None
    assert "GPU time" in record.unknown_reason
    assert record.provider_request_ids == [generation.provider_requests[0]["request_id"]]
    assert _spent(generation) == generation.quote_nanousd


def test_fal_too_late_to_cancel_fetches_and_bills_the_image(alice, alice_client, slow_fal, monkeypatch):
    generation = start(alice, make_key(alice, "fal"), "fal-ai/flux-2-max", size="1024x1024")
    _cancel_during(monkeypatch, fal_queue, "submit", alice_client, generation)
    real_cancel = fal_queue.cancel

    def finishes_first(api_key, handle, **kwargs):
        _job(slow_fal, handle.request_id).created -= 2000  # it completes just before the cancel arrives
        return real_cancel(api_key, handle, **kwargs)

    monkeypatch.setattr(fal_queue, "cancel", finishes_first)
    generation = _run(generation)
    assert slow_fal.count("fal.cancel") == 1  # answered 400 ALREADY_COMPLETED
    assert generation.status == "succeeded"
    assert generation.error_message.startswith(pipeline.TOO_LATE_TO_CANCEL)
    assert generation.images.count() == 1
    record = CostRecord.objects.get(generation=generation)
    assert record.charge == "charged" and record.amount_nanousd == FLUX
    assert [entry.output_nanousd for entry in slow_fal.billed("fal")] == [FLUX]


def test_fal_cancel_between_two_images_sends_no_more_and_cancels_the_queued_one(
    alice, alice_client, slow_fal, monkeypatch
):
    generation = start(alice, make_key(alice, "fal"), "fal-ai/flux-2-max", size="1024x1024", n=2)
    _cancel_during(monkeypatch, fal_queue, "submit", alice_client, generation)
    generation = _run(generation)
    assert slow_fal.count("fal.submit") == 1  # the second image was never sent
    assert slow_fal.count("fal.cancel") == 1
    assert generation.status == "canceled"
    assert not CostRecord.objects.filter(generation=generation).exists()


def test_fal_cancel_after_one_of_two_images_keeps_and_bills_the_one_made(
    alice, alice_client, slow_fal, monkeypatch
):
    generation = start(alice, make_key(alice, "fal"), "fal-ai/flux-2-max", size="1024x1024", n=2)
    real = fal_queue.submit
    submitted = []

    def first_done_then_cancel(*args, **kwargs):
        handle = real(*args, **kwargs)
        submitted.append(handle)
        if len(submitted) == 1:
            _job(slow_fal, handle.request_id).created -= 2000  # the first image is ready at once
        else:
            _cancel(alice_client, generation)  # the cancel comes after the second was queued
        return handle

    monkeypatch.setattr(fal_queue, "submit", first_done_then_cancel)
    generation = _run(generation)
    assert generation.status == "succeeded"
    assert generation.error_message == pipeline.CANCELLED_PARTLY.format(made=1, n=2)
    assert generation.images.count() == 1
    record = CostRecord.objects.get(generation=generation)
    assert record.charge == "charged" and record.amount_nanousd == FLUX and record.images == 1
    assert slow_fal.count("fal.cancel") == 1
    assert [entry.request_id for entry in slow_fal.billed("fal")] == [submitted[0].request_id]


# The page and the worker on their own database connections (threads), in a fixed order (events)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("provider", ["openai", "fal"])
def test_a_cancel_from_another_connection_while_the_call_is_out(alice, double, monkeypatch, provider):
    """The worker's thread is inside the provider call when the page's request (another connection)
    cancels: OpenAI ends cancelled at once and its late answer is priced exactly; fal is cancelled in its
    queue by the worker at its next poll."""
    double.latency = 1000.0 if provider == "fal" else 0.0
    model = "gpt-image-2" if provider == "openai" else "fal-ai/flux-2-max"
    quality = "low" if provider == "openai" else ""
    generation = start(alice, make_key(alice, provider), model, size="1024x1024", quality=quality)
    module, name = (openai_images, "generate") if provider == "openai" else (fal_queue, "submit")
    real = getattr(module, name)
    in_call, cancelled = threading.Event(), threading.Event()

    def held(*args, **kwargs):
        in_call.set()
        assert cancelled.wait(30), "the page never cancelled"
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, held)
    worker = threading.Thread(target=run_in_thread, args=(generation.pk,))
    worker.start()
    try:
        assert in_call.wait(30), "the worker never called the provider"
        response = _cancel(client_for(alice), generation)
        assert response.status_code == 302
        generation.refresh_from_db()
        assert generation.cancel_requested_at is not None
        if provider == "openai":
            assert generation.status == "canceled"  # the page finished it; the call is still out
            assert CostRecord.objects.get(generation=generation).charge == "possible"
        else:
            assert generation.status == "running"  # the worker cancels at fal, then finishes it
    finally:
        cancelled.set()
        worker.join()
    generation.refresh_from_db()
    assert generation.status == "canceled"
    if provider == "openai":
        record = CostRecord.objects.get(generation=generation)
        assert record.charge == "charged" and record.amount_nanousd
        assert _spent(generation) == record.amount_nanousd
    else:
        assert double.count("fal.cancel") == 1
        assert not CostRecord.objects.filter(generation=generation).exists()
        assert _spent(generation) == 0


def run_in_thread(generation_id: int) -> None:
    try:
        pipeline.run_generation(generation_id)
    finally:
        connections.close_all()


def test_a_worker_that_dies_after_cancelling_a_started_fal_request_leaves_it_on_the_books(
    alice, alice_client, slow_fal, monkeypatch
):
    """The cancel was sent after fal's runner started, then the worker died before finishing: the
    attempt that resumes it records the possible charge instead of forgetting the request."""
    generation = start(alice, make_key(alice, "fal"), "fal-ai/flux-2-max", size="1024x1024")
    real = fal_queue.submit

    def submit_then_start_drawing(*args, **kwargs):
        handle = real(*args, **kwargs)
        _job(slow_fal, handle.request_id).created -= 500  # IN_PROGRESS at fal
        _cancel(alice_client, generation)
        return handle

    def dies(*args, **kwargs):
        raise SystemExit  # the worker process goes away before the generation's end is saved

    monkeypatch.setattr(fal_queue, "submit", submit_then_start_drawing)
    monkeypatch.setattr(pipeline, "_conclude", dies)
    with pytest.raises(SystemExit):
        pipeline.run_generation(generation.pk)
    generation.refresh_from_db()
    assert generation.status == "running" and generation.provider_requests[0]["cancelled"]
    # The sweep finds the lease expired and resumes it (its request id is saved).
    monkeypatch.undo()
    monkeypatch.setattr(pipeline.time, "sleep", lambda seconds: None)
    later = generation.lease_expires_at + dt.timedelta(seconds=1)
    sweep = pipeline.sweep_stale_generations(now=later)
    assert sweep.to_run == [generation.pk]
    Generation.objects.filter(pk=generation.pk).update(
        lease_expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    generation = _run(generation)
    assert generation.status == "canceled"
    record = CostRecord.objects.get(generation=generation)
    assert record.charge == "possible" and "GPU time" in record.unknown_reason
    assert slow_fal.count("fal.submit") == 1 and slow_fal.count("fal.cancel") == 1

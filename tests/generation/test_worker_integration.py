"""End to end through the real broker and a real Celery worker process (threads pool)."""

from __future__ import annotations

import time

import pytest

from generation.models import CostRecord, Generation
from tests.support import canary
from tests.support.generation import start
from tests.support.keys import FAL_KEY, OPENAI_KEY, make_key
from tests.support.prices import FLUX_MAX, fal_image, unit_prices
from tests.support.worker import celery_worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def _wait_final(generation: Generation, timeout: float = 60) -> Generation:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        generation.refresh_from_db()
        if generation.is_final:
            return generation
        time.sleep(0.2)
    raise AssertionError(f"generation still {generation.status} after {timeout}s")


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PROVIDER_TIMEOUT_SECONDS = 10


def test_both_providers_through_a_real_worker(alice, double, media, tmp_path):
    openai_key, fal_key = make_key(alice, "openai"), make_key(alice, "fal")
    with celery_worker(tmp_path) as worker:
        first = start(alice, openai_key, "gpt-image-2", size="1024x1024", quality="low")
        second = start(alice, fal_key, "fal-ai/flux-2-max", size="1536x1024")
        first, second = _wait_final(first), _wait_final(second)
        log = worker.log()
    assert first.status == "succeeded", first.error_message + log[-2000:]
    assert second.status == "succeeded", second.error_message + log[-2000:]
    for generation in (first, second):
        image = generation.images.get()
        assert image.file.storage.exists(image.file.name)
        assert image.thumbnail.storage.exists(image.thumbnail.name)
    assert CostRecord.objects.get(generation=second).amount_nanousd == fal_image(FLUX_MAX, "1536x1024")
    usage, price = CostRecord.objects.get(generation=first).usage, unit_prices("gpt-image-2")
    assert CostRecord.objects.get(generation=first).amount_nanousd == (
        usage["input_tokens"] * price["text_input"] + usage["output_tokens"] * price["image_output"]
    )
    # The worker's logs never show the keys it used (the double did receive them).
    assert double.received_credentials() >= {OPENAI_KEY, FAL_KEY}
    assert canary.hits(log, [OPENAI_KEY, FAL_KEY]) == []


@pytest.mark.drill
def test_a_worker_killed_mid_call_still_reaches_a_final_state(alice, double, media, tmp_path):
    from generation import tasks

    double.latency = 3  # fal keeps the request in progress for 3 s
    fal_key = make_key(alice, "fal")
    with celery_worker(tmp_path) as worker:
        generation = start(alice, fal_key, "fal-ai/flux-2-max")
        deadline = time.monotonic() + 20
        while not _saved_request_id(generation) and time.monotonic() < deadline:
            time.sleep(0.05)
        worker.kill()  # kill -9 while the provider call is in flight
        # Its lease runs out; the sweep hands the saved fal request to a new attempt.
        Generation.objects.filter(pk=generation.pk).update(lease_expires_at="2000-01-01T00:00:00Z")
        worker.start()
        tasks.sweep_stale_generations()
        generation = _wait_final(generation)
    assert generation.status == "succeeded", generation.error_message
    assert double.count("fal.submit") == 1
    assert generation.images.count() == 1
    assert CostRecord.objects.filter(generation=generation).count() == 1


def _saved_request_id(generation: Generation) -> str | None:
    """Return the fal request id the worker saved (a slot is saved as pending, without one, first)."""
    entries = Generation.objects.get(pk=generation.pk).provider_requests or []
    return next((entry["request_id"] for entry in entries if entry.get("request_id")), None)

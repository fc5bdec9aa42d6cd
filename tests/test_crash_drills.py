"""Crash drills: kill -9 a real worker in the middle of provider calls, again and again, and count.

Each kill lands while provider calls are in flight (the double takes 3 s per image): an OpenAI call and a
fal request, unless on a busy machine one of them finished before the other started.
The worker is restarted, the dead attempts' leases are expired (as if the clock had run on) and the
sweep runs, as celery beat would. Then: every generation must be final, none may have two images in one
slot or two cost records, no reservation may be left, and the provider calls per generation are counted.
fal requests are saved right after submit, so an interrupted fal generation is resumed by polling (one
submit per image, and it succeeds); an interrupted OpenAI call cannot be resumed and is never repeated
(it may have been billed), so it fails with a message that says so.
"""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest
from django.db.models import Count

from generation import budgets, tasks
from generation.models import CostRecord, GeneratedImage, Generation
from tests.conftest import workspace_of
from tests.generation.helpers import make_key, start
from tests.worker import celery_worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

KILLS = 10
LATENCY = 3.0  # seconds the double takes per image: the kill must land inside it
FAL_MODEL = "fal-ai/flux-2-max"
FAL_FLUX_MAX_1MP = 70_000_000  # nano-USD per 1024×1024 image


def _in_flight(generation: Generation, double) -> bool:
    """Return whether the provider has the generation's request and has not answered it yet."""
    generation.refresh_from_db()
    if generation.status != Generation.Status.RUNNING:
        return False
    if generation.provider == "fal":
        # Every image's request is submitted and saved, and fal is still working on them.
        ids = [e["request_id"] for e in generation.provider_requests if not e.get("failed")]
        jobs = [double.fal_jobs.get(request_id) for request_id in ids]
        return len(ids) == generation.n and all(job and not job.done() for job in jobs)
    # The double holds each answer for LATENCY seconds after it logs the request.
    return any(r.json["prompt"] == generation.prompt for r in double.requests("openai.generate"))


def _ready_to_kill(batch: list[Generation], double) -> bool:
    """Return whether some call of the batch is in flight and none is still about to start."""
    in_flight = [_in_flight(g, double) for g in batch]
    # On a busy machine one generation may finish before the other starts: kill mid-call anyway.
    return any(in_flight) and all(flying or g.is_final for flying, g in zip(in_flight, batch, strict=True))


def _wait(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_kill_9_mid_call_ten_times_leaves_every_generation_final_and_nothing_doubled(
    alice, double, settings, tmp_path, capsys
):
    began = time.monotonic()
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PROVIDER_TIMEOUT_SECONDS = 20
    double.latency = LATENCY
    openai_key, fal_key = make_key(alice, "openai"), make_key(alice, "fal")
    generations: list[Generation] = []
    interrupted: Counter[str] = Counter()
    interrupted_pks: set[int] = set()
    swept: Counter[str] = Counter()

    with celery_worker(tmp_path) as worker:
        for kill in range(KILLS):
            batch = [
                start(
                    alice, openai_key, "gpt-image-2", size="1024x1024", prompt=f"crash drill {kill}: OpenAI"
                ),
                start(
                    alice,
                    fal_key,
                    FAL_MODEL,
                    size="1024x1024",
                    n=1 + kill % 2,
                    prompt=f"crash drill {kill}: fal",
                ),
            ]
            generations += batch
            _wait(lambda b=batch: _ready_to_kill(b, double), 30, f"kill {kill}: a call in flight")
            worker.kill()  # kill -9, mid-call
            hit = Generation.objects.filter(pk__in=[g.pk for g in batch], status=Generation.Status.RUNNING)
            interrupted.update(hit.values_list("provider", flat=True))
            interrupted_pks.update(hit.values_list("pk", flat=True))
            # The dead attempt's lease runs out; the sweep (celery beat, every minute) finds it.
            Generation.objects.filter(status=Generation.Status.RUNNING).update(
                lease_expires_at="2000-01-01T00:00:00Z"
            )
            swept.update(tasks.sweep_stale_generations())
            worker.start()

        def all_final() -> bool:
            return not Generation.objects.exclude(status__in=Generation.FINAL).exists()

        _wait(all_final, 60, "every generation to be final")
        assert tasks.sweep_stale_generations() == {"resumed": 0, "failed": 0, "requeued": 0}
        log = worker.log()

    finals = list(Generation.objects.filter(pk__in=[g.pk for g in generations]))
    not_final = [g for g in finals if not g.is_final]
    duplicate_images = (
        GeneratedImage.objects.values("generation", "index").annotate(n=Count("pk")).filter(n__gt=1).count()
    )
    duplicate_costs = CostRecord.objects.values("generation").annotate(n=Count("pk")).filter(n__gt=1).count()
    calls = _provider_calls(double, finals)
    summary = {
        "crash_drills": {
            "kills": KILLS,
            "interrupted_calls": dict(interrupted),
            "sweep": dict(swept),
            "generations": len(finals),
            "not_final": len(not_final),
            "outcomes": dict(Counter(f"{g.provider}:{g.status}" for g in finals)),
            "duplicate_images": duplicate_images,
            "duplicate_cost_records": duplicate_costs,
            "openai_calls_per_generation": _histogram(calls["openai"]),
            "fal_images": sum(g.n for g in finals if g.provider == "fal"),
            "fal_submits_per_image": _histogram(calls["fal"]),
            "seconds": round(time.monotonic() - began, 1),
        }
    }
    with capsys.disabled():
        print("\n" + json.dumps(summary))

    # Every kill landed in a provider call (the double holds each answer for LATENCY seconds).
    assert sum(interrupted.values()) >= KILLS and interrupted["openai"] and interrupted["fal"], interrupted
    assert not_final == []
    assert duplicate_images == 0 and duplicate_costs == 0
    assert budgets.status(workspace_of(alice)).reserved_nanousd == 0
    assert set(calls["openai"].values()) == {1}  # an interrupted OpenAI call is never repeated
    assert set(calls["fal"].values()) == {1}  # resumption polls: one submit per image
    for generation in finals:
        if generation.provider == "fal":
            # Resumed or not: every image once, charged once.
            assert generation.status == "succeeded", generation.error_message + log[-3000:]
            assert generation.images.count() == generation.n
            assert generation.cost.amount_nanousd == generation.n * FAL_FLUX_MAX_1MP
        elif generation.pk in interrupted_pks:
            assert generation.status == "failed"
            assert "may have billed" in generation.error_message
            # On the books as possibly charged (amount unknown, counted at its quote), never as nothing.
            record = CostRecord.objects.get(generation=generation)
            assert record.charge == CostRecord.Charge.POSSIBLE and record.amount_nanousd is None
        else:
            assert generation.status == "succeeded", generation.error_message + log[-3000:]


def _provider_calls(double, generations: list[Generation]) -> dict[str, dict[str, int]]:
    """Return OpenAI image calls per generation and fal submits per image, from the double's log."""
    prompts = Counter(
        (r.endpoint, (r.json or {}).get("prompt"))
        for r in double.requests()
        if r.endpoint.endswith(("generate", "submit"))
    )
    calls: dict[str, dict[str, int]] = {"openai": {}, "fal": {}}
    for g in generations:
        if g.provider == "openai":
            calls["openai"][str(g.code)] = prompts[("openai.generate", g.prompt)]
        else:
            # Every image of a fal generation is one request with the same prompt.
            calls["fal"][str(g.code)] = prompts[("fal.submit", g.prompt)] / g.n
    return calls


def _histogram(per_generation: dict[str, float]) -> dict[str, int]:
    return {f"{value:g}": count for value, count in sorted(Counter(per_generation.values()).items())}


def test_a_worker_killed_while_fal_holds_its_submit_says_fal_may_have_billed(
    alice, double, settings, tmp_path
):
    # fal received the request (and will run and bill it) but the worker died before it learnt the
    # request id: nothing can be resumed, and "nothing was charged" would be untrue.
    settings.MEDIA_ROOT = tmp_path / "media"
    double.hang_seconds = 5  # fal takes its time to answer the submit
    double.script("fal", ["slow"])
    fal_key = make_key(alice, "fal")
    with celery_worker(tmp_path) as worker:
        generation = start(alice, fal_key, FAL_MODEL, size="1024x1024", prompt="killed during submit")
        _wait(lambda: double.count("fal.submit") == 1, 30, "the submit to reach fal")
        worker.kill()
        Generation.objects.filter(pk=generation.pk).update(lease_expires_at="2000-01-01T00:00:00Z")
        assert tasks.sweep_stale_generations()["failed"] == 1
    generation.refresh_from_db()
    assert len(double.fal_jobs) == 1  # fal has the request
    assert generation.status == "failed"
    assert "may have billed" in generation.error_message, generation.error_message
    assert budgets.status(workspace_of(alice)).reserved_nanousd == 0
    record = CostRecord.objects.get(generation=generation)  # possibly charged, counted at its quote
    assert record.charge == CostRecord.Charge.POSSIBLE and record.amount_nanousd is None
    assert budgets.status(workspace_of(alice)).spent_nanousd == generation.quote_nanousd

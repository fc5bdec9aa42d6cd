"""Scale-out drill: two web processes and two workers that share only PostgreSQL, Redis and S3.

Each process has its own local folders (var, media), as on separate machines; the images go to a bucket
on a real S3 API server (moto's, on loopback). Generations are submitted through both web processes,
OpenAI and fal alike, and one worker is killed (kill -9) while every call is at the provider. The sweep
(run here, as celery beat would) fails the dead worker's OpenAI calls as possibly charged, never sending
them again, and resumes its fal requests on the other worker. Then: every generation is final, none is
charged twice or has two images in one slot, every image is in the bucket and served by either web
process, and no process wrote a file to its local folder.
"""

from __future__ import annotations

import re
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.db.models import Count

from aniavatar.celery import app
from generation import budgets, tasks
from generation.models import CostRecord, GeneratedImage, Generation
from tests.support.accounts import client_for, workspace_of
from tests.support.keys import make_key
from tests.support.prices import fal_image
from tests.support.web import WebSession, web_process
from tests.support.worker import Worker, app_env, forget_queue

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker, pytest.mark.drill]

LATENCY = 3.0  # seconds the double takes per image: the kill lands inside it
PER_WEB = 4  # generations submitted through each web process (half OpenAI, half fal)
THREADS = 4  # per worker: the two workers together hold every generation at once
FAL_MODEL = "fal-ai/flux-2-max"
# A worker's log at DEBUG names each task its pool is handed, with the generation's id as its argument.
HANDED = re.compile(r"TaskPool: Apply .*?'generation\.tasks\.run_generation'.*?'argsrepr': '\((\d+),\)'")


def _wait(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _form(i: int, keys: dict[str, str]) -> dict[str, str]:
    prompt = f"scale-out drill {i}"
    if i % 2:
        return {
            "model": FAL_MODEL,
            "prompt": prompt,
            "size": "1024x1024",
            "n": "1",
            "provider_key": keys["fal"],
        }
    return {
        "model": "gpt-image-2",
        "prompt": prompt,
        "size": "1024x1024",
        "quality": "low",
        "n": "1",
        "background": "auto",
        "provider_key": keys["openai"],
    }


def _all_at_the_provider(generations: list[Generation], double) -> bool:
    """Whether every call is out: OpenAI's received, fal's submitted with its request id saved."""
    if double.count("openai.generate") + double.count("fal.submit") < len(generations):
        return False
    fal = Generation.objects.filter(pk__in=[g.pk for g in generations], provider="fal")
    return all(
        any(entry.get("request_id") for entry in requests or [])
        for requests in fal.values_list("provider_requests", flat=True)
    )


def _local_files(root: Path) -> list[Path]:
    """Files under the processes' own media folders (the S3 storage must leave them empty)."""
    return [path for path in root.glob("*/media/**/*") if path.is_file()]


def test_two_webs_and_two_workers_share_only_postgresql_redis_and_s3(
    alice, double, s3_server, settings, tmp_path, figures
):
    if connection.vendor != "postgresql" or not django_settings.CELERY_BROKER_URL.startswith("redis"):
        pytest.skip("processes on separate machines share PostgreSQL and Redis (the CI's first pass)")
    began = time.monotonic()
    double.latency = LATENCY
    settings.PROVIDER_TIMEOUT_SECONDS = 20
    bucket = s3_server.new_bucket()
    settings.STORAGES = s3_server.storages(bucket, settings.STORAGES)  # this process reads the bucket too
    keys = {provider: str(make_key(alice, provider).code) for provider in ("openai", "fal")}
    session_id = client_for(alice).cookies[django_settings.SESSION_COOKIE_NAME].value
    queue = f"test-{uuid.uuid4().hex[:12]}"
    original_queue = app.conf.task_default_queue
    app.conf.task_default_queue = queue  # the sweep's resumed tasks go to the shared queue

    def env(role: str) -> dict[str, str]:
        # Folders of its own, as on another machine; only the database, broker and bucket are shared.
        return app_env(
            queue,
            ANIAVATAR_VAR_DIR=str(tmp_path / role / "var"),
            MEDIA_ROOT=str(tmp_path / role / "media"),
            CELERY_WORKER_CONCURRENCY=str(THREADS),
            **s3_server.env(bucket),
        )

    workers = [Worker(queue, env(f"worker-{i}"), tmp_path / f"worker-{i}.log") for i in (1, 2)]
    try:
        with (
            web_process(env("web-1"), tmp_path / "web-1.log") as web_1,
            web_process(env("web-2"), tmp_path / "web-2.log") as web_2,
        ):
            for worker in workers:
                worker.start()
            visitors = [WebSession(web_1, session_id), WebSession(web_2, session_id)]
            submitted: dict[str, str] = {}  # generation code → the web process it was submitted to
            for i in range(2 * PER_WEB):
                visitor = visitors[i % 2]
                response = visitor.post_form("/generate/", _form(i, keys))
                assert response.status_code == 302, response.text[:2000]
                submitted[response.headers["location"].strip("/").split("/")[-1]] = visitor.web.url
            generations = list(Generation.objects.filter(code__in=submitted))
            assert len(generations) == 2 * PER_WEB

            # Every call is at the provider: each worker holds THREADS of them. Kill the first one.
            _wait(lambda: _all_at_the_provider(generations, double), 30, "every call to reach the provider")
            workers[0].kill()
            # What the dead worker held: the generations its pool was handed (its log, at DEBUG).
            held = {int(pk) for pk in HANDED.findall(workers[0].log())}
            assert held, "the killed worker held no generation"
            mine = Generation.objects.filter(pk__in=[g.pk for g in generations])
            # The survivor finishes its own; the dead worker's stay running until the sweep.
            _wait(
                lambda: not mine.exclude(pk__in=held).exclude(status__in=Generation.FINAL).exists(),
                30,
                "the surviving worker to finish its generations",
            )
            orphans = mine.filter(pk__in=held, status="running")
            assert orphans.count() == len(held), "the dead worker's generations must wait for the sweep"
            orphaned = Counter(orphans.values_list("provider", flat=True))
            # Their leases run out; the sweep (celery beat, every minute) finds them.
            orphans.update(lease_expires_at="2000-01-01T00:00:00Z")
            swept = tasks.sweep_stale_generations()
            _wait(
                lambda: not Generation.objects.exclude(status__in=Generation.FINAL).exists(),
                60,
                "every generation to be final",
            )
            assert tasks.sweep_stale_generations() == {"resumed": 0, "failed": 0, "requeued": 0}

            # Every image is served by either web process: a redirect to the bucket, after the owner check.
            served = 0
            for image in GeneratedImage.objects.select_related("generation"):
                for visitor in visitors:
                    response = visitor.get(f"/images/{image.code}/")
                    assert response.status_code == 302, response.text[:500]
                    body = httpx.get(response.headers["location"], timeout=10).content
                    assert len(body) == image.size_bytes
                    served += 1
    finally:
        for worker in workers:
            worker.stop()
        app.conf.task_default_queue = original_queue
        forget_queue(queue)

    finals = list(Generation.objects.filter(pk__in=[g.pk for g in generations]))
    images = list(GeneratedImage.objects.all())
    duplicate_images = (
        GeneratedImage.objects.values("generation", "index").annotate(n=Count("pk")).filter(n__gt=1).count()
    )
    duplicate_costs = CostRecord.objects.values("generation").annotate(n=Count("pk")).filter(n__gt=1).count()
    calls = Counter(
        (r.endpoint, (r.json or {}).get("prompt"))
        for r in double.requests()
        if r.endpoint in ("openai.generate", "fal.submit")
    )
    figures(
        {
            "scale_out_drill": {
                "generations": len(finals),
                "orphaned_by_the_kill": dict(orphaned),
                "sweep": swept,
                "outcomes": dict(Counter(f"{g.provider}:{g.status}" for g in finals)),
                "images_served": served,
                "seconds": round(time.monotonic() - began, 1),
            }
        }
    )

    assert Counter(submitted.values()) == {web_1.url: PER_WEB, web_2.url: PER_WEB}
    assert sum(orphaned.values()) < len(finals)  # the survivor ran generations of its own too
    assert duplicate_images == 0 and duplicate_costs == 0
    assert set(calls.values()) == {1}  # nothing sent twice: no OpenAI call repeated, no fal image resubmitted
    assert budgets.status(workspace_of(alice)).reserved_nanousd == 0
    assert swept["resumed"] == orphaned["fal"] and swept["failed"] == orphaned["openai"]
    for generation in finals:
        if generation.provider == "fal":
            # Resumed on the other worker, or finished by the one that lived: made and charged once.
            assert generation.status == "succeeded", generation.error_message
            assert generation.cost.amount_nanousd == fal_image(FAL_MODEL)
        elif generation.status == "failed":
            # The dead worker's OpenAI call: never repeated, on the books as possibly charged.
            assert "may have billed" in generation.error_message
            assert CostRecord.objects.get(generation=generation).charge == CostRecord.Charge.POSSIBLE
        else:
            assert generation.status == "succeeded", generation.error_message
    succeeded = [g for g in finals if g.status == "succeeded"]
    assert len(images) == len(succeeded) >= PER_WEB
    assert s3_server.keys(bucket) == sorted(name for i in images for name in (i.file.name, i.thumbnail.name))
    assert _local_files(tmp_path) == []

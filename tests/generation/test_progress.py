"""What a generation's page says while it runs: the worker's stage, retries with their wait, the elapsed
time from the click, and the state in the tab's title (issue 17, defect 6)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from generation import pipeline
from generation.models import Generation
from tests.support.generation import start
from tests.support.keys import make_key

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PROVIDER_TIMEOUT_SECONDS = 2


@pytest.mark.parametrize(
    ("provider", "model", "fault", "reason"),
    [
        ("openai", "gpt-image-2", "rate_limit", "rate_limited"),
        ("openai", "gpt-image-2", "server_error", "server_error"),
        ("fal", "fal-ai/flux-2-max", "rate_limit", "rate_limited"),
    ],
)
def test_a_retry_is_on_the_row_while_the_worker_waits(
    alice, double, monkeypatch, provider, model, fault, reason
):
    key = make_key(alice, provider)
    double.script(provider, [fault])
    generation = start(alice, key, model)
    seen: list[tuple[str, str, float]] = []

    def sleep(seconds: float) -> None:
        row = Generation.objects.get(pk=generation.pk)
        if row.stage == Generation.Stage.RETRYING:
            assert row.retry_at is not None
            seen.append((row.stage, row.stage_detail, (row.retry_at - timezone.now()).total_seconds()))

    monkeypatch.setattr(pipeline.time, "sleep", sleep)
    checking: list[str] = []
    check_images = pipeline._check_images

    def observe(generation: Generation, outcome):  # type: ignore[no-untyped-def]
        checking.append(Generation.objects.get(pk=generation.pk).stage)
        return check_images(generation, outcome)

    monkeypatch.setattr(pipeline, "_check_images", observe)
    pipeline.run_generation(generation.pk)
    generation.refresh_from_db()
    assert generation.status == "succeeded", generation.error_message
    assert [(stage, detail) for stage, detail, _ in seen] == [("retrying", reason)]
    assert 0 < seen[0][2] <= 60  # the backoff delay (Retry-After: 1, or the first backoff step)
    assert checking == ["checking"]


def test_a_request_at_the_provider_is_said_without_an_extra_write(alice, double, monkeypatch):
    key = make_key(alice, "openai")
    generation = start(alice, key, "gpt-image-2")
    stages: list[str] = []
    renewals: list[dict] = []
    renew = pipeline._renew_lease

    def counting(generation, attempt, **fields):  # type: ignore[no-untyped-def]
        renewals.append(fields)
        return renew(generation, attempt, **fields)

    from providers import openai_images

    generate = openai_images.generate

    def observe(*args, **kwargs):  # type: ignore[no-untyped-def]
        stages.append(Generation.objects.get(pk=generation.pk).stage)
        return generate(*args, **kwargs)

    monkeypatch.setattr(pipeline, "_renew_lease", counting)
    monkeypatch.setattr(openai_images, "generate", observe)
    pipeline.run_generation(generation.pk)
    assert stages == ["provider"]
    # One renewal before the call (carrying the stage), one for "checking images": nothing more.
    assert [fields.get("stage") for fields in renewals] == ["provider", "checking"]


def _at(
    alice,
    *,
    status: str = "running",
    stage: str = "",
    detail: str = "",
    retry_in: float | None = None,
    created_ago: float = 10,
    started_after: float = 2,
    took: float | None = None,
) -> Generation:
    key = make_key(alice, "openai")
    generation = start(alice, key, "gpt-image-2")
    now = timezone.now()
    created = now - dt.timedelta(seconds=created_ago)
    Generation.objects.filter(pk=generation.pk).update(
        status=status,
        stage=stage,
        stage_detail=detail,
        retry_at=now + dt.timedelta(seconds=retry_in) if retry_in is not None else None,
        created_at=created,
        started_at=None if status == "queued" else created + dt.timedelta(seconds=started_after),
        finished_at=created + dt.timedelta(seconds=took) if took is not None else None,
    )
    generation.refresh_from_db()
    return generation


def _status(client, generation: Generation) -> str:
    response = client.get(reverse("generation:status", args=[generation.code]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize(
    ("state", "says", "title"),
    [
        ({"status": "queued"}, "Queued: waiting for a worker", "Queued – Generation"),
        ({"stage": ""}, "Sending the request to the provider", "Starting – Generation"),
        ({"stage": "provider"}, "At the provider: the provider is drawing", "At the provider – Generation"),
        (
            {"stage": "retrying", "detail": "rate_limited", "retry_in": 7.5},
            "Provider busy (rate limited), retrying in 8 s.",
            "Retrying in 8 s – Generation",
        ),
        (
            {"stage": "retrying", "detail": "server_error", "retry_in": 3.2},
            "Provider busy (temporary error), retrying in 4 s.",
            "Retrying in 4 s – Generation",
        ),
        (
            {"stage": "retrying", "detail": "timeout", "retry_in": -1},
            "Provider busy (temporary error), retrying now.",
            "Retrying – Generation",
        ),
        ({"stage": "checking"}, "checking and storing them", "Checking images – Generation"),
    ],
)
def test_the_status_partial_and_the_title_say_each_stage(alice, alice_client, frozen_now, state, says, title):
    # The clock stands still: "retrying in 4 s" is counted from the same instant the retry was set at.
    generation = _at(alice, **state)
    html = _status(alice_client, generation)
    assert says in html
    assert f"<title>{title} · AniAvatar</title>" in html
    assert 'hx-trigger="every 1s"' in html  # still polling
    page = alice_client.get(reverse("generation:detail", args=[generation.code])).content.decode()
    assert says in page
    assert f"<title>{title} · AniAvatar</title>" in page
    assert page.count("<title>") == 1  # the partial's own <title> only in the htmx answer


@pytest.mark.parametrize(("status", "word"), [("succeeded", "Succeeded"), ("failed", "Failed")])
def test_a_finished_generation_says_so_in_the_title_and_stops_polling(alice, alice_client, status, word):
    generation = _at(alice, status=status, stage="checking", took=6)
    html = _status(alice_client, generation)
    assert f"<title>{word} – Generation · AniAvatar</title>" in html
    assert "hx-trigger" not in html
    assert 'data-testid="progress"' not in html


def test_elapsed_counts_from_the_click_to_the_end_queue_included(alice, alice_client):
    # Queued 2 s, then 4 s at the provider: a 6 s run (started_at alone said "4 s").
    generation = _at(alice, status="succeeded", created_ago=30, started_after=2, took=6)
    assert '<span class="muted" aria-live="off" data-testid="elapsed">6 s</span>' in _status(
        alice_client, generation
    )


def test_elapsed_of_a_running_generation_is_up_to_now_and_ticks(alice, alice_client):
    generation = _at(alice, stage="provider", created_ago=9, started_after=2)
    html = _status(alice_client, generation)
    assert 'data-elapsed="9" data-elapsed-format="SECONDS s">9 s</span>' in html


def test_the_ticking_count_is_in_the_page_language(alice, alice_client):
    # app.js writes each tick from the page's own format, so an Arabic page never ticks in English.
    generation = _at(alice, stage="provider", created_ago=9, started_after=2)
    html = alice_client.get(f"/generations/{generation.code}/status/", headers={"accept-language": "ar"})
    assert 'data-elapsed="9" data-elapsed-format="SECONDS ث">9 ث</span>' in html.content.decode()


def test_a_queued_generation_shows_its_wait(alice, alice_client):
    generation = _at(alice, status="queued", created_ago=3)
    assert 'data-elapsed="3" data-elapsed-format="SECONDS s">3 s</span>' in _status(alice_client, generation)

"""Live previews (D36): the worker keeps the latest streamed partial privately while the provider draws,
the page shows it, and it is gone when the generation ends; fal's queue position and status are shown."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest
from django.utils import timezone

from generation import catalog, pipeline, previews, services
from generation.models import CostRecord, GeneratedImage, Generation
from providers.base import ProviderImage
from tests.support.accounts import client_for, workspace_of
from tests.support.factories import png_bytes
from tests.support.generation import start
from tests.support.keys import make_key

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PROVIDER_TIMEOUT_SECONDS = 5


def _with_previews(alice, key, **overrides) -> Generation:
    model = catalog.load().get("gpt-image-2")
    fields = {"size": "1024x1024", "quality": "low", "n": 1, "prompt": "A portrait of Ana", "previews": True}
    fields.update(overrides)
    return services.start_generation(
        workspace=workspace_of(alice), user=alice, provider_key=key, model=model, **fields
    )


def _preview_files(root: Path) -> list[Path]:
    return (
        sorted(p for p in (root / "previews").rglob("*") if p.is_file())
        if (root / "previews").exists()
        else []
    )


def test_each_partial_is_shown_on_the_page_while_drawing_then_replaced_by_the_final_image(
    alice, double, settings, monkeypatch, django_capture_on_commit_callbacks
):
    key = make_key(alice, "openai")
    generation = _with_previews(alice, key)
    assert generation.partial_images == settings.PREVIEW_PARTIAL_IMAGES == 2
    browser = client_for(alice)
    seen: list[dict] = []
    store = previews.store

    def observe(generation: Generation, attempt, image: ProviderImage) -> bool:
        kept = store(generation, attempt, image)
        row = Generation.objects.get(pk=generation.pk)
        status = browser.get(f"/generations/{row.code}/status/").content.decode()
        served = browser.get(f"/generations/{row.code}/preview/")
        seen.append(
            {
                "kept": kept,
                "received": row.previews_received,
                "files": len(_preview_files(Path(settings.MEDIA_ROOT))),
                "on_page": f"/generations/{row.code}/preview/?n={row.previews_received}" in status,
                "alt": f"Preview {row.previews_received}: the avatar as the provider draws it" in status,
                "served": (served.status_code, served["Content-Type"], served["Cache-Control"]),
                "gallery": "preview" in browser.get("/gallery/").content.decode(),
            }
        )
        return kept

    monkeypatch.setattr(previews, "store", observe)
    with django_capture_on_commit_callbacks(execute=True):
        pipeline.run_generation(generation.pk)
    generation.refresh_from_db()

    assert generation.status == "succeeded", generation.error_message
    served = (200, "image/png", "private, max-age=60")
    assert seen == [
        {
            "kept": True,
            "received": n,
            "files": 1,
            "on_page": True,
            "alt": True,
            "served": served,
            "gallery": False,
        }
        for n in (1, 2)
    ]  # one file at a time: each preview replaces the one before
    # The final image replaced it: no preview left, not on the page, not served, not among the images.
    assert generation.preview.name == "" and _preview_files(Path(settings.MEDIA_ROOT)) == []
    assert browser.get(f"/generations/{generation.code}/preview/").status_code == 404
    assert "/preview/" not in browser.get(f"/generations/{generation.code}/").content.decode()
    assert GeneratedImage.objects.filter(generation=generation).count() == 1
    # The partials' tokens are in the cost, from the completed event's usage, within the quote.
    cost = CostRecord.objects.get(generation=generation)
    assert cost.usage["output_tokens"] == 196 + 2 * 100
    assert cost.amount_nanousd is not None and cost.amount_nanousd <= generation.quote_nanousd


def test_a_stream_broken_mid_way_ends_possibly_charged_once_and_leaves_no_preview(
    alice, double, settings, django_capture_on_commit_callbacks
):
    key = make_key(alice, "openai")
    double.script("openai", ["stream_break"])
    generation = _with_previews(alice, key)

    with django_capture_on_commit_callbacks(execute=True):
        pipeline.run_generation(generation.pk)
    generation.refresh_from_db()

    assert generation.status == "failed"
    assert generation.previews_received == 1  # it was shown before the break
    assert "may have generated and billed" in generation.error_message
    assert generation.preview.name == "" and _preview_files(Path(settings.MEDIA_ROOT)) == []
    cost = CostRecord.objects.get(generation=generation)
    assert cost.charge == CostRecord.Charge.POSSIBLE and cost.amount_nanousd is None
    assert double.count("openai.generate") == 1 and len(double.billed("openai")) == 1


def test_a_preview_arriving_after_the_generation_ended_is_not_kept(alice, double, settings):
    key = make_key(alice, "openai")
    generation = _with_previews(alice, key)
    claimed = pipeline.claim(generation.pk, attempt := uuid.uuid4())
    assert claimed is not None
    services.cancel_generation(claimed)  # the page ends an OpenAI call at once (D32)

    kept = previews.store(claimed, attempt, ProviderImage(png_bytes(1024, 1024), "image/png"))

    assert kept is False and _preview_files(Path(settings.MEDIA_ROOT)) == []
    assert Generation.objects.get(pk=generation.pk).preview.name == ""


def test_previews_are_off_when_unticked_for_several_images_and_for_fal(alice, double):
    openai_key, fal_key = make_key(alice, "openai"), make_key(alice, "fal")
    assert _with_previews(alice, openai_key, previews=False).partial_images == 0
    assert _with_previews(alice, openai_key, n=2).partial_images == 0
    assert start(alice, fal_key, "fal-ai/flux-2-max").partial_images == 0
    unticked = _with_previews(alice, openai_key, previews=False)
    ticked = _with_previews(alice, openai_key)
    price = catalog.load().get("gpt-image-2").price["image_output"]
    assert ticked.quote_nanousd - unticked.quote_nanousd == 2 * 100 * price


def test_the_generate_form_offers_previews_only_for_a_streaming_provider(alice, double):
    make_key(alice, "openai")
    make_key(alice, "fal")
    browser = client_for(alice)
    page = browser.get("/generate/").content.decode()  # the default model: OpenAI's
    assert 'name="previews"' in page and "checked" in page.split('name="previews"')[1].split(">")[0]
    # The model changed from fal's (no checkbox on the page): ticked again by default.
    switched = browser.get("/generate/?model=gpt-image-2&size=1024x1024").content.decode()
    assert "checked" in switched.split('name="previews"')[1].split(">")[0]
    unticked = browser.get("/generate/?model=gpt-image-2&previews_shown=1").content.decode()
    assert "checked" not in unticked.split('name="previews"')[1].split(">")[0]
    assert "Each preview adds about 100 output tokens" in page
    assert 'name="previews"' not in browser.get("/generate/?model=fal-ai/flux-2-max").content.decode()


def test_the_page_shows_fals_queue_position_and_status_as_they_change(alice, double, monkeypatch):
    key = make_key(alice, "fal")
    double.latency = 1.0  # IN_QUEUE for its first 30 %, then IN_PROGRESS
    generation = start(alice, key, "fal-ai/flux-2-max")
    browser = client_for(alice)
    shown: list[tuple[str, str]] = []
    on_status = pipeline.Call.provider_status

    def observe(call, status: str, queue_position: int | None = None) -> None:
        on_status(call, status, queue_position)
        row = Generation.objects.get(pk=generation.pk)
        page = browser.get(f"/generations/{generation.code}/status/").content.decode()
        line = next(part for part in page.split("<p") if 'data-testid="progress"' in part)
        shown.append((row.stage_detail, line.split(">", 1)[1].split("This page")[0].strip()))

    monkeypatch.setattr(pipeline.Call, "provider_status", observe)
    pipeline.run_generation(generation.pk)

    distinct = list(dict.fromkeys(shown))
    assert distinct[0] == (
        "IN_QUEUE:0",
        "In the provider&#x27;s queue: position 0. The provider reports its status as IN_QUEUE.",
    )
    assert distinct[-1][0] == "IN_PROGRESS" and "IN_PROGRESS" in distinct[-1][1]
    assert Generation.objects.get(pk=generation.pk).status == "succeeded"


def test_the_sweep_removes_the_preview_of_a_generation_whose_worker_vanished(
    alice, double, settings, django_capture_on_commit_callbacks
):
    key = make_key(alice, "openai")
    generation = _with_previews(alice, key)
    claimed = pipeline.claim(generation.pk, attempt := uuid.uuid4())
    assert claimed is not None
    assert previews.store(claimed, attempt, ProviderImage(png_bytes(1024, 1024), "image/png"))
    assert len(_preview_files(Path(settings.MEDIA_ROOT))) == 1
    # The worker died mid-call: its lease runs out.
    Generation.objects.filter(pk=generation.pk).update(attempts=1, lease_expires_at=timezone.now())

    with django_capture_on_commit_callbacks(execute=True):
        pipeline.sweep_stale_generations(now=timezone.now() + dt.timedelta(seconds=1))

    generation.refresh_from_db()
    assert generation.status == "failed" and generation.preview.name == ""
    assert _preview_files(Path(settings.MEDIA_ROOT)) == []

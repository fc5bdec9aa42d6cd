"""fal payloads are deleted after a generation is stored, by a follow-up task that can never hurt it."""

from __future__ import annotations

import logging

import pytest

from aniavatar.celery import app
from generation import pipeline, tasks
from generation.models import CostRecord, Generation
from keys.models import KeyUse
from tests.generation.helpers import make_key, start

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _eager(settings, tmp_path, monkeypatch):
    """Tasks sent with .delay() run at once, in this process (the follow-up task included)."""
    settings.MEDIA_ROOT = tmp_path / "media"
    monkeypatch.setattr(pipeline.time, "sleep", lambda seconds: None)
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = eager


def _run(generation: Generation, capture) -> Generation:
    with capture(execute=True):
        tasks.run_generation(generation.pk)
    generation.refresh_from_db()
    return generation


def test_a_fal_generation_has_its_payloads_deleted_after_it_is_stored(
    alice, double, django_capture_on_commit_callbacks
):
    key = make_key(alice, "fal")
    generation = _run(
        start(alice, key, "fal-ai/flux-2-max", size="1024x1024", n=2), django_capture_on_commit_callbacks
    )
    assert generation.status == "succeeded"
    assert CostRecord.objects.get(generation=generation).amount_nanousd == 140_000_000
    ids = {entry["request_id"] for entry in generation.provider_requests}
    assert len(ids) == 2 and double.deleted_payloads == ids
    # After the images were stored: every deletion came after the results were fetched.
    log = [r.endpoint for r in double.requests()]
    assert log.index("fal.delete_payloads") > max(i for i, e in enumerate(log) if e == "fal.result")
    # The generation's own key, decrypted through the vault and recorded with its purpose.
    (use,) = KeyUse.objects.filter(key=key, purpose="payloads")
    assert use.generation_code == generation.code and use.outcome == "ok"
    # fal no longer hands out the result.
    assert double.count("fal.delete_payloads") == 2


def test_an_openai_generation_has_nothing_to_delete(alice, double, django_capture_on_commit_callbacks):
    key = make_key(alice, "openai")
    generation = _run(start(alice, key, "gpt-image-2", size="1024x1024"), django_capture_on_commit_callbacks)
    assert generation.status == "succeeded"
    assert double.count("fal.delete_payloads") == 0
    assert not KeyUse.objects.filter(purpose="payloads").exists()


def test_a_failing_deletion_is_retried_a_bounded_number_of_times_and_never_touches_the_generation(
    alice, double, settings, caplog, django_capture_on_commit_callbacks
):
    key = make_key(alice, "fal")
    settings.FAL_PLATFORM_URL = "http://127.0.0.1:1/v1"  # nothing listens: every deletion fails
    caplog.set_level(logging.INFO, logger="generation.tasks")
    generation = _run(
        start(alice, key, "fal-ai/flux-2-max", size="1024x1024"), django_capture_on_commit_callbacks
    )
    assert generation.status == "succeeded" and generation.error_message == ""
    assert double.deleted_payloads == set()
    attempts = KeyUse.objects.filter(key=key, purpose="payloads").count()
    assert attempts == tasks.PAYLOAD_RETRIES + 1
    assert "payloads not deleted after 4 tries" in caplog.text
    assert CostRecord.objects.get(generation=generation).amount_nanousd == 70_000_000

"""Avatars on S3-compatible storage, against a real S3 API server on loopback (moto's, started by the tests).

A generation stores its image and thumbnail in the bucket; the owner's request is answered with a
redirect to a signed URL that expires within a minute (and serves those bytes); another workspace gets
a 404 and no URL; deleting removes both objects. When the storage fails after the provider answered, the
generation fails saying so, the provider's charge is recorded, and neither a row nor an object is left.
"""

from __future__ import annotations

import threading
import time
import urllib.request
from email.message import Message
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.exceptions import ClientError
from storages.backends.s3 import S3Storage

from generation import pipeline
from generation.models import CostRecord, GeneratedImage, Generation
from tests.support.generation import start
from tests.support.keys import make_key
from tests.support.s3 import s3_server as another_s3_server

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast(settings, monkeypatch):
    settings.PROVIDER_TIMEOUT_SECONDS = 5
    monkeypatch.setattr(pipeline.time, "sleep", lambda seconds: None)


def _generate(alice, key=None) -> Generation:
    key = key or make_key(alice, "openai")
    generation = start(alice, key, "gpt-image-2", size="1024x1024")
    pipeline.run_generation(generation.pk)
    generation.refresh_from_db()
    return generation


def _fetch(url: str) -> tuple[int, Message, bytes]:
    """GET a URL; return the status, the headers (case-insensitive) and the body."""
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.headers, response.read()


def test_a_generation_stores_both_files_in_the_bucket_and_the_owner_gets_a_short_lived_signed_url(
    alice, alice_client, double, s3_server, s3_bucket
):
    generation = _generate(alice)
    assert generation.status == "succeeded", generation.error_message
    image = generation.images.get()
    assert s3_server.keys(s3_bucket) == sorted([image.file.name, image.thumbnail.name])
    stored = s3_server.client().get_object(Bucket=s3_bucket, Key=image.file.name)["Body"].read()
    assert len(stored) == image.size_bytes

    for path, content_type, body_starts in (
        (f"/images/{image.code}/", "image/png", b"\x89PNG"),
        (f"/images/{image.code}/thumb/", "image/webp", b"RIFF"),
    ):
        response = alice_client.get(path)
        assert response.status_code == 302, path
        url = response["Location"]
        assert url.startswith(f"{s3_server.endpoint_url}/"), url
        query = parse_qs(urlsplit(url).query)
        assert query["X-Amz-Expires"] == ["60"]  # AWS_QUERYSTRING_EXPIRE
        assert query["X-Amz-Signature"]
        assert query["response-content-disposition"][0].startswith("inline; filename=")
        cache = response["Cache-Control"]
        assert "private" in cache and "max-age=30" in cache  # the browser reuses it well within its life
        status, headers, body = _fetch(url)
        assert status == 200
        assert headers["content-type"] == content_type
        assert body.startswith(body_starts)
    assert _fetch(alice_client.get(f"/images/{image.code}/")["Location"])[2] == stored

    download = alice_client.get(f"/images/{image.code}/", {"download": "1"})
    status, headers, _ = _fetch(download["Location"])
    assert headers["content-disposition"].startswith("attachment; filename=")


def test_another_workspace_gets_a_404_and_no_signed_url(alice, charlie_client, double, s3_bucket):
    image = _generate(alice).images.get()
    for path in (f"/images/{image.code}/", f"/images/{image.code}/thumb/"):
        response = charlie_client.get(path)
        assert response.status_code == 404
        assert "Location" not in response
        assert "X-Amz" not in response.content.decode()


def test_deleting_an_avatar_removes_both_objects(
    alice, alice_client, double, s3_server, s3_bucket, django_capture_on_commit_callbacks
):
    key = make_key(alice, "openai")
    first, second = (_generate(alice, key).images.get() for _ in range(2))
    assert len(s3_server.keys(s3_bucket)) == 4
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(f"/gallery/{first.code}/delete/")
    assert response.status_code == 302
    assert s3_server.keys(s3_bucket) == sorted([second.file.name, second.thumbnail.name])
    assert not GeneratedImage.objects.filter(pk=first.pk).exists()


def _assert_failed_with_the_charge_and_nothing_kept(generation: Generation) -> None:
    generation.refresh_from_db()
    assert generation.status == "failed"
    assert generation.error_message == pipeline.STORAGE_FAILED_MESSAGE
    assert not GeneratedImage.objects.filter(generation=generation).exists()
    record = CostRecord.objects.get(generation=generation)  # the provider billed the images it made
    assert record.charge == CostRecord.Charge.CHARGED
    assert record.amount_nanousd and record.amount_nanousd > 0
    assert generation.reserved_nanousd == 0


def test_storage_down_after_the_provider_answered_fails_the_generation_with_the_charge_recorded(
    alice, double, s3_server, settings
):
    # A second endpoint onto the same in-process store: stopping it is the app's S3 going down, while
    # the test still reads the bucket through the first.
    double.latency = 1.0
    with another_s3_server() as down:
        bucket = s3_server.new_bucket()
        settings.STORAGES = down.storages(bucket, settings.STORAGES)
        generation = start(alice, make_key(alice, "openai"), "gpt-image-2", size="1024x1024")

        def stop_s3_while_the_call_is_out() -> None:
            deadline = time.monotonic() + 20
            while not double.requests("openai.generate") and time.monotonic() < deadline:
                time.sleep(0.01)
            down.server.stop()

        stopper = threading.Thread(target=stop_s3_while_the_call_is_out)
        stopper.start()
        pipeline.run_generation(generation.pk)
        stopper.join()
    assert double.count("openai.generate") == 1
    _assert_failed_with_the_charge_and_nothing_kept(generation)
    assert s3_server.keys(bucket) == []


def test_storage_refusing_a_thumbnail_after_its_original_was_written_leaves_no_object(
    alice, double, s3_server, s3_bucket, monkeypatch
):
    written = []
    real_save = S3Storage._save

    def refusing_thumbnails(self, name, content):
        if name.endswith(".thumb.webp"):
            error = {"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."}}
            raise ClientError(error, "PutObject")
        written.append(real_save(self, name, content))
        return written[-1]

    monkeypatch.setattr(S3Storage, "_save", refusing_thumbnails)
    generation = start(alice, make_key(alice, "openai"), "gpt-image-2", size="1024x1024")
    pipeline.run_generation(generation.pk)
    assert len(written) == 1  # the original was really stored before the refusal (positive control)
    _assert_failed_with_the_charge_and_nothing_kept(generation)
    assert s3_server.keys(s3_bucket) == []

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import unquote

import pytest
from django.core.files.storage import FileSystemStorage

from tests.support.factories import make_generation, make_image, png_bytes

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


class SigningStorage(FileSystemStorage):
    """Stands in for S3Storage with querystring_auth: it hands out signed URLs."""

    querystring_auth = True

    def url(self, name: str | None, parameters: dict[str, Any] | None = None, **kwargs: Any) -> str:
        disposition = (parameters or {}).get("ResponseContentDisposition", "")
        return f"https://bucket.example/{name}?X-Amz-Signature=abc&disposition={disposition}"


@pytest.fixture
def image(alice, workspace, persona):
    created = dt.datetime(2026, 1, 15, 12, 0, tzinfo=dt.UTC)
    generation = make_generation(workspace, alice, persona=persona, created_at=created, n=2)
    make_image(generation, 0)
    return make_image(generation, 1, data=png_bytes(12, 10))


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_it_serves_the_original_bytes_with_safe_headers(alice_client, image):
    response = alice_client.get(f"/images/{image.code}/")
    assert response.status_code == 200
    assert body(response) == png_bytes(12, 10)
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    cache = response["Cache-Control"]
    assert "private" in cache
    assert "max-age=" in cache
    assert response["Content-Disposition"].startswith("inline")


def test_it_offers_a_download_with_a_sensible_name(alice_client, image):
    response = alice_client.get(f"/images/{image.code}/", {"download": "1"})
    assert response["Content-Disposition"] == 'attachment; filename="budget-ben-20260115-2.png"'
    assert body(response) == png_bytes(12, 10)


def test_it_names_a_download_without_persona_avatar(alice, alice_client, workspace):
    generation = make_generation(workspace, alice, created_at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC))
    image = make_image(generation)
    response = alice_client.get(f"/images/{image.code}/", {"download": "1"})
    assert response["Content-Disposition"] == 'attachment; filename="avatar-20260301-1.png"'


def test_members_can_fetch_workspace_images(bob_client, image):
    assert bob_client.get(f"/images/{image.code}/").status_code == 200


def test_it_never_renders_an_unexpected_content_type(alice_client, image):
    image.content_type = "image/svg+xml"
    image.save()
    response = alice_client.get(f"/images/{image.code}/")
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment")


def test_it_redirects_to_a_signed_url_with_s3(alice_client, image, settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "tests.generation.test_image_file.SigningStorage"},
    }
    response = alice_client.get(f"/images/{image.code}/", {"download": "1"})
    assert response.status_code == 302
    assert response["Location"].startswith(f"https://bucket.example/{image.file.name}?X-Amz-Signature=")
    assert 'attachment; filename="budget-ben-20260115-2.png"' in unquote(response["Location"])
    assert "private" in response["Cache-Control"]


def test_it_checks_the_workspace_before_redirecting(charlie_client, image, settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "tests.generation.test_image_file.SigningStorage"},
    }
    assert charlie_client.get(f"/images/{image.code}/").status_code == 404


def test_it_requires_login(client, image):
    response = client.get(f"/images/{image.code}/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.support.factories import make_generation, make_image

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


def test_it_serves_the_webp_thumbnail(alice, alice_client, workspace, persona):
    image = make_image(make_generation(workspace, alice, persona=persona))
    response = alice_client.get(f"/images/{image.code}/thumb/")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/webp"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "private" in response["Cache-Control"]
    assert Image.open(io.BytesIO(b"".join(response.streaming_content))).format == "WEBP"


def test_members_can_fetch_workspace_thumbnails(alice, bob_client, workspace):
    image = make_image(make_generation(workspace, alice))
    assert bob_client.get(f"/images/{image.code}/thumb/").status_code == 200

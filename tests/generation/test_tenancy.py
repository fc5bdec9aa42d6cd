"""Another workspace gets a 404 on every persona and image URL, whatever the method, and changes nothing."""

from __future__ import annotations

import pytest

from generation.models import Persona
from tests.generation.factories import make_generation, make_image

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]

PERSONA_URLS = [
    ("get", "/personas/{code}/"),
    ("post", "/personas/{code}/"),
    ("get", "/personas/{code}/?preview=1"),
    ("get", "/personas/{code}/duplicate/"),
    ("post", "/personas/{code}/duplicate/"),
    ("get", "/personas/{code}/delete/"),
    ("post", "/personas/{code}/delete/"),
]
IMAGE_URLS = ["/images/{code}/", "/images/{code}/?download=1", "/images/{code}/thumb/"]


@pytest.mark.parametrize(("method", "url"), PERSONA_URLS)
def test_another_workspace_gets_404_on_every_persona_url(charlie_client, persona, method, url):
    data = {"name": "Hijacked"} if method == "post" else None
    response = getattr(charlie_client, method)(url.format(code=persona.code), data)
    assert response.status_code == 404
    persona.refresh_from_db()
    assert persona.name == "Budget Ben"
    assert Persona.objects.count() == 1


@pytest.mark.parametrize("url", IMAGE_URLS)
def test_another_workspace_gets_404_on_every_image_url(alice, charlie_client, workspace, persona, url):
    image = make_image(make_generation(workspace, alice, persona=persona))
    response = charlie_client.get(url.format(code=image.code))
    assert response.status_code == 404
    assert b"\x89PNG" not in response.content

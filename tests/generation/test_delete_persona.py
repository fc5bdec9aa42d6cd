from __future__ import annotations

import pytest

from generation.models import GeneratedImage, Generation, Persona
from tests.support.factories import make_generation, make_image

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


def test_it_asks_for_confirmation_first(alice_client, persona):
    response = alice_client.get(f"/personas/{persona.code}/delete/")
    assert response.status_code == 200
    assert "Delete the persona “Budget Ben”?".encode() in response.content
    assert b"data-confirm=" in response.content
    assert b'method="post"' in response.content
    assert Persona.objects.filter(pk=persona.pk).exists()


def test_it_deletes_the_persona_and_keeps_its_avatars(alice, bob_client, workspace, persona):
    generation = make_generation(workspace, alice, persona=persona)
    make_image(generation)
    response = bob_client.post(f"/personas/{persona.code}/delete/")
    assert response.status_code == 302
    assert response["Location"] == "/personas/"
    assert not Persona.objects.exists()
    generation.refresh_from_db()
    assert generation.persona is None
    assert generation.persona_name == "Budget Ben"
    assert GeneratedImage.objects.count() == 1
    gallery = bob_client.get("/gallery/")
    assert b"Budget Ben" in gallery.content
    assert Generation.objects.count() == 1

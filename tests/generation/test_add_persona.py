from __future__ import annotations

import pytest

from generation.models import Persona

pytestmark = pytest.mark.django_db

BEN = {
    "name": "Budget Ben",
    "role": "freelance graphic designer",
    "age_range": "30-44",
    "gender_presentation": "masculine",
    "art_style": "illustration",
    "appearance": "short curly hair, round glasses",
    "expression": "warm smile",
    "clothing": "denim jacket",
    "setting": "busy café",
    "notes": "",
}


def test_it_shows_an_empty_form_with_labelled_fields(alice_client):
    response = alice_client.get("/personas/new/")
    assert response.status_code == 200
    for field in ("name", "role", "age_range", "gender_presentation", "art_style", "appearance", "notes"):
        assert f'<label for="id_{field}"'.encode() in response.content
    assert b"Give the persona a name" in response.content


def test_it_creates_a_persona_and_opens_it(alice, alice_client, workspace):
    response = alice_client.post("/personas/new/", BEN)
    persona = Persona.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/personas/{persona.code}/"
    assert persona.workspace == workspace
    assert persona.created_by == alice
    assert persona.role == "freelance graphic designer"
    assert persona.art_style == Persona.ArtStyle.ILLUSTRATION


def test_members_can_create_personas(bob, bob_client, workspace):
    bob_client.post("/personas/new/", BEN)
    assert Persona.objects.get().workspace == workspace


def test_it_shows_validation_errors_beside_the_field(alice_client):
    response = alice_client.post("/personas/new/", {**BEN, "name": "", "art_style": "oil-on-velvet"})
    assert response.status_code == 200
    assert b'id="id_name_error"' in response.content
    assert b'id="id_art_style_error"' in response.content
    assert b"This field is required." in response.content
    assert not Persona.objects.exists()


def test_it_previews_the_prompt_of_an_unsaved_persona(alice_client):
    response = alice_client.get("/personas/new/", {**BEN, "preview": "1"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    text = response.content.decode()
    assert text.lstrip().startswith('<div id="prompt-preview"')
    assert "<html" not in text
    assert "A digital illustration portrait of a person aged 30-44" in text
    assert "freelance graphic designer" in text
    assert not Persona.objects.exists()

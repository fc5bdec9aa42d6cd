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


# Two personas may share a name: a warning beside the field, never a refusal


def test_a_name_already_used_in_the_workspace_is_saved_with_a_warning(alice, alice_client, persona):
    response = alice_client.post("/personas/new/", {**BEN, "name": "budget ben"})
    assert response.status_code == 302  # not blocked
    copy = Persona.objects.exclude(pk=persona.pk).get()
    page = alice_client.get(response["Location"]).content.decode()
    assert 'data-testid="name-hint"' in page
    assert "already called “<bdi>budget ben</bdi>”" in page  # isolated: right to left, issue 18
    # The first one is told too: it now shares its name.
    assert 'data-testid="name-hint"' in alice_client.get(f"/personas/{persona.code}/").content.decode()
    assert copy.name == "budget ben"


def test_the_warning_comes_with_the_live_preview_while_typing(alice_client, persona):
    response = alice_client.get(
        "/personas/new/", {"preview": "1", "name": " Budget Ben "}, HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert 'id="prompt-preview"' in html
    assert 'id="name-hint" class="name-hint" aria-live="polite" hx-swap-oob="innerHTML"' in html
    assert "already called “<bdi>Budget Ben</bdi>”" in html
    response = alice_client.get(
        "/personas/new/", {"preview": "1", "name": "Careful Cora"}, HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert 'hx-swap-oob="innerHTML"' in html and 'data-testid="name-hint"' not in html  # the hint clears


def test_no_warning_for_the_persona_itself_nor_another_workspace(
    alice_client, charlie, charlie_client, persona
):
    assert 'data-testid="name-hint"' not in alice_client.get(f"/personas/{persona.code}/").content.decode()
    preview = alice_client.get(f"/personas/{persona.code}/", {"preview": "1", "name": "Budget Ben"})
    assert 'data-testid="name-hint"' not in preview.content.decode()
    response = charlie_client.post("/personas/new/", BEN)
    assert 'data-testid="name-hint"' not in charlie_client.get(response["Location"]).content.decode()

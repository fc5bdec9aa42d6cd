from __future__ import annotations

import pytest

from generation.models import Persona
from tests.support.factories import make_generation, make_image, make_persona

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


def form_data(persona: Persona, **changes: str) -> dict[str, str]:
    fields = ["name", "role", "age_range", "gender_presentation", "art_style", "appearance", "expression"]
    fields += ["clothing", "setting", "notes"]
    return {**{f: getattr(persona, f) for f in fields}, **changes}


def test_it_shows_the_form_the_prompt_and_a_generate_link(alice_client, persona):
    response = alice_client.get(f"/personas/{persona.code}/")
    assert response.status_code == 200
    assert b'value="Budget Ben"' in response.content
    assert b"who works as freelance designer" in response.content
    assert f'href="/generate/?persona={persona.code}"'.encode() in response.content
    assert b"No avatars yet." in response.content


def test_it_shows_the_persona_recent_avatars_linked_to_their_generation(
    alice, alice_client, workspace, persona
):
    generation = make_generation(workspace, alice, persona=persona)
    image = make_image(generation)
    other = make_image(
        make_generation(workspace, alice, persona=make_persona(workspace, alice, name="Other"))
    )
    response = alice_client.get(f"/personas/{persona.code}/")
    assert f"/images/{image.code}/thumb/".encode() in response.content
    assert f'href="/generations/{generation.code}/"'.encode() in response.content
    assert f"/images/{other.code}/thumb/".encode() not in response.content


def test_it_saves_changes(alice_client, persona):
    response = alice_client.post(f"/personas/{persona.code}/", form_data(persona, role="night nurse"))
    assert response.status_code == 302
    assert response["Location"] == f"/personas/{persona.code}/"
    persona.refresh_from_db()
    assert persona.role == "night nurse"
    page = alice_client.get(response["Location"])
    assert b"Saved." in page.content
    assert b"who works as night nurse" in page.content


def test_members_can_edit_personas(bob_client, persona):
    bob_client.post(f"/personas/{persona.code}/", form_data(persona, expression="determined"))
    persona.refresh_from_db()
    assert persona.expression == "determined"


def test_it_previews_unsaved_changes_without_saving_them(alice_client, persona):
    data = form_data(persona, role="lighthouse keeper", art_style="watercolor", preview="1")
    response = alice_client.get(f"/personas/{persona.code}/", data, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert b"A watercolor portrait painting" in response.content
    assert b"who works as lighthouse keeper" in response.content
    assert b"<form" not in response.content
    persona.refresh_from_db()
    assert persona.role == "freelance designer"


def test_it_shows_validation_errors_beside_the_field(alice_client, persona):
    response = alice_client.post(f"/personas/{persona.code}/", form_data(persona, name="x" * 101))
    assert response.status_code == 200
    assert b'id="id_name_error"' in response.content
    assert b"at most 100 characters" in response.content
    persona.refresh_from_db()
    assert persona.name == "Budget Ben"


def test_it_renders_html_in_persona_fields_as_text(alice, alice_client, workspace):
    persona = make_persona(
        workspace, alice, name="<script>alert(1)</script>", appearance='<img src=x onerror="alert(2)">'
    )
    pages = [
        alice_client.get(f"/personas/{persona.code}/"),
        alice_client.get(f"/personas/{persona.code}/", {**form_data(persona), "preview": "1"}),
        alice_client.get("/personas/"),
    ]
    for response in pages:
        assert b"<script>alert(1)</script>" not in response.content
        assert b"<img src=x" not in response.content
        assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in response.content


def test_it_is_a_404_for_an_unknown_persona(alice_client):
    response = alice_client.get("/personas/00000000-0000-0000-0000-000000000000/")
    assert response.status_code == 404

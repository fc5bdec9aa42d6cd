"""Another workspace gets a 404 on every persona and image URL, whatever the method, and changes nothing;
its keys and personas named in a form are refused."""

from __future__ import annotations

import re

import pytest

from generation.models import Generation, Persona
from tests.support.accounts import workspace_of
from tests.support.factories import make_generation, make_image, make_persona
from tests.support.keys import make_key

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


# Ids in a form's body


GENERATE = {"prompt": "A portrait", "model": "gpt-image-2", "size": "1024x1024", "quality": "low", "n": "1"}


def test_generate_refuses_another_workspaces_key_in_the_form(alice, alice_client, charlie, double):
    make_key(alice, "openai")
    theirs = make_key(charlie, "openai")
    response = alice_client.post("/generate/", {**GENERATE, "provider_key": str(theirs.code)})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not Generation.objects.exists()


def test_generate_refuses_another_workspaces_persona_in_the_form(alice, alice_client, charlie, double):
    make_key(alice, "openai")
    theirs = make_persona(workspace_of(charlie), charlie, name="Charlie's persona")
    response = alice_client.post("/generate/", {**GENERATE, "persona": str(theirs.code)})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Select a valid choice" in html
    assert "Charlie&#x27;s persona" not in html and "Charlie's persona" not in html
    assert not Generation.objects.exists()


def test_the_key_picker_names_keys_by_code_not_by_row_number(alice, alice_client, double):
    """The quote and options requests copy the form into the URL: row numbers would count all tenants' keys."""
    keys = [make_key(alice, "openai"), make_key(alice, "openai", secret="sk-proj-" + "b" * 48)]
    html = alice_client.get("/generate/").content.decode()
    select = re.search(r'<select name="provider_key".*?</select>', html, re.S).group(0)
    assert sorted(re.findall(r'value="([^"]*)"', select)) == sorted(str(k.code) for k in keys)

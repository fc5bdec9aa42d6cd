from __future__ import annotations

import pytest

from generation.models import Persona
from tests.support.factories import make_persona

pytestmark = pytest.mark.django_db


def test_it_copies_every_field_under_a_new_name(alice, bob, bob_client, workspace):
    original = make_persona(workspace, alice, appearance="red hair", setting="studio", art_style="anime")
    response = bob_client.post(f"/personas/{original.code}/duplicate/")
    copy = Persona.objects.exclude(pk=original.pk).get()
    assert response.status_code == 302
    assert response["Location"] == f"/personas/{copy.code}/"
    assert copy.name == "Budget Ben (copy)"
    assert copy.code != original.code
    assert (copy.appearance, copy.setting, copy.art_style) == ("red hair", "studio", "anime")
    assert copy.workspace == workspace
    assert copy.created_by == bob
    original.refresh_from_db()
    assert original.name == "Budget Ben"


def test_it_shortens_a_long_name_to_fit(alice, alice_client, workspace):
    original = make_persona(workspace, alice, name="n" * 100)
    alice_client.post(f"/personas/{original.code}/duplicate/")
    copy = Persona.objects.exclude(pk=original.pk).get()
    assert len(copy.name) == 100
    assert copy.name.endswith(" (copy)")


def test_it_only_copies_on_post(alice_client, persona):
    response = alice_client.get(f"/personas/{persona.code}/duplicate/")
    assert response.status_code == 405
    assert Persona.objects.count() == 1

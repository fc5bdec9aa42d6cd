"""The owner deletes a workspace: typing its name, offered the usage CSV first; rows and files all go (D33)."""

from __future__ import annotations

from pathlib import Path

import pytest

from accounts.models import Membership, User, Workspace
from accounts.teams import create_workspace
from generation import references, services
from generation.models import CostRecord, GeneratedImage, Generation, Persona, PersonaReference
from keys.models import ProviderKey
from tests.support.accounts import client_for, workspace_of
from tests.support.factories import make_generation, make_image, make_persona, png_bytes
from tests.support.keys import make_key

pytestmark = pytest.mark.django_db

URL = "/workspace/delete/"


@pytest.fixture
def client_workspace(alice: User, bob: User, media_root: Path, double) -> Workspace:
    """A client workspace of alice's, current in her session's eyes, with one of everything; bob in it."""
    workspace = create_workspace(alice, "Client: Northwind")
    Membership.objects.create(user=bob, workspace=workspace, role="admin")
    persona = make_persona(workspace, alice)
    clean = references.clean_upload(png_bytes())
    services.add_references(persona=persona, photos=[("me.png", clean)], by=alice)  # a reference photo
    generation = make_generation(workspace, alice, persona=persona)
    make_image(generation)
    CostRecord.objects.create(
        workspace=workspace,
        created_by=alice,
        generation=generation,
        provider="openai",
        model=generation.model,
        usage={},
        price_version="test",
        amount_nanousd=1000,
        images=1,
    )
    ProviderKey.objects.filter(pk=make_key(alice, "fal").pk).update(workspace=workspace)
    return workspace


def in_workspace(user: User, workspace: Workspace):
    client = client_for(user)
    client.post("/workspace/switch/", {"workspace": str(workspace.code)})
    return client


def test_the_owner_deletes_everything_after_typing_its_name(
    alice, bob, client_workspace, media_root, django_capture_on_commit_callbacks
):
    client = in_workspace(alice, client_workspace)
    page = client.get(URL).content.decode()
    assert 'href="/usage.csv"' in page and "Client: Northwind" in page
    assert client.post(URL, {"name": "Client: Northwin"}).status_code == 400
    assert Workspace.objects.filter(pk=client_workspace.pk).exists()
    files = [p for p in media_root.rglob("*") if p.is_file()]
    assert any("references" in p.parts for p in files)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(URL, {"name": "Client: Northwind"})
    assert response.status_code == 302
    assert not Workspace.objects.filter(pk=client_workspace.pk).exists()
    for model in (Persona, PersonaReference, Generation, GeneratedImage, CostRecord, ProviderKey):
        assert not model.objects.filter(workspace_id=client_workspace.pk).exists(), model
    assert not [p for p in files if p.exists()]
    # The people stay; alice is back in her own workspace.
    assert User.objects.filter(pk=bob.pk).exists()
    assert "Alice&#x27;s workspace" in client.get("/").content.decode()


def test_only_the_owner_may_delete(alice, bob, client_workspace):
    client = in_workspace(bob, client_workspace)  # an admin there
    assert client.get(URL).status_code == 403
    assert client.post(URL, {"name": "Client: Northwind"}).status_code == 403
    assert Workspace.objects.filter(pk=client_workspace.pk).exists()


def test_an_only_workspace_or_one_with_work_in_progress_stays(alice, client_workspace):
    client = in_workspace(alice, client_workspace)
    Generation.objects.filter(workspace=client_workspace).update(status=Generation.Status.RUNNING)
    response = client.post(URL, {"name": "Client: Northwind"})
    assert response.status_code == 400 and "in progress" in response.content.decode()
    alone = client_for(alice)
    Membership.objects.filter(user=alice).exclude(workspace=workspace_of(alice)).delete()
    response = alone.post(URL, {"name": workspace_of(alice).name})
    assert response.status_code == 400 and "only workspace" in response.content.decode()
    assert Workspace.objects.filter(pk=client_workspace.pk).exists()

"""Deleting a key: a confirmation page, then POST; the audit of its uses stays."""

from __future__ import annotations

from keys import services
from keys.models import KeyUse, ProviderKey
from tests.support.keys import store_key


def url(key: ProviderKey) -> str:
    return f"/keys/{key.code}/delete/"


def test_a_get_asks_for_confirmation_and_deletes_nothing(alice, alice_client):
    key = store_key(alice, "openai", label="Client A")
    response = alice_client.get(url(key))
    body = response.content.decode()
    assert response.status_code == 200
    assert "Delete this key?" in body and "Client A" in body
    assert f'<form method="post" action="/keys/{key.code}/delete/">' in body
    assert ProviderKey.objects.exists()


def test_it_deletes_the_key_and_keeps_its_audit(alice, alice_client):
    key = store_key(alice, "openai", label="Client A")
    services.decrypt_for_provider_call(key, generation_code=None)
    response = alice_client.post(url(key))
    assert response.status_code == 302
    assert not ProviderKey.objects.exists()
    use = KeyUse.objects.get()
    assert use.key is None
    assert (use.key_label, use.key_hint, use.provider) == ("Client A", "sk-proj-…Tk42", "openai")
    assert "Deleted “Client A” (sk-proj-…Tk42)." in alice_client.get("/keys/").content.decode()


def test_members_cannot_delete_keys(alice, bob_client):
    key = store_key(alice, "openai")
    assert bob_client.get(url(key)).status_code == 403
    assert bob_client.post(url(key)).status_code == 403
    assert ProviderKey.objects.exists()


def test_it_checks_workspace(alice, charlie_client):
    key = store_key(alice, "openai")
    assert charlie_client.get(url(key)).status_code == 404
    assert charlie_client.post(url(key)).status_code == 404
    assert ProviderKey.objects.exists()

"""Replacing (or re-entering) a key in place: checked first, label, code and history stay."""

from __future__ import annotations

from keys import crypto, services
from keys.models import KeyUse, ProviderKey
from tests.support.keys import OPENAI_KEY, store_key

NEW_KEY = "sk-proj-ReplacementKey9876543210zyxwvutsrqponmlkjNw7q"


def url(key: ProviderKey) -> str:
    return f"/keys/{key.code}/replace/"


def test_it_shows_a_password_form(alice, alice_client):
    key = store_key(alice, "openai")
    body = alice_client.get(url(key)).content.decode()
    assert '<input type="password" name="api_key"' in body
    assert 'autocomplete="off"' in body
    assert key.hint in body


def test_it_replaces_the_key_in_place(alice, alice_client, double):
    key = store_key(alice, "openai", label="Client A")
    services.decrypt_for_provider_call(key, generation_code=None)
    response = alice_client.post(url(key), {"api_key": NEW_KEY})
    assert response.status_code == 302
    replaced = ProviderKey.objects.select_related("workspace").get()
    assert (replaced.code, replaced.label) == (key.code, "Client A")
    assert replaced.hint == "sk-proj-…Nw7q"
    assert crypto.decrypt(replaced.ciphertext, replaced.binding()) == NEW_KEY
    assert replaced.fingerprint == services.fingerprint_for("openai", NEW_KEY)
    assert KeyUse.objects.filter(key=replaced).count() == 2
    assert "Replaced the key of “Client A” (sk-proj-…Nw7q)" in alice_client.get("/keys/").content.decode()


def test_a_key_the_provider_rejects_changes_nothing(alice, alice_client, double):
    key = store_key(alice, "openai")
    secret = NEW_KEY + "__invalid_key"
    response = alice_client.post(url(key), {"api_key": secret})
    body = response.content.decode()
    assert response.status_code == 200
    assert "The saved key was not changed." in body
    assert secret not in body and NEW_KEY not in body
    unchanged = ProviderKey.objects.get()
    assert (unchanged.ciphertext, unchanged.hint, unchanged.status) == (key.ciphertext, key.hint, "valid")


def test_it_refuses_a_key_saved_in_another_row(alice, alice_client, double):
    store_key(alice, "openai", label="Other", secret=NEW_KEY)
    key = store_key(alice, "openai")
    response = alice_client.post(url(key), {"api_key": NEW_KEY})
    assert "already saved in this workspace as “Other”" in response.content.decode()
    assert double.requests() == []


def test_re_entering_the_same_key_repairs_a_key_that_no_longer_decrypts(
    alice, alice_client, double, settings
):
    key = store_key(alice, "openai")
    ProviderKey.objects.filter(pk=key.pk).update(ciphertext="v9:" + key.ciphertext[3:], key_version=9)
    assert "Re-enter this key" in alice_client.get(url(key)).content.decode()
    response = alice_client.post(url(key), {"api_key": OPENAI_KEY})
    assert response.status_code == 302
    body = alice_client.get("/keys/").content.decode()
    assert "Re-enter this key" not in body
    repaired = ProviderKey.objects.select_related("workspace").get()
    assert crypto.decrypt(repaired.ciphertext, repaired.binding()) == OPENAI_KEY
    assert repaired.key_version == 1


def test_members_cannot_replace_keys(alice, bob_client, double):
    key = store_key(alice, "openai")
    assert bob_client.get(url(key)).status_code == 403
    assert bob_client.post(url(key), {"api_key": NEW_KEY}).status_code == 403
    assert ProviderKey.objects.get().ciphertext == key.ciphertext


def test_it_checks_workspace(alice, charlie_client, double):
    key = store_key(alice, "openai")
    assert charlie_client.get(url(key)).status_code == 404
    assert charlie_client.post(url(key), {"api_key": NEW_KEY}).status_code == 404
    assert ProviderKey.objects.get().ciphertext == key.ciphertext
    assert double.requests() == []

"""The /keys/ page: masked hints, status, times, use counts and recent uses; members may look."""

from __future__ import annotations

import uuid

import pytest

from keys import crypto, services
from keys.models import KeyUse, ProviderKey
from tests.support.keys import FAL_KEY, MASTER_V1, MASTER_V2, OPENAI_KEY, make_key, store_key


def test_it_lists_keys_with_only_their_hint(alice, alice_client):
    key = store_key(alice, "openai", label="Client A")
    body = alice_client.get("/keys/").content.decode()
    assert "Client A" in body
    assert "sk-proj-…Tk42" in body
    assert 'class="badge badge-valid"' in body
    assert OPENAI_KEY not in body
    assert key.ciphertext not in body and key.fingerprint not in body


def test_it_shows_use_counts_and_recent_uses(alice, alice_client):
    key = make_key(alice, "fal", label="fal")
    generation = uuid.uuid4()
    services.decrypt_for_provider_call(key, generation_code=generation)
    services.mark_key_worked(key)
    body = alice_client.get("/keys/").content.decode()
    assert '<td class="num">1</td>' in body
    assert f'href="/generations/{generation}/"' in body
    assert "Generation" in body and "Validation" in body
    assert "worker" in body  # the generation use has no acting user


def test_it_shows_at_most_five_recent_uses_per_key(alice, alice_client):
    first = make_key(alice, "fal", label="first")
    second = make_key(alice, "fal", label="second", secret=FAL_KEY.replace("9f0e", "1234"))
    for _ in range(8):
        services.decrypt_for_provider_call(first, generation_code=uuid.uuid4())
    body = alice_client.get("/keys/").content.decode()
    assert body.count("/generations/") == 5
    assert "Most recent use" in body  # the second key's single validation
    assert second.label in body


def test_members_see_keys_but_no_actions(alice, bob_client):
    key = store_key(alice, "openai")
    body = bob_client.get("/keys/").content.decode()
    assert key.hint in body
    assert "Only the workspace owner and admins can add" in body
    for name in ("retest", "replace", "delete"):
        assert f"/keys/{key.code}/{name}/" not in body
    assert 'name="api_key"' not in body


def test_owners_see_actions(alice, alice_client):
    key = store_key(alice, "openai")
    body = alice_client.get("/keys/").content.decode()
    for name in ("retest", "replace", "delete"):
        assert f"/keys/{key.code}/{name}/" in body


def test_it_checks_workspace(alice, charlie, charlie_client):
    store_key(alice, "openai", label="Alice's key")
    body = charlie_client.get("/keys/").content.decode()
    assert "Alice's key" not in body
    assert "No keys yet." in body


def test_it_shows_re_enter_once_a_key_failed_to_decrypt(alice, alice_client):
    key = store_key(alice, "openai")
    ProviderKey.objects.filter(pk=key.pk).update(ciphertext=key.ciphertext[:-2] + "AA")
    damaged = ProviderKey.objects.select_related("workspace").get(pk=key.pk)
    with pytest.raises(services.KeyUnavailable):  # a generation (or a re-test) tries it, and records why
        services.decrypt_for_provider_call(damaged, generation_code=None)
    response = alice_client.get("/keys/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Re-enter this key" in body
    assert "badge-undecryptable" in body
    assert f"/keys/{key.code}/retest/" not in body


@pytest.mark.parametrize("change", ["retired", "removed"])
def test_it_shows_re_enter_for_a_master_key_version_retired_or_removed(alice, alice_client, settings, change):
    settings.ANIAVATAR_MASTER_KEYS = f"1:{MASTER_V1},2:{MASTER_V2}"
    settings.ANIAVATAR_MASTER_KEY_PRIMARY = 1
    store_key(alice, "openai")
    settings.ANIAVATAR_MASTER_KEY_PRIMARY = 2
    if change == "retired":
        settings.ANIAVATAR_MASTER_KEY_MIN_VERSION = 2
    else:
        settings.ANIAVATAR_MASTER_KEYS = f"2:{MASTER_V2}"
    assert "Re-enter this key" in alice_client.get("/keys/").content.decode()


def test_the_pages_decrypt_nothing_and_record_nothing(alice, alice_client, bob_client, monkeypatch):
    """Only the worker decrypts, right before a provider call (docs/architecture.md §4): pages tell from the records."""
    key = store_key(alice, "openai")

    def refuse(*args, **kwargs):
        raise AssertionError("a page decrypted a key")

    monkeypatch.setattr(crypto.Keyring, "decrypt", refuse)
    for client, url in (
        (alice_client, "/keys/"),
        (bob_client, "/keys/"),
        (alice_client, f"/keys/{key.code}/replace/"),
    ):
        assert client.get(url).status_code == 200
    assert not KeyUse.objects.exists()


def test_the_nav_links_to_the_page(alice_client):
    assert 'href="/keys/" aria-current="page"' in alice_client.get("/keys/").content.decode()
    assert 'href="/keys/"' in alice_client.get("/").content.decode()


def test_it_requires_login(client, db):
    response = client.get("/keys/")
    assert response.status_code == 302
    assert "/accounts/login/" in response.url

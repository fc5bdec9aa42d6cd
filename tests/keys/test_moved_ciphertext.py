"""A ciphertext moved to another row, workspace or provider, or with any byte flipped, does not open.

The worker gets "must be re-entered", and the settings page says "Re-enter this key" instead of failing.
"""

from __future__ import annotations

import base64

import pytest

from keys import crypto, services
from keys.models import ProviderKey
from tests.support.accounts import workspace_of
from tests.support.keys import OPENAI_KEY, store_key

OTHER_KEY = OPENAI_KEY.replace("Tk42", "Zz99")


def assert_must_be_re_entered(key: ProviderKey, client) -> None:
    key = ProviderKey.objects.select_related("workspace").get(pk=key.pk)
    with pytest.raises(services.KeyUnavailable):
        services.decrypt_for_provider_call(key, generation_code=None)
    response = client.get("/keys/")
    assert response.status_code == 200
    assert "Re-enter this key" in response.content.decode()


def test_a_ciphertext_copied_onto_another_row_fails(alice, alice_client):
    source = store_key(alice, "openai", secret=OPENAI_KEY)
    target = store_key(alice, "openai", secret=OTHER_KEY)
    ProviderKey.objects.filter(pk=target.pk).update(ciphertext=source.ciphertext)
    assert_must_be_re_entered(target, alice_client)


def test_a_ciphertext_copied_into_another_workspace_fails(alice, charlie, charlie_client):
    source = store_key(alice, "openai", secret=OPENAI_KEY)
    target = store_key(charlie, "openai", secret=OTHER_KEY)
    ProviderKey.objects.filter(pk=target.pk).update(ciphertext=source.ciphertext)
    assert_must_be_re_entered(target, charlie_client)


def test_a_row_moved_to_another_workspace_fails(alice, charlie, charlie_client):
    key = store_key(alice, "openai")
    ProviderKey.objects.filter(pk=key.pk).update(workspace=workspace_of(charlie))
    assert_must_be_re_entered(key, charlie_client)


def test_a_row_switched_to_another_provider_fails(alice, alice_client):
    key = store_key(alice, "openai")
    ProviderKey.objects.filter(pk=key.pk).update(provider="fal")
    assert_must_be_re_entered(key, alice_client)


def test_flipping_any_byte_fails_and_the_page_still_renders(alice, alice_client):
    key = store_key(alice, "openai")
    version, blob = crypto.parse_stored(key.ciphertext)
    for position in range(len(blob)):
        damaged = bytearray(blob)
        damaged[position] ^= 0x01
        text = f"v{version}:" + base64.urlsafe_b64encode(bytes(damaged)).rstrip(b"=").decode()
        ProviderKey.objects.filter(pk=key.pk).update(ciphertext=text)
        fresh = ProviderKey.objects.select_related("workspace").get(pk=key.pk)
        with pytest.raises(services.KeyUnavailable):
            services.decrypt_for_provider_call(fresh, generation_code=None)
    assert_must_be_re_entered(key, alice_client)


@pytest.mark.parametrize("value", ["", "garbage", "v1:", "v7:AAAA"])
def test_a_garbled_value_shows_re_enter(alice, alice_client, value):
    key = store_key(alice, "openai")
    ProviderKey.objects.filter(pk=key.pk).update(ciphertext=value)
    assert_must_be_re_entered(key, alice_client)

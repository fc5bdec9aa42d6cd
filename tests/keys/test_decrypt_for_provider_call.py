"""The worker's only way to a plaintext key: recorded every time, and 'must be re-entered' on failure."""

from __future__ import annotations

import uuid

import pytest

from keys import services
from keys.models import KeyUse, ProviderKey
from tests.support.accounts import workspace_of
from tests.support.keys import MASTER_V1, MASTER_V2, OPENAI_KEY, store_key


def test_it_returns_the_key_and_records_the_use(alice):
    key = store_key(alice, "openai")
    generation = uuid.uuid4()
    assert services.decrypt_for_provider_call(key, generation_code=generation) == OPENAI_KEY
    use = KeyUse.objects.get()
    assert (use.key, use.workspace, use.generation_code) == (key, workspace_of(alice), generation)
    assert (use.purpose, use.outcome, use.actor) == ("generate", "ok", None)


def test_a_moved_ciphertext_must_be_re_entered_and_the_failure_is_recorded(alice):
    key = store_key(alice, "openai")
    other = store_key(alice, "openai", secret=OPENAI_KEY.replace("Tk42", "Zz99"))
    key.ciphertext = other.ciphertext
    with pytest.raises(services.KeyUnavailable) as caught:
        services.decrypt_for_provider_call(key, generation_code=uuid.uuid4())
    assert str(caught.value) == "This key must be re-entered"
    use = KeyUse.objects.get()
    assert use.outcome == "undecryptable"
    assert "integrity check" in use.detail
    assert other.ciphertext not in use.detail


def test_a_retired_or_unknown_version_must_be_re_entered(alice, settings):
    settings.ANIAVATAR_MASTER_KEYS = f"1:{MASTER_V1},2:{MASTER_V2}"
    settings.ANIAVATAR_MASTER_KEY_PRIMARY = 1
    key = store_key(alice, "openai")
    settings.ANIAVATAR_MASTER_KEY_PRIMARY = 2
    settings.ANIAVATAR_MASTER_KEY_MIN_VERSION = 2
    with pytest.raises(services.KeyUnavailable):
        services.decrypt_for_provider_call(key, generation_code=None)
    settings.ANIAVATAR_MASTER_KEYS = f"2:{MASTER_V2}"
    settings.ANIAVATAR_MASTER_KEY_MIN_VERSION = 0
    with pytest.raises(services.KeyUnavailable):
        services.decrypt_for_provider_call(key, generation_code=None)
    details = list(KeyUse.objects.order_by("id").values_list("detail", flat=True))
    assert "retired" in details[0]
    assert "not configured" in details[1]


def test_it_refuses_an_unknown_purpose(alice):
    key = store_key(alice, "openai")
    with pytest.raises(ValueError):
        services.decrypt_for_provider_call(key, generation_code=None, purpose="export")
    assert not KeyUse.objects.exists()


def test_a_key_object_that_disagrees_with_its_row_fails_closed(alice):
    """The binding comes from the object passed in: a provider changed in memory opens nothing; the row does."""
    key = store_key(alice, "openai")
    key.provider = "fal"
    with pytest.raises(services.KeyUnavailable):
        services.decrypt_for_provider_call(key, generation_code=None)
    fresh = ProviderKey.objects.get()
    assert services.decrypt_for_provider_call(fresh, generation_code=None) == OPENAI_KEY

"""What the worker reports back: a key that worked, a key the provider refused, and which keys to use."""

from __future__ import annotations

import uuid

from keys import services
from keys.models import KeyUse, ProviderKey
from tests.support.accounts import workspace_of
from tests.support.keys import FAL_KEY, OPENAI_KEY, make_key, store_key


def test_a_generation_that_worked_proves_a_fal_key(alice):
    key = make_key(alice, "fal")
    assert key.status == "unverified"
    services.mark_key_worked(key)
    assert key.status == "valid"
    assert key.use_count == 1
    assert key.last_used_at is not None
    assert ProviderKey.objects.get().status == "valid"


def test_concurrent_workers_do_not_lose_counts(alice):
    key = make_key(alice, "fal")
    # Two workers loaded the same row before either finished.
    first, second = ProviderKey.objects.get(pk=key.pk), ProviderKey.objects.get(pk=key.pk)
    services.mark_key_worked(first)
    services.mark_key_worked(second)
    services.mark_key_worked(first)
    assert ProviderKey.objects.get().use_count == 3


def test_a_key_rejected_during_a_generation_becomes_invalid(alice):
    key = store_key(alice, "openai")
    generation = uuid.uuid4()
    services.decrypt_for_provider_call(key, generation_code=generation)
    services.mark_key_rejected(key, message=f"Incorrect API key provided: {OPENAI_KEY}")
    stored = ProviderKey.objects.get()
    assert stored.status == "invalid"
    assert OPENAI_KEY not in stored.status_message and "[redacted]" in stored.status_message
    use = KeyUse.objects.get(generation_code=generation)
    assert use.outcome == "rejected"
    assert OPENAI_KEY not in use.detail


def test_the_rejection_lands_on_that_generations_use(alice):
    key = store_key(alice, "openai")
    mine, other = uuid.uuid4(), uuid.uuid4()
    services.decrypt_for_provider_call(key, generation_code=mine)
    services.decrypt_for_provider_call(key, generation_code=other)
    services.mark_key_rejected(key, message="The provider rejected your API key.", generation_code=mine)
    assert KeyUse.objects.get(generation_code=mine).outcome == "rejected"
    assert KeyUse.objects.get(generation_code=other).outcome == "ok"


def test_usable_keys_leave_out_invalid_keys_other_providers_and_other_workspaces(alice, charlie):
    workspace = workspace_of(alice)
    unverified = make_key(alice, "fal", label="unverified")
    valid = make_key(alice, "fal", label="valid", secret=FAL_KEY.replace("9f0e", "1111"))
    services.mark_key_worked(valid)
    invalid = make_key(alice, "fal", label="invalid", secret=FAL_KEY.replace("9f0e", "2222"))
    services.mark_key_rejected(invalid, message="no")
    store_key(alice, "openai", label="openai")
    make_key(charlie, "fal", label="charlie's")
    assert list(services.usable_keys(workspace, "fal")) == [valid, unverified]
    assert [k.label for k in services.usable_keys(workspace, "openai")] == ["openai"]

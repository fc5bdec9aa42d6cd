"""Every key URL answers another workspace's key with a 404 (GET and POST), and changes nothing."""

from __future__ import annotations

import uuid

import pytest

from keys.models import ProviderKey
from tests.support.keys import store_key

ACTIONS = ["retest", "replace", "delete"]


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("action", ACTIONS)
def test_another_workspaces_key_is_not_found(alice, charlie_client, double, action, method):
    key = store_key(alice, "openai")
    response = getattr(charlie_client, method)(
        f"/keys/{key.code}/{action}/", {"api_key": "sk-proj-" + "x" * 40}
    )
    assert response.status_code == 404
    assert ProviderKey.objects.get().ciphertext == key.ciphertext
    assert double.requests() == []


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("action", ACTIONS)
def test_an_unknown_key_is_not_found_either(alice_client, action, method):
    response = getattr(alice_client, method)(f"/keys/{uuid.uuid4()}/{action}/")
    assert response.status_code == 404


@pytest.mark.parametrize("action", ACTIONS)
def test_members_are_refused_before_the_lookup(alice, bob_client, action):
    key = store_key(alice, "openai")
    assert bob_client.post(f"/keys/{key.code}/{action}/").status_code == 403
    assert bob_client.post(f"/keys/{uuid.uuid4()}/{action}/").status_code == 403

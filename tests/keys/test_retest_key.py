"""Re-testing a saved key: decrypt, ask the provider again, record the use."""

from __future__ import annotations

from keys.models import KeyUse, ProviderKey
from tests.support.keys import OPENAI_KEY, make_key, store_key


def url(key: ProviderKey) -> str:
    return f"/keys/{key.code}/retest/"


def test_it_confirms_a_valid_key(alice, alice_client, double):
    key = store_key(alice, "openai", status="unverified")
    response = alice_client.post(url(key))
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.status == "valid"
    assert key.last_verified_at is not None
    use = KeyUse.objects.get()
    assert (use.purpose, use.outcome, use.actor) == ("validate", "ok", alice)
    assert double.received_credentials() == {OPENAI_KEY}
    assert "OpenAI accepted this key." in alice_client.get("/keys/").content.decode()


def test_it_marks_a_key_the_provider_now_rejects_invalid(alice, alice_client, double):
    key = store_key(alice, "openai", secret=OPENAI_KEY + "__invalid_key")
    alice_client.post(url(key))
    key.refresh_from_db()
    assert key.status == "invalid"
    assert KeyUse.objects.get().outcome == "rejected"
    body = alice_client.get("/keys/").content.decode()
    assert "message-error" in body and "OpenAI rejected this key" in body


def test_it_marks_a_forbidden_key_restricted(alice, alice_client, double):
    key = store_key(alice, "openai", secret=OPENAI_KEY + "__forbidden")
    alice_client.post(url(key))
    key.refresh_from_db()
    assert key.status == "restricted"


def test_it_keeps_the_status_when_openai_cannot_be_reached(alice, alice_client, unreachable_openai):
    key = store_key(alice, "openai", status="valid")
    alice_client.post(url(key))
    key.refresh_from_db()
    assert key.status == "valid"
    assert KeyUse.objects.get().outcome == "unreachable"
    assert "message-warning" in alice_client.get("/keys/").content.decode()


def test_a_fal_key_is_only_checked_for_being_intact(alice, alice_client, double):
    key = make_key(alice, "fal")
    alice_client.post(url(key))
    key.refresh_from_db()
    assert key.status == "unverified"
    assert "stored intact" in alice_client.get("/keys/").content.decode()
    assert double.requests() == []


def test_a_key_that_no_longer_decrypts_asks_to_be_re_entered(alice, alice_client, double):
    key = store_key(alice, "openai")
    other = store_key(alice, "openai", secret=OPENAI_KEY.replace("Tk42", "Zz99"))
    ProviderKey.objects.filter(pk=key.pk).update(ciphertext=other.ciphertext)
    response = alice_client.post(url(key), follow=True)
    assert response.status_code == 200
    assert "can no longer be decrypted. Re-enter this key." in response.content.decode()
    assert KeyUse.objects.get().outcome == "undecryptable"
    assert double.requests() == []


def test_it_is_post_only(alice, alice_client):
    key = store_key(alice, "openai")
    assert alice_client.get(url(key)).status_code == 405


def test_members_cannot_retest(alice, bob_client, double):
    key = store_key(alice, "openai")
    assert bob_client.post(url(key)).status_code == 403
    assert double.requests() == []


def test_it_checks_workspace(alice, charlie_client, double):
    key = store_key(alice, "openai")
    assert charlie_client.post(url(key)).status_code == 404
    assert charlie_client.get(url(key)).status_code == 404
    assert double.requests() == []

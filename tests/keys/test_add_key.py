"""Adding a key on /keys/: checked with the provider first, stored encrypted, never echoed back."""

from __future__ import annotations

import hashlib

import pytest
from django.db import OperationalError
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

from keys import crypto, services
from keys.models import KeyUse, ProviderKey
from tests.support.keys import FAL_KEY, OPENAI_KEY, make_key

URL = "/keys/add/"


def post(client, secret: str = OPENAI_KEY, provider: str = "openai", label: str = "Client A"):
    return client.post(URL, {"provider": provider, "label": label, "api_key": secret})


def test_it_saves_a_key_openai_accepts(alice, alice_client, double):
    response = post(alice_client)
    assert response.status_code == 302
    key = ProviderKey.objects.get()
    assert (key.label, key.provider, key.status) == ("Client A", "openai", "valid")
    assert key.hint == "sk-proj-…Tk42"
    assert key.ciphertext.startswith("v1:") and OPENAI_KEY not in key.ciphertext
    assert key.last_verified_at is not None
    assert double.count("openai.models") == 1
    assert double.received_credentials() == {OPENAI_KEY}
    page = alice_client.get(response.url).content.decode()
    assert "Saved “Client A” (sk-proj-…Tk42). OpenAI accepted this key." in page
    use = KeyUse.objects.get()
    assert (use.purpose, use.outcome, use.actor) == ("validate", "ok", alice)


def test_it_stores_what_decrypts_back_to_the_key(alice_client, double):
    post(alice_client, secret=f"  {OPENAI_KEY}\n")
    key = ProviderKey.objects.select_related("workspace").get()
    assert crypto.decrypt(key.ciphertext, key.binding()) == OPENAI_KEY


def test_it_refuses_a_key_the_provider_rejects_and_stores_nothing(alice_client, double):
    secret = OPENAI_KEY + "__invalid_key"
    response = post(alice_client, secret=secret)
    assert response.status_code == 200
    body = response.content.decode()
    assert "OpenAI rejected this key (HTTP 401)" in body
    assert "Nothing was saved." in body
    assert secret not in body and OPENAI_KEY not in body
    assert 'value="' + secret not in body
    assert not ProviderKey.objects.exists()
    assert not KeyUse.objects.exists()
    assert double.received_credentials() == {secret}


def test_it_saves_a_restricted_key_with_a_warning(alice_client, double):
    response = post(alice_client, secret=OPENAI_KEY + "__forbidden")
    key = ProviderKey.objects.get()
    assert key.status == "restricted"
    assert "HTTP 403" in key.status_message
    page = alice_client.get(response.url).content.decode()
    assert "message-warning" in page
    assert "Image generation may fail." in page


def test_it_saves_a_key_as_unverified_when_openai_cannot_be_reached(alice_client, unreachable_openai):
    post(alice_client)
    key = ProviderKey.objects.get()
    assert key.status == "unverified"
    assert "Saved as unverified." in key.status_message
    assert key.last_verified_at is None
    assert KeyUse.objects.get().outcome == "unreachable"


def test_it_saves_a_fal_key_as_unverified_without_calling_anyone(alice_client, double):
    post(alice_client, secret=FAL_KEY, provider="fal", label="fal")
    key = ProviderKey.objects.get()
    assert (key.provider, key.status, key.hint) == ("fal", "unverified", "3f8a…9f0e")
    assert "first generation" in key.status_message
    assert double.requests() == []


def test_it_detects_the_same_key_added_twice_and_explains(alice_client, double):
    post(alice_client, label="First")
    response = post(alice_client, label="Second")
    assert response.status_code == 200
    assert "already saved in this workspace as “First” (sk-proj-…Tk42)" in response.content.decode()
    assert ProviderKey.objects.count() == 1
    # Found before asking the provider a second time.
    assert double.count("openai.models") == 1


def test_the_same_key_may_be_added_in_another_workspace(alice, charlie, double):
    make_key(alice, "fal")
    make_key(charlie, "fal")
    assert ProviderKey.objects.count() == 2


def test_the_fingerprint_is_an_hmac_under_its_own_secret(alice, settings):
    key = make_key(alice, "fal")
    assert key.fingerprint != hashlib.sha256(FAL_KEY.encode()).hexdigest()
    assert key.fingerprint == services.fingerprint_for("fal", FAL_KEY)
    settings.ANIAVATAR_FINGERPRINT_KEY = "another-fingerprint-key"
    assert services.fingerprint_for("fal", FAL_KEY) != key.fingerprint


def test_it_never_sends_a_fal_key_to_openai(alice_client, double):
    response = post(alice_client, secret=FAL_KEY, provider="openai")
    assert "This looks like a fal.ai key" in response.content.decode()
    assert double.requests() == []
    assert not ProviderKey.objects.exists()


@pytest.mark.parametrize(
    ("secret", "provider", "error"),
    [
        ("", "openai", "This field is required."),
        ("sk-short", "openai", "too short"),
        ("sk-proj-with space in the middle0123", "openai", "spaces"),
        (OPENAI_KEY, "fal", "looks like an OpenAI key"),
        ("0123456789abcdef0123", "fal", "KEY_ID:KEY_SECRET"),
        ("x" * 600, "openai", "at most 512"),
    ],
)
def test_it_refuses_what_cannot_be_a_key(alice_client, double, secret, provider, error):
    response = post(alice_client, secret=secret, provider=provider)
    assert error in response.content.decode()
    assert not ProviderKey.objects.exists()
    assert double.requests() == []


def test_it_refuses_a_key_pasted_into_the_label_without_echoing_it(alice_client, double):
    response = post(alice_client, label=OPENAI_KEY, secret=OPENAI_KEY)
    body = response.content.decode()
    assert "This looks like an API key" in body
    assert OPENAI_KEY not in body
    assert not ProviderKey.objects.exists()


def test_a_long_label_is_not_mistaken_for_a_key(alice_client, double):
    label = "Acme-International-Marketing-Team-Personas-2027"
    post(alice_client, label=label)
    assert ProviderKey.objects.get().label == label


def test_the_key_field_is_a_password_input_that_browsers_do_not_fill(alice_client):
    body = alice_client.get("/keys/").content.decode()
    assert '<input type="password" name="api_key"' in body
    assert 'autocomplete="off"' in body


def test_the_key_is_hidden_from_error_reports(alice_client, double):
    response = post(alice_client, secret=OPENAI_KEY + "__invalid_key")
    request = response.wsgi_request
    cleansed = SafeExceptionReporterFilter().get_post_parameters(request)
    assert cleansed["api_key"] != OPENAI_KEY + "__invalid_key"
    assert set(cleansed["api_key"]) == {"*"}


@pytest.mark.parametrize("provider", ["openai", "fal"])
def test_an_error_report_of_a_failed_save_shows_neither_the_key_nor_its_locals(
    alice_client, double, monkeypatch, caplog, provider
):
    """What mail_admins would send (DEBUG off): every frame that holds the key has its variables starred."""
    secret = OPENAI_KEY if provider == "openai" else FAL_KEY

    def fail(*args, **kwargs):
        raise OperationalError("database is locked")

    monkeypatch.setattr(ProviderKey, "save", fail)
    alice_client.raise_request_exception = False
    response = alice_client.post("/keys/add/", {"provider": provider, "label": "k", "api_key": secret})
    assert response.status_code == 500
    # The record Django logs for a 500 is what AdminEmailHandler turns into a report.
    (record,) = [r for r in caplog.records if r.name == "django.request" and r.exc_info]
    reporter = ExceptionReporter(record.request, *record.exc_info, is_email=True)
    frames = reporter.get_traceback_frames()
    assert any(frame["filename"].endswith("keys/services.py") for frame in frames)  # the key's frames
    for report in (reporter.get_traceback_text(), reporter.get_traceback_html()):
        assert secret not in report
        assert secret[-12:] not in report


def test_key_pages_are_never_cached(alice_client, double):
    for response in (alice_client.get("/keys/"), post(alice_client, secret="sk-short")):
        assert "no-store" in response["Cache-Control"]


def test_a_get_shows_the_list(alice_client):
    response = alice_client.get(URL)
    assert response.status_code == 302
    assert response.url == "/keys/"


def test_members_cannot_add_keys(bob_client, double):
    response = post(bob_client)
    assert response.status_code == 403
    assert not ProviderKey.objects.exists()
    assert double.requests() == []


def test_it_requires_login(client, db):
    response = client.post(URL, {"provider": "openai", "api_key": OPENAI_KEY})
    assert response.status_code == 302
    assert "/accounts/login/" in response.url
    assert not ProviderKey.objects.exists()

"""Read-only usage keys: added in their own section, checked with an admin call, never able to generate."""

from __future__ import annotations

import pytest

from generation import pipeline
from generation.models import Generation
from generation.services import GenerationRefused
from keys import crypto, services
from keys.models import KeyUse, ProviderKey
from tests.conftest import workspace_of
from tests.generation.factories import make_generation
from tests.generation.helpers import make_key, start

pytestmark = pytest.mark.django_db

OPENAI_ADMIN = "sk-admin-UsageKeyTest0123456789abcdefghijklmnopqrstuvwxyzAb"
FAL_ADMIN = "admin-1a2b3c4d-0000-4000-8000-000000000001:00112233445566778899aabbccdd9f0e"
FAL_PLAIN = "5a6b7c8d-0000-4000-8000-000000000002:ffeeddccbbaa99887766554433221100"


def _add(client, provider: str, secret: str, label: str = "Usage"):
    data = {"usage-provider": provider, "usage-label": label, "usage-api_key": secret}
    return client.post("/keys/usage/add/", data)


def test_an_owner_adds_usage_keys_in_their_own_section(alice, alice_client, double):
    assert _add(alice_client, "openai", OPENAI_ADMIN, "OpenAI org").status_code == 302
    assert _add(alice_client, "fal", FAL_ADMIN, "fal account").status_code == 302
    keys = ProviderKey.objects.filter(workspace=workspace_of(alice))
    assert set(keys.values_list("provider", "kind", "status")) == {
        ("openai", "usage", "valid"),
        ("fal", "usage", "valid"),
    }
    # Checked with a cheap admin call each, never with the image endpoints.
    assert double.count("openai.projects") == 1 and double.count("fal.usage") == 1
    assert double.count("openai.models") == 0
    page = alice_client.get("/keys/").content.decode()
    for key in keys:  # listed only in the "Usage reports" section
        assert page.index(f'id="key-{key.code}"') > page.index('id="usage-reports"')
    # Never offered for generation.
    generate = alice_client.get("/generate/").content.decode()
    assert "OpenAI org" not in generate and "fal account" not in generate


@pytest.mark.parametrize(
    ("provider", "secret", "why"),
    [
        ("openai", "sk-proj-NotAnAdminKey0123456789abcdefghijklmnopqrstuv", "Admin key"),
        ("openai", "sk-admin-Revoked0123456789abcdefghijklmnopqrstuvwx__invalid_key", "HTTP 401"),
        ("fal", FAL_PLAIN, "Admin scope"),
    ],
)
def test_a_key_that_cannot_read_usage_is_refused_and_not_stored(
    alice, alice_client, double, provider, secret, why
):
    response = _add(alice_client, provider, secret)
    assert response.status_code == 200
    page = response.content.decode()
    assert why in page
    assert secret not in page
    assert not ProviderKey.objects.filter(workspace=workspace_of(alice)).exists()


def test_one_usage_key_per_provider(alice, double):
    workspace = workspace_of(alice)
    services.add_usage_key(workspace=workspace, user=alice, provider="fal", label="one", secret=FAL_ADMIN)
    with pytest.raises(services.KeyRejected, match="already has"):
        services.add_usage_key(
            workspace=workspace,
            user=alice,
            provider="fal",
            label="two",
            secret=FAL_ADMIN.replace("9f0e", "9f0f"),
        )


def test_a_member_cannot_add_a_usage_key(bob_client, double):
    assert _add(bob_client, "openai", OPENAI_ADMIN).status_code == 403
    assert double.requests() == []


def test_the_worker_refuses_a_usage_key_before_any_provider_call(alice, double, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    usage_key = services.add_usage_key(
        workspace=workspace_of(alice), user=alice, provider="openai", label="org", secret=OPENAI_ADMIN
    )
    calls = len(double.requests())
    # A row that names a usage key (the generate form and the service never make one): the worker refuses.
    generation = make_generation(
        workspace_of(alice),
        alice,
        provider_key=usage_key,
        status=Generation.Status.QUEUED,
        reserved_nanousd=1,
    )
    pipeline.run_generation(generation.pk)
    generation.refresh_from_db()
    assert generation.status == "failed" and "read-only usage key" in generation.error_message
    assert len(double.requests()) == calls
    assert not KeyUse.objects.filter(key=usage_key, purpose="generate").exists()


def test_the_service_refuses_to_start_a_generation_with_a_usage_key(alice, double):
    usage_key = services.add_usage_key(
        workspace=workspace_of(alice), user=alice, provider="openai", label="org", secret=OPENAI_ADMIN
    )
    with pytest.raises(GenerationRefused, match="usage key"):
        start(alice, usage_key, "gpt-image-2")


def test_the_vault_never_opens_a_usage_key_for_a_generation(alice, double):
    usage_key = services.add_usage_key(
        workspace=workspace_of(alice), user=alice, provider="openai", label="org", secret=OPENAI_ADMIN
    )
    with pytest.raises(services.WrongKind, match="read-only usage key"):
        services.decrypt_for_provider_call(usage_key, generation_code=None)
    with pytest.raises(services.WrongKind):
        services.retest_key(usage_key, user=alice)
    generation_key = make_key(alice, "openai")
    with pytest.raises(services.WrongKind):
        services.decrypt_usage_key(generation_key)
    assert services.decrypt_usage_key(usage_key) == OPENAI_ADMIN
    assert list(KeyUse.objects.filter(key=usage_key).values_list("purpose", flat=True)) == [
        "reconcile",
        "validate",
    ]


def test_the_binding_refuses_a_usage_key_relabelled_as_a_generation_key(alice, double):
    usage_key = services.add_usage_key(
        workspace=workspace_of(alice), user=alice, provider="openai", label="org", secret=OPENAI_ADMIN
    )
    # Someone who can write rows turns the usage key into a generation key: its ciphertext was sealed
    # under the usage purpose, so the generation binding fails the GCM tag.
    ProviderKey.objects.filter(pk=usage_key.pk).update(kind=ProviderKey.Kind.GENERATE)
    relabelled = ProviderKey.objects.select_related("workspace").get(pk=usage_key.pk)
    assert relabelled.binding().purpose == crypto.PURPOSE_PROVIDER_KEY
    with pytest.raises(crypto.TamperedCiphertext):
        crypto.decrypt(relabelled.ciphertext, relabelled.binding())
    with pytest.raises(services.KeyUnavailable):
        services.decrypt_for_provider_call(relabelled, generation_code=None)
    assert KeyUse.objects.filter(key=usage_key, outcome="undecryptable", purpose="generate").exists()
    # And the usage key's own binding still opens it.
    assert crypto.decrypt(usage_key.ciphertext, usage_key.binding()) == OPENAI_ADMIN


def test_the_usage_key_form_never_renders_the_key_back(alice, alice_client, double):
    response = _add(alice_client, "openai", OPENAI_ADMIN, label=OPENAI_ADMIN)  # the key pasted as the label
    page = response.content.decode()
    assert response.status_code == 200
    assert OPENAI_ADMIN not in page and OPENAI_ADMIN[9:30] not in page

"""A key pasted into a key's label is refused, whatever its shape (issue 15, finding 6).

Labels were refused only when they held a known key shape (an `sk-` prefix, fal's id:hex secret, 32 hex
digits): an OpenAI key without its prefix, a Google-style token or a base64 secret was stored and shown on
every page. Now a label is refused when it holds the key being saved (or 16 characters of it), or any
long token that is not made of words; ordinary labels, long ones included, still pass.
"""

from __future__ import annotations

import random
import string

import pytest

from keys import services
from keys.models import ProviderKey
from tests.support.keys import FAL_KEY, OPENAI_KEY, store_key

pytestmark = pytest.mark.django_db

REFUSAL = "This looks like an API key"
NEW_KEY = "sk-proj-ReplacementKey9876543210zyxwvutsrqponmlkjNw7q"

ORDINARY_LABELS = [
    "Client A – OpenAI",
    "ACME 2026 Q3 campaign",
    "Acme-International-Marketing-Team-Personas-2027",
    "client_a_openai_key_for_the_big_spring_campaign",
    "ThisIsMyVeryLongCamelCaseLabelName",
    "HTTPSConnectionPoolRetryConfigurationForAPI",
    "SpringCollection2026-Campaign-Northwind-Traders",
    "Northwind Traders / EMEA / 2026-Q3",
    "Müller & Söhne GmbH – Werbekampagne Frühjahr",
    "Agency: Contoso Pharmaceuticals International",
    "Campaign:SpringCollection2026",
    "key-for-marketing-department-emea-north-2026",
    "fal key #2 (personas, 1024×1024)",
    "Key 7 for the agency",
    "Ops – ops@acme.example – rotated 2026-11-30",
]

# Tokens shaped like secrets of this or other services, none with an `sk-` prefix.
KEY_LIKE_LABELS = {
    "openai key without its prefix": OPENAI_KEY.removeprefix("sk-"),
    "openai project key body": "proj-" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5bC7dE9fG1hJ3kL5mN7pQ9rS1",
    "google-style api key": "AIzaSyD3x8Kq0Lm9ZrT4vWb2NcHj7Uf6GpQe1Ys",
    "replicate-style token": "r8_Jq8dT2mXv9LkP4sNw7BcR3yHf6GzA1eUo5iKj",
    "huggingface-style token": "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",
    "base64 secret": "q0Ld8Z2xYk3Vb7Nw9Tr4Hs6Gj1Mf5Pa8Ce2Ux0Io4Ez=",
    "base64url secret": "Xk9_2mLq-8ZvT3bNw7Rr4Hs6Gj1Mf5Pa8Ce2Ux0Io4E",
    "forty hex digits": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b",
    "fal id:secret with a non-hex secret": "3f8a1c2e-1111-2222-3333-444455556666:Zx8Kq2Lm9Vr4Tb7Nw3Hs",
    "a key inside a sentence": "Client A uses Xk9x2mLq8ZvT3bNw7Rr4Hs6Gj1Mf5Pa8Ce2Ux0 now",
    "full-width sk key": "ｓｋ－ｐｒｏｊ－ＡｂＣｄＥｆＧｈＩｊＫｌＭｎＯｐＱｒＳｔＵｖＷｘＹｚ０１２３",
    "key with zero-width spaces": "sk\u200b-proj\u200b-VaultTestKey0123456789abcdefghijklmnopqrsAb3d",
}


@pytest.mark.parametrize("label", ORDINARY_LABELS)
def test_ordinary_labels_pass(label):
    assert services.label_problem(label, OPENAI_KEY) is None
    assert services.label_problem(label, FAL_KEY) is None


@pytest.mark.parametrize("label", list(KEY_LIKE_LABELS.values()), ids=list(KEY_LIKE_LABELS))
def test_key_like_labels_are_refused(label):
    assert REFUSAL in (services.label_problem(label) or "")


@pytest.mark.parametrize(
    ("provider", "secret"),
    [("openai", OPENAI_KEY), ("fal", FAL_KEY)],
)
def test_a_label_holding_the_key_being_saved_or_a_piece_of_it_is_refused(provider, secret):
    assert services.label_problem(f"Client A {secret}", secret)
    # Sixteen characters of it are enough: whoever reads the page must not learn part of a key.
    assert services.label_problem(f"Client A {secret[-20:-4]}", secret)
    assert services.label_problem("Client A", secret) is None


@pytest.mark.parametrize(
    "alphabet",
    [string.ascii_letters + string.digits, string.ascii_letters + string.digits + "-_", "0123456789abcdef"],
    ids=["base62", "base64url", "hex"],
)
def test_random_tokens_of_32_characters_or_more_are_always_refused(alphabet):
    rng = random.Random(15)  # fixed: the same 3,000 tokens every run
    for _ in range(3000):
        token = "".join(rng.choice(alphabet) for _ in range(rng.randint(32, 64)))
        assert services.label_problem(f"Client {token}"), token


# Through the pages: the error sits beside the label field, and the label is not echoed back.


def _label_error(body: str, name: str = "label") -> str:
    start = body.index(f'id="id_{name}_error"')
    return body[start : body.index("</div>", start)]


@pytest.mark.parametrize("label", list(KEY_LIKE_LABELS.values())[:4], ids=list(KEY_LIKE_LABELS)[:4])
def test_adding_a_key_refuses_a_key_like_label_beside_the_field_without_echoing_it(
    alice_client, double, label
):
    response = alice_client.post("/keys/add/", {"provider": "openai", "label": label, "api_key": OPENAI_KEY})
    body = response.content.decode()
    assert response.status_code == 200
    assert REFUSAL in _label_error(body)
    assert label not in body and OPENAI_KEY not in body
    assert not ProviderKey.objects.exists()
    assert double.requests() == []  # refused before the provider was asked


def test_adding_a_key_keeps_an_ordinary_long_label(alice_client, double):
    label = "Acme-International-Marketing-Team-Personas-2027"
    alice_client.post("/keys/add/", {"provider": "openai", "label": label, "api_key": OPENAI_KEY})
    assert ProviderKey.objects.get().label == label


def test_replacing_a_key_refuses_a_key_like_label_beside_the_field_without_echoing_it(
    alice, alice_client, double
):
    key = store_key(alice, "openai", label="Client A")
    label = KEY_LIKE_LABELS["openai key without its prefix"]
    response = alice_client.post(f"/keys/{key.code}/replace/", {"label": label, "api_key": NEW_KEY})
    body = response.content.decode()
    assert response.status_code == 200
    assert REFUSAL in _label_error(body)
    assert label not in body and NEW_KEY not in body
    unchanged = ProviderKey.objects.get()
    assert (unchanged.label, unchanged.ciphertext) == ("Client A", key.ciphertext)
    assert double.requests() == []


def test_replacing_a_key_refuses_a_label_holding_the_new_key(alice, alice_client, double):
    key = store_key(alice, "openai", label="Client A")
    response = alice_client.post(
        f"/keys/{key.code}/replace/", {"label": f"Client A {NEW_KEY[8:30]}", "api_key": NEW_KEY}
    )
    body = response.content.decode()
    assert REFUSAL in _label_error(body)
    assert NEW_KEY[8:30] not in body
    assert ProviderKey.objects.get().label == "Client A"


def test_replacing_a_key_can_rename_it_and_keeps_the_label_when_left_as_it_is(alice, alice_client, double):
    key = store_key(alice, "openai", label="Client A")
    assert 'value="Client A"' in alice_client.get(f"/keys/{key.code}/replace/").content.decode()
    alice_client.post(f"/keys/{key.code}/replace/", {"label": "Client A – 2027", "api_key": NEW_KEY})
    assert ProviderKey.objects.get().label == "Client A – 2027"
    alice_client.post(f"/keys/{key.code}/replace/", {"api_key": OPENAI_KEY})
    assert ProviderKey.objects.get().label == "Client A – 2027"


def test_replacing_a_key_whose_old_label_holds_a_key_drops_that_label(alice, alice_client, double):
    """A label stored before labels were checked is neither offered back nor kept by the replacement."""
    leaked = KEY_LIKE_LABELS["google-style api key"]
    key = store_key(alice, "openai", label=leaked)
    form = alice_client.get(f"/keys/{key.code}/replace/").content.decode()
    assert f'value="{leaked}"' not in form
    response = alice_client.post(f"/keys/{key.code}/replace/", {"label": "", "api_key": NEW_KEY})
    assert response.status_code == 302
    assert ProviderKey.objects.get().label == "OpenAI key"


OPENAI_ADMIN = "sk-admin-UsageKeyTest0123456789abcdefghijklmnopqrstuvwxyzAb"


def test_the_usage_key_form_refuses_a_key_like_label_too(alice_client, double):
    label = KEY_LIKE_LABELS["base64url secret"]
    data = {"usage-provider": "openai", "usage-label": label, "usage-api_key": OPENAI_ADMIN}
    response = alice_client.post("/keys/usage/add/", data)
    body = response.content.decode()
    assert REFUSAL in _label_error(body, "usage-label")
    assert label not in body and OPENAI_ADMIN not in body
    assert not ProviderKey.objects.exists()


def test_replacing_a_usage_key_whose_old_label_holds_a_key_names_it_as_a_usage_key(
    alice, alice_client, double
):
    data = {"usage-provider": "openai", "usage-label": "Org", "usage-api_key": OPENAI_ADMIN}
    assert alice_client.post("/keys/usage/add/", data).status_code == 302
    key = ProviderKey.objects.get()
    ProviderKey.objects.filter(pk=key.pk).update(label=KEY_LIKE_LABELS["google-style api key"])
    new_admin = OPENAI_ADMIN.replace("UsageKeyTest", "UsageKeyNext")
    response = alice_client.post(f"/keys/{key.code}/replace/", {"api_key": new_admin})
    assert response.status_code == 302, response.content.decode()
    assert ProviderKey.objects.get().label == "OpenAI usage key"

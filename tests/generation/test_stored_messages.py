"""What the worker stores for people to read is shown in each reader's language (issue 18, D37).

The worker writes English (it has no reader, and the row may have several), even when it runs where a
language is active; each page translates the known sentences for its own reader, and leaves a provider's own
words as they are. A small catalogue made for the test (tests/support/catalogue.py) keeps these independent
of the wording in locale/.
"""

from __future__ import annotations

import html

import pytest
from django.utils import translation

from accounts.models import User
from generation import images, pipeline, stored_text
from generation.models import Generation
from providers.base import USER_MESSAGES, ErrorKind
from tests.support.accounts import client_for
from tests.support.catalogue import arabic
from tests.support.generation import start
from tests.support.keys import make_key

pytestmark = pytest.mark.django_db

SAFETY = USER_MESSAGES[ErrorKind.SAFETY]
SAFETY_AR = "رفض نظام السلامة لدى المزوّد الطلب. غيّر الوصف وحاول مرة أخرى."
NOT_SENT_AR = "لم يُرسل مرة أخرى."
TOO_SHORT = "This is too short to be an API key. Paste the whole key."
TOO_SHORT_AR = "هذا أقصر من أن يكون مفتاحًا."


@pytest.fixture
def catalogue(settings, tmp_path):
    arabic(
        settings,
        tmp_path,
        {
            SAFETY: SAFETY_AR,
            pipeline.NOT_SENT_AGAIN: NOT_SENT_AR,
            TOO_SHORT: TOO_SHORT_AR,
            pipeline.IMAGES_MADE: "صُنعت {made} من {n} صور.",
            pipeline.TRY_AGAIN: "حاول مرة أخرى.",
            images.WRONG_SIZE: "أرسل المزوّد صورة {got} بدلًا من {wanted}.",
        },
    )


def test_known_sentences_are_translated_and_the_rest_kept(catalogue):
    raw = f"Upstream said: quota exceeded. {SAFETY} {pipeline.NOT_SENT_AGAIN}"
    with translation.override("ar"):
        assert stored_text.translate(raw) == f"Upstream said: quota exceeded. {SAFETY_AR} {NOT_SENT_AR}"
    with translation.override("en"):
        assert stored_text.translate(raw) == raw


def test_partial_results_and_refused_images_carry_their_numbers(catalogue):
    made = f"{pipeline.IMAGES_MADE.format(made=2, n=3)} {SAFETY}"
    wrong = f"{images.WRONG_SIZE.format(got='512×512', wanted='1024×1024')} {pipeline.TRY_AGAIN}"
    with translation.override("ar"):
        assert stored_text.translate(made) == f"صُنعت 2 من 3 صور. {SAFETY_AR}"
        assert stored_text.translate(wrong) == "أرسل المزوّد صورة 512×512 بدلًا من 1024×1024. حاول مرة أخرى."


def test_the_worker_stores_english_and_each_reader_sees_their_language(alice, bob, double, catalogue, client):
    key = make_key(alice, "openai")
    double.script("openai", ["moderation"])
    generation = start(alice, key, "gpt-image-2", size="1024x1024")
    # Even run where a language is active (an eager task in an Arabic request), the row holds English.
    with translation.override("ar"):
        pipeline.run_generation(generation.pk)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED and generation.error_message == SAFETY

    User.objects.filter(pk=alice.pk).update(language="ar")

    page = html.unescape(client_for(alice).get(f"/generations/{generation.code}/").content.decode())
    assert SAFETY_AR in page and SAFETY not in page
    page = html.unescape(client_for(bob).get(f"/generations/{generation.code}/").content.decode())  # English
    assert SAFETY in page and SAFETY_AR not in page


def test_a_key_form_error_is_in_the_readers_language(alice, alice_client, catalogue):
    User.objects.filter(pk=alice.pk).update(language="ar")
    page = alice_client.post("/keys/add/", {"provider": "openai", "label": "Studio", "api_key": "sk-abc"})
    assert page.status_code == 200
    assert TOO_SHORT_AR in page.content.decode()

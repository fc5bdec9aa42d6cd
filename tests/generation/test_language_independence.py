"""What the page language must not change (issue 18): the CSV export, and the prompt sent to the provider.
And what it must: the usage chart's labels, with its months kept UTC months in any time zone.
"""

from __future__ import annotations

import datetime as dt
import html

import pytest

from accounts.models import User
from generation import pipeline, services
from generation.models import Generation
from tests.support.accounts import workspace_of
from tests.support.factories import make_cost, make_generation, make_persona
from tests.support.generation import start
from tests.support.keys import make_key

pytestmark = pytest.mark.django_db

WHEN = dt.datetime(2026, 11, 1, 0, 30, tzinfo=dt.UTC)  # in New York, still 31 October


def _export(client) -> bytes:
    response = client.get("/usage.csv?month=2026-11")
    assert response.status_code == 200
    return b"".join(response.streaming_content)


def test_the_csv_is_the_same_in_any_language_and_time_zone(alice, alice_client):
    generation = make_generation(workspace_of(alice), alice, created_at=WHEN, persona_name="سلمى")
    make_cost(generation, amount_nanousd=12_499_349_795_000, created_at=WHEN)
    english = _export(alice_client)
    User.objects.filter(pk=alice.pk).update(language="ar", time_zone="America/New_York")
    arabic = _export(alice_client)
    assert arabic == english
    header, row = english.decode().splitlines()[:2]
    assert header.startswith("time_utc,generation,")
    assert row.startswith("2026-11-01T00:30:00+00:00,") and ",12499.349795000," in row and "سلمى" in row


def test_the_chart_and_amounts_follow_the_language_and_its_months_stay_utc(alice, alice_client, frozen_now):
    generation = make_generation(workspace_of(alice), alice, created_at=WHEN)
    make_cost(generation, amount_nanousd=12_499_349_795_000, created_at=WHEN)
    User.objects.filter(pk=alice.pk).update(time_zone="America/New_York")
    page = html.unescape(alice_client.get("/usage/?month=2026-11").content.decode())
    assert "November 2026: $12,499.349795" in page  # the bar's name: November (UTC), not October
    User.objects.filter(pk=alice.pk).update(language="ar")
    page = html.unescape(alice_client.get("/usage/?month=2026-11").content.decode())
    # Django's Arabic month names and separators, Latin digits; the same exact amount.
    assert "نوفمبر 2026: $12.499,349795" in page


def test_an_arabic_prompt_reaches_the_provider_as_written(alice, double):
    persona = make_persona(workspace_of(alice), alice, name="سلمى", appearance="شعر أسود قصير ونظارات")
    prompt = services.build_prompt(persona)
    assert "سلمى" in prompt and "شعر أسود قصير ونظارات" in prompt
    key = make_key(alice, "openai")
    generation = start(alice, key, "gpt-image-2", prompt=prompt)
    pipeline.run_generation(generation.pk)
    assert Generation.objects.get(pk=generation.pk).status == Generation.Status.SUCCEEDED
    (sent,) = double.requests("openai.generate")
    assert sent.json["prompt"] == prompt

"""Which key and which member paid for each request: generation page, usage table, CSV, key filter."""

from __future__ import annotations

import csv
import importlib
import io

import pytest
from django.apps import apps as django_apps

from generation.models import CostRecord
from keys import services as vault
from tests.support.accounts import workspace_of
from tests.support.clock import NOW
from tests.support.factories import make_cost, make_generation
from tests.support.keys import make_key

pytestmark = pytest.mark.django_db

SECOND_FAL = "5d1c0b2a-9e8f-4a7b-8c6d-5e4f3a2b1c0d:7f6e5d4c3b2a19081726354453627180"


def _paid(owner, member, key):
    generation = make_generation(
        workspace_of(owner),
        member,
        provider="fal",
        model="fal-ai/flux-2-max",
        provider_key=key,
        created_at=NOW,
    )
    return make_cost(generation)


def test_the_worker_records_the_key_and_the_member(alice, bob, double, settings, tmp_path):
    from generation import pipeline
    from tests.support.generation import start

    settings.MEDIA_ROOT = tmp_path
    key = make_key(alice, "fal", label="Studio fal")
    generation = start(bob, key, "fal-ai/flux-2-max")
    pipeline.run_generation(generation.pk)
    record = CostRecord.objects.get()
    assert (record.provider_key, record.key_label, record.key_hint) == (key, "Studio fal", key.hint)
    assert record.created_by == bob


def test_pages_and_csv_name_the_key_and_member_even_after_the_key_is_deleted(alice, bob, alice_client):
    key = make_key(alice, "fal", label="Studio fal")
    record = _paid(alice, bob, key)
    vault.delete_key(key, user=alice)
    record.refresh_from_db()
    assert record.provider_key is None and record.key_label == "Studio fal"
    detail = alice_client.get(f"/generations/{record.generation.code}/").content.decode()
    assert f"Studio fal ({key.hint})" in detail and bob.email in detail
    history = alice_client.get("/usage/").content.decode()
    assert f"Studio fal ({key.hint})" in history
    rows = list(
        csv.DictReader(io.StringIO(b"".join(alice_client.get("/usage.csv").streaming_content).decode()))
    )
    assert (rows[0]["key_label"], rows[0]["key_hint"], rows[0]["member"]) == (
        "Studio fal",
        key.hint,
        bob.email,
    )


def test_the_usage_filters_narrow_to_one_key(alice, bob, alice_client):
    first = make_key(alice, "fal", label="Studio fal")
    second = make_key(alice, "fal", SECOND_FAL, label="Personal fal")
    _paid(alice, alice, first)
    _paid(alice, bob, second)
    _paid(alice, bob, second)
    page = alice_client.get("/usage/", {"key": str(second.code)}).content.decode()
    assert page.count('data-testid="key"') == 2 and f"Studio fal ({first.hint})</td>" not in page
    body = b"".join(alice_client.get("/usage.csv", {"key": str(second.code)}).streaming_content).decode()
    assert len(list(csv.DictReader(io.StringIO(body)))) == 2
    assert alice_client.get("/usage/", {"key": "not-a-code"}).status_code == 200  # matches nothing


def test_the_key_filter_totals_and_chart_count_that_keys_records(alice):
    from generation.usage.filters import Filters
    from generation.usage.totals import monthly, totals

    first = make_key(alice, "fal", label="Studio fal")
    second = make_key(alice, "fal", SECOND_FAL, label="Personal fal")
    _paid(alice, alice, first)
    _paid(alice, alice, second)
    workspace = workspace_of(alice)
    only = Filters(key=str(second.code))
    assert totals(workspace, only).overall.count == 1
    assert monthly(workspace, only, now=NOW)[-1].total.count == 1
    assert monthly(workspace, Filters(), now=NOW)[-1].total.count == 2


def test_the_migration_backfills_existing_records(alice):
    key = make_key(alice, "fal", label="Studio fal")
    record = _paid(alice, alice, key)
    CostRecord.objects.filter(pk=record.pk).update(provider_key=None, key_label="", key_hint="")
    migration = importlib.import_module("generation.migrations.0015_spend_limits_and_who_paid")
    migration.backfill_who_paid(django_apps, None)
    record.refresh_from_db()
    assert (record.provider_key, record.key_label, record.key_hint) == (key, "Studio fal", key.hint)

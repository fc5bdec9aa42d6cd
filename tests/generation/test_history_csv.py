from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from unittest import mock

import pytest
from django.db import connection
from django.db.models.query import QuerySet
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext

from tests.support.accounts import workspace_of
from tests.support.factories import bulk_costs, make_cost, make_generation

pytestmark = pytest.mark.django_db

UTC = dt.UTC
WHEN = dt.datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


def rows(response) -> list[dict[str, str]]:
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def shown(response) -> list[str]:
    return re.findall(r'<tr data-generation="([0-9a-f-]{36})">', response.content.decode())


def charge(workspace, user, *, when=WHEN, amount=11_090_000, usage=None, **fields):
    generation = make_generation(workspace, user, created_at=when, **fields)
    return make_cost(generation, amount_nanousd=amount, created_at=when, usage=usage)


def test_it_exports_one_row_per_record_with_prices_request_ids_and_exact_amounts(alice, alice_client):
    workspace = workspace_of(alice)
    record = charge(workspace, alice, usage={"input_tokens": 57, "output_tokens": 272}, persona_name="Ben")
    fal = charge(
        workspace,
        alice,
        when=WHEN - dt.timedelta(hours=1),
        amount=100_000_000,
        provider="fal",
        model="fal-ai/flux-2-max",
        width=1536,
        height=1024,
        quality="",
        usage={"images": [{"width": 1536, "height": 1024, "megapixels": 2}]},
    )
    response = alice_client.get("/usage.csv")
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    first, second = rows(response)
    assert first == {
        "time_utc": "2026-11-20T09:30:00+00:00",
        "generation": str(record.generation.code),
        "member": "alice@example.com",
        "key_label": "",  # this record was made without a key
        "key_hint": "",
        "persona": "Ben",
        "status": "succeeded",
        "provider": "openai",
        "model": "gpt-image-2",
        "width": "1024",
        "height": "1024",
        "quality": "low",
        "images": "1",
        "input_tokens": "57",
        "output_tokens": "272",
        "megapixels": "",
        "quote_usd": "0.011000000",
        "amount_usd": "0.011090000",
        "unit_prices": json.dumps(record.unit_prices, sort_keys=True, separators=(",", ":")),
        "price_version": "2026-11-26",
        "provider_request_ids": record.provider_request_ids[0],
        "charge": "charged",
        "unknown_reason": "",
        "resolution": "",
        "resolution_note": "",
        "reference_images": "0",
        "image_input_tokens": "",
        "input_megapixels": "",
        "input_usd": "",
        "output_usd": "",
    }
    assert json.loads(first["unit_prices"]) == {"image_output": 30000, "text_input": 5000}
    assert (second["generation"], second["megapixels"], second["amount_usd"]) == (
        str(fal.generation.code),
        "2",
        "0.100000000",
    )
    assert second["input_tokens"] == second["output_tokens"] == ""


def test_an_unknown_cost_is_exported_as_unknown(alice, alice_client):
    charge(workspace_of(alice), alice, amount=None)
    assert rows(alice_client.get("/usage.csv"))[0]["amount_usd"] == "unknown"


def test_a_possibly_charged_record_a_reconciliation_settled_says_so(alice, alice_client):
    record = charge(workspace_of(alice), alice, amount=None)
    note = "fal.ai's request list: 1 request failed at fal with a server error (never billed)."
    type(record).objects.filter(pk=record.pk).update(
        charge="possible",
        unknown_reason="The worker stopped.",
        amount_nanousd=0,
        resolution="not_billed",
        resolution_note=note,
    )
    (row,) = rows(alice_client.get("/usage.csv"))
    assert (row["charge"], row["amount_usd"]) == ("possibly charged", "0.000000000")
    assert (row["resolution"], row["resolution_note"]) == ("not billed", note)


def test_the_file_name_says_workspace_and_period(alice, alice_client):
    workspace = workspace_of(alice)
    workspace.name = "Acme Studio"
    workspace.save()
    cases = {
        "": "aniavatar-usage-acme-studio-all.csv",
        "?month=2026-11&provider=fal": "aniavatar-usage-acme-studio-2026-11.csv",
        "?from=2026-11-03&to=2026-11-10": "aniavatar-usage-acme-studio-2026-11-03_2026-11-10.csv",
    }
    for query, name in cases.items():
        response = alice_client.get("/usage.csv" + query)
        assert response["Content-Disposition"] == f'attachment; filename="{name}"'


def test_it_guards_against_formula_injection(alice, alice_client):
    workspace = workspace_of(alice)
    names = ['=HYPERLINK("http://evil")', "+1+1", "-2", "@SUM(A1)", "Plain Pat"]
    for i, name in enumerate(names):
        charge(workspace, alice, when=WHEN - dt.timedelta(minutes=i), persona_name=name)
    exported = [row["persona"] for row in rows(alice_client.get("/usage.csv"))]
    assert exported == ["'" + name for name in names[:4]] + ["Plain Pat"]


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"month": "2026-11"},
        {"provider": "fal", "member": "bob@example.com"},
        {"from": "2026-10-25", "to": "2026-11-10", "model": "gpt-image-2"},
    ],
)
def test_csv_rows_equal_the_page_rows_for_the_same_filters(alice, bob, alice_client, params):
    workspace = workspace_of(alice)
    for i in range(30):
        provider, model = [("openai", "gpt-image-2"), ("fal", "fal-ai/flux-2-max")][i % 2]
        charge(
            workspace,
            (alice, bob)[i % 3 == 0],
            when=WHEN - dt.timedelta(days=2 * i),
            provider=provider,
            model=model,
            amount=None if i == 7 else 1_000_000 * (i + 1),
        )
    page = alice_client.get("/usage/", params)
    exported = rows(alice_client.get("/usage.csv", params))
    assert [row["generation"] for row in exported] == shown(page)
    assert len(exported) == page.context["totals"].overall.count > 0
    amounts = [row["amount_usd"] for row in exported]
    total = sum(int(a.replace(".", "")) for a in amounts if a != "unknown")
    assert total == page.context["totals"].overall.amount_nanousd


def test_it_starts_streaming_before_reading_the_rows(alice, alice_client):
    bulk_costs(workspace_of(alice), alice, 2500, newest=WHEN)
    response = alice_client.get("/usage.csv")
    assert isinstance(response, StreamingHttpResponse)
    chunks = iter(response.streaming_content)
    with CaptureQueriesContext(connection) as before_rows:
        header = next(chunks)
    assert header.startswith(b"time_utc,generation,member")
    assert len(before_rows) == 0  # the header went out before the database was asked anything
    # The rows come from a chunked iterator, never from a queryset evaluated into memory.
    with (
        mock.patch.object(QuerySet, "_fetch_all", side_effect=AssertionError("queryset evaluated")),
        CaptureQueriesContext(connection) as reading,
    ):
        first = next(chunks)
        assert len(reading) == 1
        rest = list(chunks)
    assert first.count(b"\n") == 1
    assert len(rest) == 2499
    assert len(reading) == 1


def test_members_export_the_workspace_records(alice, bob_client):
    record = charge(workspace_of(alice), alice)
    assert [row["generation"] for row in rows(bob_client.get("/usage.csv"))] == [str(record.generation.code)]


def test_it_never_exports_another_workspace_records(alice, charlie, charlie_client):
    charge(workspace_of(alice), alice, persona_name="Budget Ben")
    own = charge(workspace_of(charlie), charlie)
    for params in ({}, {"member": "alice@example.com"}):
        exported = rows(charlie_client.get("/usage.csv", params))
        assert [row["generation"] for row in exported] == ([str(own.generation.code)] if not params else [])
        assert all(row["persona"] != "Budget Ben" for row in exported)

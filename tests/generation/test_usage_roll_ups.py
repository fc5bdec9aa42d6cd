"""Monthly roll-ups: the history's totals, chart and dashboard read them; they must equal the records."""

from __future__ import annotations

import datetime as dt
import importlib
import random
import threading
from collections import Counter

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connections, transaction
from django.db.models import Count, Q, QuerySet, Sum

from accounts.models import User
from generation.models import CostRecord, UsageMonth
from generation.usage import roll_ups, totals
from generation.usage.filters import Filters, parse_filters
from tests.support.accounts import workspace_of
from tests.support.factories import make_cost, make_generation

pytestmark = pytest.mark.django_db

UTC = dt.UTC
NOW = dt.datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
MODELS = [("openai", "gpt-image-2"), ("openai", "gpt-image-1.5"), ("fal", "fal-ai/flux-2-max")]


def _history(alice: User, bob: User, ghost: User, *, seed: int = 7, count: int = 160) -> list[CostRecord]:
    """Records over 14 months, three models, three members (one deleted later), some without a price."""
    rng = random.Random(seed)
    workspace = workspace_of(alice)
    made = []
    for _ in range(count):
        provider, model = rng.choice(MODELS)
        when = NOW - dt.timedelta(days=rng.randrange(0, 420), seconds=rng.randrange(86_400))
        member = rng.choice([alice, bob, ghost, None])
        amount = None if rng.random() < 0.1 else rng.randrange(1_000_000, 200_000_000)
        generation = make_generation(
            workspace, member, provider=provider, model=model, created_at=when, n=rng.randint(1, 4)
        )
        made.append(make_cost(generation, amount_nanousd=amount, created_at=when))
    return made


def _reference(workspace, filters: Filters) -> dict[tuple[str, str], tuple[int, int, int, int]]:
    """Totals per (provider, model) computed straight from the records, as the roll-ups must give them."""
    qs = CostRecord.objects.filter(workspace=workspace)
    if filters.start:
        qs = qs.filter(created_at__gte=filters.start)
    if filters.end:
        qs = qs.filter(created_at__lt=filters.end)
    if filters.provider:
        qs = qs.filter(provider=filters.provider)
    if filters.model:
        qs = qs.filter(model=filters.model)
    if filters.member:
        qs = qs.filter(created_by__email=filters.member)
    rows = qs.values("provider", "model").annotate(
        n=Count("pk"), i=Sum("images"), a=Sum("amount_nanousd"), u=Count("pk", filter=Q(amount_nanousd=None))
    )
    return {(r["provider"], r["model"]): (r["n"], r["i"] or 0, r["a"] or 0, r["u"]) for r in rows}


def _got(workspace, filters: Filters) -> dict[tuple[str, str], tuple[int, int, int, int]]:
    return {
        (t.provider, t.model): (t.count, t.images, t.amount_nanousd, t.unknown)
        for t in totals.totals(workspace, filters).by_model
    }


def _periods() -> list[dict[str, str]]:
    return [
        {},
        {"month": "2026-11"},
        {"month": "2026-03"},
        {"month": "2025-01"},  # before the history: nothing
        {"from": "2026-02-17", "to": "2026-06-03"},  # partial months at both ends
        {"from": "2026-04-01", "to": "2026-06-30"},  # whole months only
        {"from": "2026-05-03", "to": "2026-05-19"},  # inside one month
        {"from": "2026-07-28", "to": "2026-08-03"},  # a week across a month boundary
        {"from": "2026-06-15"},
        {"to": "2026-06-15"},
        {"from": "2026-06-01"},
        {"to": "2026-05-31"},
    ]


@pytest.fixture
def history(alice: User, bob: User) -> list[CostRecord]:
    ghost = User.objects.create_user(email="ghost@example.com", password=None)
    workspace_of(alice).memberships.create(user=ghost, role="member")
    made = _history(alice, bob, ghost)
    ghost.delete()  # their records and roll-ups keep counting, without a member
    return made


@pytest.mark.parametrize(
    "period", _periods(), ids=lambda p: "&".join(f"{k}={v}" for k, v in p.items()) or "all"
)
@pytest.mark.parametrize(
    "narrow",
    [{}, {"provider": "fal"}, {"model": "gpt-image-1.5"}, {"member": "alice@example.com"}],
    ids=lambda n: "&".join(f"{k}={v}" for k, v in n.items()) or "everyone",
)
def test_totals_from_roll_ups_equal_the_records(alice, history, period, narrow):
    filters, errors = parse_filters({**period, **narrow})
    assert errors == []
    workspace = workspace_of(alice)
    expected = _reference(workspace, filters)
    if not narrow:
        assert bool(expected) == (period != {"month": "2025-01"}), "the history should cover this period"
    assert _got(workspace, filters) == expected


def test_combined_filters_from_roll_ups_equal_the_records(alice, history):
    workspace = workspace_of(alice)
    narrows = [
        {"provider": "openai", "member": "bob@example.com"},
        {"provider": "openai", "model": "gpt-image-2"},
        {"model": "fal-ai/flux-2-max", "member": "alice@example.com"},
        {"provider": "fal", "model": "gpt-image-2"},  # no such pair: nothing
        {"member": "ghost@example.com"},  # deleted: their records no longer match an email
        {"member": "nobody@example.com"},
    ]
    for period in _periods():
        for narrow in narrows:
            filters, errors = parse_filters({**period, **narrow})
            assert errors == []
            assert _got(workspace, filters) == _reference(workspace, filters), (period, narrow)


def test_a_nul_in_a_filter_matches_nothing_and_does_not_reach_the_database(alice, history):
    workspace = workspace_of(alice)
    for params in ({"provider": "open\x00ai"}, {"member": "a\x00@example.com", "month": "2026-06"}):
        filters, _ = parse_filters(params)
        assert totals.totals(workspace, filters).overall == totals.Total()
        assert all(m.total == totals.Total() for m in totals.monthly(workspace, filters, now=NOW))


def test_the_deleted_members_spend_still_counts(alice, history):
    workspace = workspace_of(alice)
    assert CostRecord.objects.filter(workspace=workspace, created_by=None).exists()
    assert UsageMonth.objects.filter(workspace=workspace, created_by=None).exists()
    everything = totals.totals(workspace, Filters()).overall
    assert everything.count == len(history)
    assert everything.amount_nanousd == sum(r.amount_nanousd or 0 for r in history)
    assert everything.unknown == sum(1 for r in history if r.amount_nanousd is None)


@pytest.mark.parametrize("narrow", [{}, {"provider": "openai"}, {"member": "bob@example.com"}])
def test_the_chart_equals_the_records_month_by_month(alice, history, narrow):
    workspace = workspace_of(alice)
    filters, _ = parse_filters(narrow)
    for month in totals.monthly(workspace, filters, now=NOW):
        period, _ = parse_filters({**narrow, "month": month.key})
        reference = list(_reference(workspace, period).values())
        expected = tuple(map(sum, zip(*reference, strict=True))) or (0, 0, 0, 0)
        got = (month.total.count, month.total.images, month.total.amount_nanousd, month.total.unknown)
        assert got == expected, month.key


def test_the_dashboard_month_equals_the_records(alice, history):
    workspace = workspace_of(alice)
    summary = totals.month_spend(workspace, now=NOW)
    month = [r for r in history if r.created_at >= dt.datetime(2026, 11, 1, tzinfo=UTC)]
    assert summary.count == len(month)
    assert summary.amount_nanousd == sum(r.amount_nanousd or 0 for r in month)


def _roll_up_rows(workspace) -> Counter:
    fields = (
        "month",
        "provider",
        "model",
        "created_by_id",
        "requests",
        "images",
        "amount_nanousd",
        "unknown",
    )
    return Counter(UsageMonth.objects.filter(workspace=workspace).values_list(*fields))


def _merged(workspace) -> dict:
    """Roll-ups summed per key: NULL-member rows may be split across rows, their sums may not differ."""
    merged: dict = {}
    for row in UsageMonth.objects.filter(workspace=workspace):
        key = (row.month, row.provider, row.model, row.created_by_id)
        a = merged.get(key, (0, 0, 0, 0))
        merged[key] = (a[0] + row.requests, a[1] + row.images, a[2] + row.amount_nanousd, a[3] + row.unknown)
    return merged


def test_rebuilding_gives_what_was_kept_incrementally(alice, history, capsys):
    workspace = workspace_of(alice)
    kept = _merged(workspace)
    assert roll_ups.rebuild_roll_ups(workspace) == len(kept)
    assert _merged(workspace) == kept
    call_command("rebuild_usage_roll_ups")
    first = capsys.readouterr().out
    rows = _roll_up_rows(workspace)
    call_command("rebuild_usage_roll_ups")
    assert capsys.readouterr().out == first == f"roll-up rows={len(kept)}\n"
    assert _roll_up_rows(workspace) == rows


def test_the_migration_and_the_rebuild_agree_for_records_without_roll_ups(alice):
    # Records written before the roll-ups existed (bulk_create skips roll_up): a rebuild counts them.
    workspace = workspace_of(alice)
    generation = make_generation(workspace, alice, created_at=NOW)
    CostRecord.objects.bulk_create([make_cost(generation, save=False, created_at=NOW)])
    # (The chart's month reads the roll-ups; the dashboard's month_spend reads the records themselves.)
    assert totals.monthly(workspace, Filters(), now=NOW)[-1].total.count == 0
    roll_ups.rebuild_roll_ups()
    assert totals.monthly(workspace, Filters(), now=NOW)[-1].total.count == 1


def test_the_migration_builds_what_was_kept_incrementally(alice, history):
    # The data migration's function, run with today's models (its historical ones have the same fields).
    migration = importlib.import_module("generation.migrations.0004_usage_month_roll_ups")
    workspace = workspace_of(alice)
    kept = _merged(workspace)
    UsageMonth.objects.all().delete()
    migration.roll_up_existing_records(apps, None)
    assert _merged(workspace) == kept
    assert UsageMonth.objects.filter(workspace=workspace, created_by=None).count() == len(
        {key[:3] for key in kept if key[3] is None}
    )


def test_a_first_insert_that_loses_a_race_adds_to_the_winners_row(alice, monkeypatch):
    """The update finds no row, another writer inserts it, our insert fails: the sums go to that row."""
    workspace = workspace_of(alice)
    make_cost(make_generation(workspace, alice, created_at=NOW), amount_nanousd=5, created_at=NOW)
    real_update = QuerySet.update
    calls = []

    def first_update_misses(self, **kwargs):
        calls.append(self.model)
        return 0 if len(calls) == 1 else real_update(self, **kwargs)

    monkeypatch.setattr(QuerySet, "update", first_update_misses)
    with transaction.atomic():  # as in the pipeline: the savepoint keeps this transaction usable
        make_cost(make_generation(workspace, alice, created_at=NOW), amount_nanousd=None, created_at=NOW)
        assert UsageMonth.objects.filter(workspace=workspace).count() == 1
    assert calls == [UsageMonth, UsageMonth]
    row = UsageMonth.objects.get(workspace=workspace)
    assert (row.requests, row.amount_nanousd, row.unknown) == (2, 5, 1)


def test_another_workspace_never_counts(alice, charlie, history):
    charlie_ws = workspace_of(charlie)
    assert totals.totals(charlie_ws, Filters()).overall.count == 0
    assert all(m.total.count == 0 for m in totals.monthly(charlie_ws, Filters(), now=NOW))
    mine = make_cost(make_generation(charlie_ws, charlie, created_at=NOW), created_at=NOW)
    assert totals.totals(charlie_ws, Filters()).overall.count == 1
    assert totals.totals(workspace_of(alice), Filters()).overall.count == len(history)
    assert mine.workspace_id == charlie_ws.pk


@pytest.mark.django_db(transaction=True)
def test_concurrent_records_of_one_month_land_in_one_row_with_exact_sums(alice):
    """20 threads write a record for the same (month, model, member) at once, each in its transaction."""
    workspace = workspace_of(alice)
    generations = [make_generation(workspace, alice, created_at=NOW) for _ in range(20)]
    barrier = threading.Barrier(len(generations))
    errors = []

    def finish(generation) -> None:
        try:
            barrier.wait()
            with transaction.atomic():
                record = make_cost(generation, amount_nanousd=1_000_000, created_at=NOW, save=False)
                record.save()
                roll_ups.roll_up([record])
        except Exception as exc:  # anything else is a bug
            errors.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=finish, args=(g,)) for g in generations]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    rows = list(UsageMonth.objects.filter(workspace=workspace))
    assert len(rows) == 1
    assert (rows[0].requests, rows[0].amount_nanousd) == (20, 20_000_000)

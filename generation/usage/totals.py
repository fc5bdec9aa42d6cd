"""Usage totals: selectors over a workspace's monthly roll-ups and its cost records (reads only).

A period's totals add the roll-ups of its whole UTC months to the records of its partial months at the
edges, so they read a few rows per month whatever the history's size; the chart reads the roll-ups of
the last twelve months. "Spent this month" reads the records (see `month_spend`, the one source).
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, TruncMonth

from accounts.models import Workspace
from generation.dates import add_months, month_start
from generation.models import CostRecord, UsageMonth
from generation.money import format_usd
from generation.usage.filters import Filters, records

CHART_MONTHS = 12


@dataclass(frozen=True)
class Total:
    """Requests, avatars and known spend of a group; `unknown` counts records without a price."""

    count: int = 0
    images: int = 0
    amount_nanousd: int = 0
    unknown: int = 0
    provider: str = ""
    model: str = ""

    @property
    def amount_display(self) -> str:
        return format_usd(self.amount_nanousd)

    def plus(self, other: Total, **labels: str) -> Total:
        """Return the sum of two totals, labelled with `labels` (none by default)."""
        return Total(
            count=self.count + other.count,
            images=self.images + other.images,
            amount_nanousd=self.amount_nanousd + other.amount_nanousd,
            unknown=self.unknown + other.unknown,
            **labels,
        )


def record_sums() -> dict[str, Any]:
    """Return the aggregates that sum cost records into a `Total` (see `_total`)."""
    # Aliases must not reuse field names ("images", "amount_nanousd"): SQL would read them as the sums.
    return {
        "n_requests": Count("pk"),
        "n_images": Coalesce(Sum("images"), 0),
        "spent": Coalesce(Sum("amount_nanousd"), 0),
        "n_unknown": Count("pk", filter=Q(amount_nanousd__isnull=True)),
    }


def _roll_up_sums() -> dict[str, Any]:
    return {
        "n_requests": Coalesce(Sum("requests"), 0),
        "n_images": Coalesce(Sum("images"), 0),
        "spent": Coalesce(Sum("amount_nanousd"), 0),
        "n_unknown": Coalesce(Sum("unknown"), 0),
    }


def _total(row: Mapping[str, Any]) -> Total:
    """Return the `Total` of a row aggregated with `record_sums` or the roll-ups' sums."""
    return Total(
        count=row["n_requests"],
        images=row["n_images"],
        amount_nanousd=row["spent"],
        unknown=row["n_unknown"],
        provider=row.get("provider", ""),
        model=row.get("model", ""),
    )


@dataclass(frozen=True)
class Totals:
    overall: Total
    by_provider: list[Total]
    by_model: list[Total]


def _months(workspace: Workspace, filters: Filters) -> QuerySet[UsageMonth]:
    """Return the workspace's roll-ups that match the provider, model and member filters."""
    return filters.narrow(UsageMonth.objects.for_workspace(workspace))


def _whole_months(filters: Filters) -> tuple[dt.datetime | None, dt.datetime | None] | None:
    """Return the whole UTC months inside the period as [first, end) (None: unbounded), or None if none."""
    first = filters.start
    if first is not None and first != month_start(first):
        first = add_months(month_start(first), 1)
    end = month_start(filters.end) if filters.end is not None else None
    if first is not None and end is not None and first >= end:
        return None
    return first, end


def _groups(workspace: Workspace, filters: Filters) -> list[Total]:
    """Return the period's totals per (provider, model): whole months from roll-ups, edges from records."""
    groups: dict[tuple[str, str], Total] = {}

    def add(rows: Iterable[Mapping[str, Any]]) -> None:
        for row in rows:
            key = (row["provider"], row["model"])
            groups[key] = groups.get(key, Total()).plus(_total(row), provider=key[0], model=key[1])

    # The roll-ups do not keep the key: with a key chosen, the period's records are read instead.
    whole = None if filters.key else _whole_months(filters)
    if whole is None:
        add(records(workspace, filters).values("provider", "model").annotate(**record_sums()).order_by())
    else:
        first, end = whole
        months = _months(workspace, filters)
        if first is not None:
            months = months.filter(month__gte=first.date())
        if end is not None:
            months = months.filter(month__lt=end.date())
        add(months.values("provider", "model").annotate(**_roll_up_sums()).order_by())
        # The partial months before the first and after the last whole month, read from the records.
        edges = []
        # (A bound of whole months exists only where the period has that bound.)
        if first is not None and filters.start is not None and filters.start < first:
            edges.append(Q(created_at__gte=filters.start, created_at__lt=first))
        if end is not None and filters.end is not None and end < filters.end:
            edges.append(Q(created_at__gte=end, created_at__lt=filters.end))
        if edges:
            edge_records = filters.narrow(CostRecord.objects.for_workspace(workspace))
            edge_records = edge_records.filter(functools.reduce(operator.or_, edges))
            add(edge_records.values("provider", "model").annotate(**record_sums()).order_by())
    return [groups[key] for key in sorted(groups)]


def totals(workspace: Workspace, filters: Filters) -> Totals:
    """Return the totals of the filtered records: overall, per provider and per model."""
    by_model = _groups(workspace, filters)
    # The overall and per-provider totals add up a handful of (provider, model) groups, not rows.
    overall, by_provider = Total(), dict[str, Total]()
    for group in by_model:
        overall = overall.plus(group)
        by_provider[group.provider] = by_provider.get(group.provider, Total()).plus(
            group, provider=group.provider
        )
    return Totals(overall=overall, by_provider=list(by_provider.values()), by_model=by_model)


@dataclass(frozen=True)
class MonthSpend(Total):
    """This UTC month's charges: a `Total` (known spend, requests, avatars, charges of unknown amount),
    plus the quotes of the generations whose charge has an unknown amount."""

    unknown_quotes_nanousd: int = 0

    @property
    def bounded_nanousd(self) -> int:
        """Return the known spend plus each unknown amount at its quote: never less than was billed."""
        return self.amount_nanousd + self.unknown_quotes_nanousd


def month_spend(
    workspace: Workspace,
    *,
    member_id: int | None = None,
    key_id: int | None = None,
    now: dt.datetime | None = None,
) -> MonthSpend:
    """Return what the workspace was charged since its UTC month began: the one "spent this month".

    Narrowed to one scope when asked: a member's charges (`member_id`, the records' `created_by`) or a
    key's (`key_id`, the records' `provider_key`), for their monthly limits (`budgets.status`).

    The budget (`budgets.status`, which `budgets.check_and_lock` runs under the workspace row's lock)
    and the dashboard both read this, so the cap and the page cannot disagree. It reads the cost
    records, not the monthly roll-ups, because:

    - the records are the ledger; roll-ups are derived from them and can miss some (records inserted
      in bulk, before `rebuild_roll_ups`). A cap must never count less than was charged.
    - a charge of unknown amount (a billed answer we could not read) counts at its generation's quote,
      an upper bound, never as 0; only a record leads to its generation, a roll-up just counts them.
    - under concurrency: on PostgreSQL a record's insert takes a key-share lock on its workspace row
      (its foreign key), which waits for check_and_lock's SELECT … FOR UPDATE and blocks it until the
      insert commits; so a check counts a finishing generation as reserved or as spent, never as
      neither. (SQLite serializes writers.)
    - it stays cheap: the month's records are one range of the covering index `cost_totals_covering`
      (workspace, created_at, …, images, amount_nanousd, id), read index-only whatever the history's size.

    From the month's first instant with no end: a record stamped a moment ahead by a worker's clock
    still counts. A second query, only when some amount is unknown, joins just those records to their
    generations for the quotes.
    """
    month = CostRecord.objects.for_workspace(workspace).filter(created_at__gte=month_start(now))
    if member_id is not None:
        month = month.filter(created_by_id=member_id)
    if key_id is not None:
        month = month.filter(provider_key_id=key_id)
    total = _total(month.aggregate(**record_sums()))
    quotes = 0
    if total.unknown:
        unknown = month.filter(amount_nanousd__isnull=True)
        quotes = unknown.aggregate(quotes=Coalesce(Sum("generation__quote_nanousd"), 0))["quotes"]
    return MonthSpend(
        count=total.count,
        images=total.images,
        amount_nanousd=total.amount_nanousd,
        unknown=total.unknown,
        unknown_quotes_nanousd=quotes,
    )


@dataclass(frozen=True)
class Month:
    """One bar of the monthly chart: a UTC month and its totals."""

    start: dt.datetime
    total: Total

    @property
    def key(self) -> str:
        return self.start.strftime("%Y-%m")

    @property
    def first_day(self) -> dt.date:
        """The month's first day, a date: shown as is, never moved into the viewer's time zone."""
        return self.start.date()


def monthly(workspace: Workspace, filters: Filters, *, now: dt.datetime | None = None) -> list[Month]:
    """Return the last twelve UTC months' totals, oldest first; the period filter does not apply."""
    first = add_months(month_start(now), 1 - CHART_MONTHS)
    rows: Iterable[Mapping[str, Any]]
    if filters.key:  # the roll-ups do not keep the key: the records of the twelve months, per UTC month
        rows = (
            records(workspace, filters)
            .filter(created_at__gte=first)
            .annotate(month=TruncMonth("created_at", tzinfo=dt.UTC))
            .values("month")
            .annotate(**record_sums())
            .order_by("month")
        )
    else:
        rows = (
            _months(workspace, filters)
            .filter(month__gte=first.date())
            .values("month")
            .annotate(**_roll_up_sums())
            .order_by("month")
        )
    found = {(row["month"].year, row["month"].month): row for row in rows}
    months = []
    for i in range(CHART_MONTHS):
        start = add_months(first, i)
        row = found.get((start.year, start.month))
        total = _total(row) if row else Total()
        months.append(Month(start=start, total=total))
    return months

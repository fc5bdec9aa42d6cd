"""Usage and cost history: the workspace-scoped queries behind the history page, its CSV and the dashboard.

Totals come from monthly roll-ups (`UsageMonth`, kept in the transaction that writes each cost record),
plus the records of any partial month at the edges of a date range; pages are keyset slices on
(created_at, id). Neither the number of queries nor the rows read for a page grow with the workspace's
history (100k records and more).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import operator
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, TruncMonth
from django.utils.translation import gettext as _

from accounts.models import Workspace
from generation.dates import add_months, day_start, month_start
from generation.models import CostRecord, GeneratedImage, UsageMonth
from generation.money import format_usd, plain_usd

PAGE_SIZE = 50
CHART_MONTHS = 12

# Newest first; the id breaks ties between records created in the same microsecond.
NEWEST_FIRST = ("-created_at", "-pk")
OLDEST_FIRST = ("created_at", "pk")


# Periods


@dataclass(frozen=True)
class Filters:
    """What the history page and the CSV show: a UTC period [start, end) and optional equalities."""

    start: dt.datetime | None = None
    end: dt.datetime | None = None
    provider: str = ""
    model: str = ""
    member: str = ""  # the member's email address
    period: str = "all"  # for file names: "2026-11", "2026-11-03_2026-11-10", "all"

    @property
    def is_filtered(self) -> bool:
        return bool(self.start or self.end or self.provider or self.model or self.member)

    @property
    def period_label(self) -> str:
        """Return the period for headings: "November 2026", "2026-11-03 – 2026-11-10", "all time"."""
        if self.start and self.end and add_months(self.start, 1) == self.end and self.start.day == 1:
            return self.start.strftime("%B %Y")
        last_day = (self.end - dt.timedelta(days=1)).date() if self.end else None
        if self.start and last_day:
            return f"{self.start.date()} – {last_day}"
        if self.start:
            return _("from %(day)s") % {"day": self.start.date()}
        if last_day:
            return _("until %(day)s") % {"day": last_day}
        return _("all time")

    def without_period(self) -> Filters:
        return replace(self, start=None, end=None, period="all")


def parse_filters(params: Mapping[str, str]) -> tuple[Filters, list[str]]:
    """Return the filters in a query string (`month` or `from`/`to`, provider, model, member) and errors."""
    errors: list[str] = []
    start = end = None
    period = "all"
    month = (params.get("month") or "").strip()
    first = (params.get("from") or "").strip()
    last = (params.get("to") or "").strip()
    # OverflowError: the end of year 9999 has no next month or day to end the period at.
    # A date range typed in the form wins over a month left in it (chart links set a month and clear the
    # range): the user just asked for those dates.
    if first or last:
        try:
            first_day = dt.date.fromisoformat(first) if first else None
            last_day = dt.date.fromisoformat(last) if last else None
            if first_day and last_day and first_day > last_day:
                errors.append(_("The date range was ignored: “from” is after “to”."))
            else:
                start = day_start(first_day) if first_day else None
                # The range includes its last day.
                end = day_start(last_day) + dt.timedelta(days=1) if last_day else None
                period = f"{first_day or 'start'}_{last_day or 'now'}"
        except (ValueError, OverflowError):
            start = end = None
            errors.append(_("The date range was ignored: use YYYY-MM-DD."))
    elif month:
        try:
            start = dt.datetime.strptime(month, "%Y-%m").replace(tzinfo=dt.UTC)
            end, period = add_months(start, 1), start.strftime("%Y-%m")
        except (ValueError, OverflowError):
            start = None
            errors.append(_("The month “%(value)s” was ignored: use YYYY-MM.") % {"value": month})
    filters = Filters(
        start=start,
        end=end,
        provider=(params.get("provider") or "").strip(),
        model=(params.get("model") or "").strip(),
        member=(params.get("member") or "").strip(),
        period=period,
    )
    return filters, errors


def _matching(qs: QuerySet, filters: Filters) -> QuerySet:
    """Apply the provider, model and member filters (fields both records and roll-ups have)."""
    if "\x00" in filters.provider + filters.model + filters.member:
        return qs.none()  # no stored value holds NUL, and PostgreSQL refuses one in a query
    if filters.provider:
        qs = qs.filter(provider=filters.provider)
    if filters.model:
        qs = qs.filter(model=filters.model)
    if filters.member:
        qs = qs.filter(created_by__email=filters.member)
    return qs


def records(workspace: Workspace, filters: Filters) -> QuerySet[CostRecord]:
    """Return the workspace's cost records that match `filters` (unordered)."""
    qs = _matching(CostRecord.objects.for_workspace(workspace), filters)
    if filters.start:
        qs = qs.filter(created_at__gte=filters.start)
    if filters.end:
        qs = qs.filter(created_at__lt=filters.end)
    return qs


# Monthly roll-ups


def _month_key(record: CostRecord) -> tuple[int, dt.date, str, str, int | None]:
    first = month_start(record.created_at).date()
    return (record.workspace_id, first, record.provider, record.model, record.created_by_id)


def roll_up(records: Iterable[CostRecord]) -> None:
    """Add saved cost records to their months' roll-ups; call it in the transaction that saved them."""
    groups: dict[tuple[int, dt.date, str, str, int | None], Total] = {}
    for record in records:
        key = _month_key(record)
        known = record.amount_nanousd is not None
        groups[key] = _add(
            groups.get(key, Total()),
            Total(1, record.images, record.amount_nanousd or 0, 0 if known else 1),
        )
    # In key order, so that transactions adding several keys lock their rows in the same order.
    ordered = sorted(groups.items(), key=lambda item: (*item[0][:4], item[0][4] or 0))
    for (workspace_id, month, provider, model, member), total in ordered:
        key = {"workspace_id": workspace_id, "month": month, "provider": provider, "model": model}
        increments = {
            "requests": F("requests") + total.count,
            "images": F("images") + total.images,
            "amount_nanousd": F("amount_nanousd") + total.amount_nanousd,
            "unknown": F("unknown") + total.unknown,
        }
        rows = UsageMonth.objects.filter(**key, created_by_id=member)
        if member is None:
            # NULL members are not unique: add to the oldest such row (the sums stay exact either way).
            rows = UsageMonth.objects.filter(pk__in=rows.order_by("pk").values("pk")[:1])
        if rows.update(**increments):
            continue
        try:
            with transaction.atomic():  # a savepoint: a concurrent first insert must not abort ours
                UsageMonth.objects.create(
                    **key,
                    created_by_id=member,
                    requests=total.count,
                    images=total.images,
                    amount_nanousd=total.amount_nanousd,
                    unknown=total.unknown,
                )
        except IntegrityError:
            # Another transaction created the row first; it is committed now, so add to it. Anything
            # else that refused the insert must not lose these sums silently.
            if not UsageMonth.objects.filter(**key, created_by_id=member).update(**increments):
                raise


def rebuild_roll_ups(workspace: Workspace | None = None) -> int:
    """Recompute the roll-ups (of one workspace, or all) from the cost records; return the rows written."""
    with transaction.atomic():
        old = UsageMonth.objects.all()
        recs = CostRecord.objects.all()
        if workspace is not None:
            old, recs = old.for_workspace(workspace), recs.for_workspace(workspace)
        old.delete()
        groups = (
            recs.annotate(month=TruncMonth("created_at", tzinfo=dt.UTC))
            .values("workspace_id", "month", "provider", "model", "created_by_id")
            .annotate(**_sums())
            .order_by()
        )
        rows = [
            UsageMonth(
                workspace_id=group["workspace_id"],
                month=group["month"].date() if isinstance(group["month"], dt.datetime) else group["month"],
                provider=group["provider"],
                model=group["model"],
                created_by_id=group["created_by_id"],
                requests=group["n_requests"],
                images=group["n_images"],
                amount_nanousd=group["spent"],
                unknown=group["n_unknown"],
            )
            for group in groups.iterator()
        ]
        UsageMonth.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


# Totals


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


def _sums() -> dict[str, Any]:
    # Aliases must not reuse field names ("images", "amount_nanousd"): SQL would read them as the sums.
    return {
        "n_requests": Count("pk"),
        "n_images": Coalesce(Sum("images"), 0),
        "spent": Coalesce(Sum("amount_nanousd"), 0),
        "n_unknown": Count("pk", filter=Q(amount_nanousd__isnull=True)),
    }


def _total(row: Mapping[str, Any]) -> Total:
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


def _add(a: Total, b: Total, **labels: str) -> Total:
    return Total(
        count=a.count + b.count,
        images=a.images + b.images,
        amount_nanousd=a.amount_nanousd + b.amount_nanousd,
        unknown=a.unknown + b.unknown,
        **labels,
    )


def _roll_up_sums() -> dict[str, Any]:
    return {
        "n_requests": Coalesce(Sum("requests"), 0),
        "n_images": Coalesce(Sum("images"), 0),
        "spent": Coalesce(Sum("amount_nanousd"), 0),
        "n_unknown": Coalesce(Sum("unknown"), 0),
    }


def _months(workspace: Workspace, filters: Filters) -> QuerySet[UsageMonth]:
    """Return the workspace's roll-ups that match the provider, model and member filters."""
    return _matching(UsageMonth.objects.for_workspace(workspace), filters)


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
            groups[key] = _add(groups.get(key, Total()), _total(row), provider=key[0], model=key[1])

    whole = _whole_months(filters)
    if whole is None:
        add(records(workspace, filters).values("provider", "model").annotate(**_sums()).order_by())
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
        if first is not None and filters.start < first:
            edges.append(Q(created_at__gte=filters.start, created_at__lt=first))
        if end is not None and end < filters.end:
            edges.append(Q(created_at__gte=end, created_at__lt=filters.end))
        if edges:
            edge_records = _matching(CostRecord.objects.for_workspace(workspace), filters)
            edge_records = edge_records.filter(functools.reduce(operator.or_, edges))
            add(edge_records.values("provider", "model").annotate(**_sums()).order_by())
    return [groups[key] for key in sorted(groups)]


def totals(workspace: Workspace, filters: Filters) -> Totals:
    """Return the totals of the filtered records: overall, per provider and per model."""
    by_model = _groups(workspace, filters)
    # The overall and per-provider totals add up a handful of (provider, model) groups, not rows.
    overall, by_provider = Total(), {}
    for group in by_model:
        overall = _add(overall, group)
        by_provider[group.provider] = _add(
            by_provider.get(group.provider, Total()), group, provider=group.provider
        )
    return Totals(overall=overall, by_provider=list(by_provider.values()), by_model=by_model)


def month_summary(workspace: Workspace, *, now: dt.datetime | None = None) -> Total:
    """Return this UTC month's requests and spend (one query, on the month's roll-ups)."""
    start = month_start(now)
    return _total(
        UsageMonth.objects.for_workspace(workspace).filter(month=start.date()).aggregate(**_roll_up_sums())
    )


# The monthly chart


@dataclass(frozen=True)
class Month:
    start: dt.datetime
    total: Total

    @property
    def key(self) -> str:
        return self.start.strftime("%Y-%m")


def monthly(workspace: Workspace, filters: Filters, *, now: dt.datetime | None = None) -> list[Month]:
    """Return the last twelve UTC months' totals, oldest first; the period filter does not apply."""
    first = add_months(month_start(now), 1 - CHART_MONTHS)
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


@dataclass(frozen=True)
class Bar:
    month: Month
    x: int
    y: int
    width: int
    height: int
    label_x: int


@dataclass(frozen=True)
class Chart:
    """Bar geometry in SVG user units, computed here so the template needs no arithmetic or styles."""

    bars: list[Bar]
    ticks: list[tuple[int, str]]  # (y, label) of horizontal grid lines
    width: int = 720
    height: int = 240
    left: int = 70
    bottom: int = 24
    top: int = 12

    @property
    def base_y(self) -> int:
        return self.height - self.bottom


def _nice_ceiling(amount_nanousd: int) -> int:
    """Return the smallest 1, 2 or 5 × 10^k nano-dollars (at least one cent) not below `amount`."""
    step = 10_000_000
    while True:
        for factor in (1, 2, 5):
            if step * factor >= amount_nanousd:
                return step * factor
        step *= 10


def chart(months: list[Month]) -> Chart:
    """Return the bars and grid lines of the monthly chart."""
    geometry = Chart(bars=[], ticks=[])
    plot_height = geometry.base_y - geometry.top
    top = _nice_ceiling(max((m.total.amount_nanousd for m in months), default=0))
    slot = (geometry.width - geometry.left) // max(len(months), 1)
    bars = []
    for i, month in enumerate(months):
        height = month.total.amount_nanousd * plot_height // top
        if month.total.amount_nanousd and height < 2:
            height = 2  # a month with any spend stays visible
        x = geometry.left + i * slot + slot // 6
        width = slot - slot // 3
        bars.append(Bar(month, x, geometry.base_y - height, width, height, x + width // 2))
    ticks = [(geometry.base_y - plot_height * k // 2, format_usd(top * k // 2)) for k in range(3)]
    return replace(geometry, bars=bars, ticks=ticks)


# Pages


@dataclass(frozen=True)
class Row:
    """One cost record as the history shows it."""

    record: CostRecord
    input_tokens: int | None
    output_tokens: int | None
    megapixels: int | None


def tokens(usage: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """Return (input, output) tokens from an OpenAI usage, or Nones."""
    if not isinstance(usage, Mapping):
        return None, None
    return usage.get("input_tokens"), usage.get("output_tokens")


def megapixels(usage: Mapping[str, Any]) -> int | None:
    """Return the billed megapixels from a fal usage, or None."""
    images = usage.get("images") if isinstance(usage, Mapping) else None
    if not isinstance(images, list):
        return None
    return sum(int(image.get("megapixels") or 0) for image in images)


def _row(record: CostRecord) -> Row:
    input_tokens, output_tokens = tokens(record.usage)
    return Row(record, input_tokens, output_tokens, megapixels(record.usage))


@dataclass(frozen=True)
class Page:
    rows: list[Row]
    newer: UUID | None  # cursor for the "Newer" link: show records newer than this one
    older: UUID | None  # cursor for the "Older" link: show records older than this one


def _older_than(created_at: dt.datetime, pk: int) -> Q:
    # The redundant bound on created_at alone lets the (workspace, created_at) index start at the cursor.
    return Q(created_at__lte=created_at) & (
        Q(created_at__lt=created_at) | Q(created_at=created_at, pk__lt=pk)
    )


def _newer_than(created_at: dt.datetime, pk: int) -> Q:
    return Q(created_at__gte=created_at) & (
        Q(created_at__gt=created_at) | Q(created_at=created_at, pk__gt=pk)
    )


def page(
    workspace: Workspace,
    filters: Filters,
    *,
    before: UUID | None = None,
    after: UUID | None = None,
    size: int = PAGE_SIZE,
) -> Page:
    """Return one page of records, newest first, older than `before` or newer than `after` (keyset)."""
    qs = records(workspace, filters).select_related("generation", "created_by")
    cursor = None
    if before or after:
        # A cursor from another workspace matches nothing here, so it falls back to the first page.
        cursor = (
            CostRecord.objects.for_workspace(workspace)
            .filter(code=before or after)
            .values_list("created_at", "pk")
            .first()
        )
    if cursor is None:
        found = list(qs.order_by(*NEWEST_FIRST)[: size + 1])
        has_newer, has_older = False, len(found) > size
        found = found[:size]
    elif before:
        found = list(qs.filter(_older_than(*cursor)).order_by(*NEWEST_FIRST)[: size + 1])
        has_older = len(found) > size
        found = found[:size]
        has_newer = qs.filter(~_older_than(*cursor)).exists()
    else:
        found = list(qs.filter(_newer_than(*cursor)).order_by(*OLDEST_FIRST)[: size + 1])
        has_newer = len(found) > size
        found = found[:size][::-1]
        has_older = qs.filter(~_newer_than(*cursor)).exists()
    return Page(
        rows=[_row(record) for record in found],
        newer=found[0].code if found and has_newer else None,
        older=found[-1].code if found and has_older else None,
    )


def recent_images(workspace: Workspace, limit: int = 12) -> list[GeneratedImage]:
    """Return the workspace's newest avatars with their generations (one query)."""
    return list(
        GeneratedImage.objects.for_workspace(workspace)
        .select_related("generation")
        .order_by("-created_at", "-pk")[:limit]
    )


# CSV


CSV_HEADER = (
    "time_utc",
    "generation",
    "member",
    "persona",
    "status",
    "provider",
    "model",
    "width",
    "height",
    "quality",
    "images",
    "input_tokens",
    "output_tokens",
    "megapixels",
    "quote_usd",
    "amount_usd",
    "unit_prices",
    "price_version",
    "provider_request_ids",
)

_CSV_FIELDS = (
    "created_at",
    "generation__code",
    "created_by__email",
    "generation__persona_name",
    "generation__status",
    "provider",
    "model",
    "generation__width",
    "generation__height",
    "generation__quality",
    "images",
    "usage",
    "generation__quote_nanousd",
    "amount_nanousd",
    "unit_prices",
    "price_version",
    "provider_request_ids",
)

# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
_FORMULA_STARTS = frozenset("=+-@\t\r")


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in _FORMULA_STARTS:
        return "'" + value
    return value


def csv_rows(workspace: Workspace, filters: Filters) -> Iterator[list[Any]]:
    """Yield the header, then one row per record, newest first, reading the database in chunks."""
    yield list(CSV_HEADER)
    qs = records(workspace, filters).order_by(*NEWEST_FIRST).values_list(*_CSV_FIELDS)
    for (
        created_at,
        generation,
        member,
        persona,
        status,
        provider,
        model,
        width,
        height,
        quality,
        images,
        usage,
        quote,
        amount,
        unit_prices,
        price_version,
        request_ids,
    ) in qs.iterator(chunk_size=2000):
        input_tokens, output_tokens = tokens(usage)
        row = [
            created_at.astimezone(dt.UTC).isoformat(),
            str(generation),
            member or "",
            persona,
            status,
            provider,
            model,
            width,
            height,
            quality,
            images,
            "" if input_tokens is None else input_tokens,
            "" if output_tokens is None else output_tokens,
            "" if megapixels(usage) is None else megapixels(usage),
            plain_usd(quote),
            plain_usd(amount),
            json.dumps(unit_prices, sort_keys=True, separators=(",", ":")),
            price_version,
            " ".join(str(rid) for rid in request_ids or []),
        ]
        yield [_cell(value) for value in row]

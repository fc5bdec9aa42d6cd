"""Records beside a report that lists requests (fal.ai): per request where the list covers the period, per day always.

fal lists every request of an endpoint with its id and status code, and reports billed units, unit
price and cost per day and endpoint. So:

1. Per request: a record of unknown amount (possibly charged, or billed but unreadable) whose request ids
   fal lists is resolved: a 2xx is billed (priced from its output size at the record's catalog prices),
   a 5xx is not (fal never bills server errors: $0). A 4xx (a refusal after the runner started) stays
   unknown: fal may or may not have billed the GPU time, and the list does not say. A request fal does
   not list never ran ($0) only when it has surely ended and would be listed: the generation was started
   inside the list's cover and recorded before its end (fal lists ended requests only, up to the settling
   delay before the list was read), and its request was not still running when we gave up on it (fal
   could not cancel it, or the worker stopped): otherwise it stays unknown.
2. Per day and endpoint: our records (resolved ones at their new amount) against fal's cost. A difference
   is explained by requests fal ran that we did not make (the same account used elsewhere), records still
   of unknown amount, or a price that differs from the catalog's (a price change).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from generation.models import ReconciliationLine
from generation.money import format_usd
from generation.pipeline import INTERRUPTED_CHARGE, OUR_ERROR_CHARGE
from generation.reconciliation import texts
from generation.reconciliation.lines import Line, Ours, Resolution
from providers.adapters.fal import NOT_CANCELLED, SUBMIT_UNANSWERED
from providers.usage import RequestLine, UsageReport

Kind = ReconciliationLine.Kind
ImageCost = Callable[[Ours], int]  # the cost of one of the record's images at its catalog prices


@dataclass
class Comparison:
    lines: list[Line] = field(default_factory=list)
    resolutions: list[Resolution] = field(default_factory=list)
    outside: int = 0


def _covered(report: UsageReport, when: dt.datetime) -> bool:
    cover = report.requests_cover
    return cover is not None and cover[0] <= when < cover[1]


# Reasons after which the request may still have been running at fal: it may end (and be listed) later.
MAY_STILL_RUN = (NOT_CANCELLED, INTERRUPTED_CHARGE, OUR_ERROR_CHARGE)


def _surely_ended_unlisted(record: Ours, report: UsageReport) -> bool:
    """Whether fal's list would show the record's requests if they ran: then an absent one never ran."""
    cover = report.requests_cover
    if cover is None or any(reason in record.reason for reason in MAY_STILL_RUN):
        return False
    # Sent no earlier than the generation started and no later than it was recorded: inside the cover.
    return cover[0] <= record.submitted_from and record.at < cover[1]


def unanswered(record: Ours) -> bool:
    """Whether a possibly billed record may hold a request fal ran that we have no id for.

    A submit sent and never answered leaves its slot without an id: fal may have run it, and it would
    show as a request AniAvatar did not make, so the listed ids are not the whole cost. The recorded
    reasons are each slot's; a slot missing its id (fewer ids than images asked) counts too.
    """
    return record.possible and (
        SUBMIT_UNANSWERED in record.reason or len(record.request_ids) < record.requested
    )


def settle(
    record: Ours, listed: dict[str, RequestLine], report: UsageReport, image_cost: ImageCost
) -> Resolution | None:
    """Return what fal's request list says of a record of unknown amount, or None if it cannot say."""
    if not record.unknown or not record.request_ids or unanswered(record):
        return None
    found = [listed.get(request_id) for request_id in record.request_ids]
    if any(line is None for line in found) and not _surely_ended_unlisted(record, report):
        return None
    present = [line for line in found if line is not None]
    if any(not (line.succeeded or line.server_error) for line in present):
        return None  # a refusal after the runner started: fal may have billed its GPU time
    billed = [line for line in present if line.succeeded]
    amount = len(billed) * image_cost(record)
    parts = []
    if billed:
        parts.append(texts.COMPLETED.format(len(billed)))
    failed = [line for line in present if line.server_error]
    if failed:
        parts.append(texts.SERVER_ERROR.format(len(failed)))
    missing = len(found) - len(present)
    if missing:
        parts.append(texts.NEVER_RAN.format(missing))
    note = f"{texts.REQUEST_LIST} {'; '.join(parts)}."
    return Resolution(record.pk, amount, bool(billed), note[:300])


def _request_line(record: Ours, resolution: Resolution) -> Line:
    line = Line(record.day, Kind.REQUEST, ", ".join(record.request_ids)[:200])
    line.add(record)
    line.theirs_requests = 1 if resolution.billed else 0
    line.theirs_nanousd = resolution.amount_nanousd
    resolved = texts.RESOLVED_BILLED if resolution.billed else texts.RESOLVED_NOT_BILLED
    line.reasons.append(f"{resolved.format(amount=format_usd(resolution.amount_nanousd))} {resolution.note}")
    return line


@dataclass
class _Theirs:
    cost: int = 0
    requests: int = 0
    prices: set[int] = field(default_factory=set)


def _prices_reason(theirs: _Theirs, catalog: int | None) -> str:
    changed = sorted(p for p in theirs.prices if catalog is not None and p != catalog)
    if not changed:
        return ""
    shown = ", ".join(format_usd(p) for p in changed)
    return texts.PRICE_CHANGE.format(amounts_list=shown, catalog=format_usd(catalog or 0))


def _day_reasons(
    line: Line, *, outside: int, no_id: int, resolved: int, price: str, covered: bool
) -> list[str]:
    reasons = []
    if outside:
        reasons.append(texts.FAL_OUTSIDE.format(outside))
    if no_id:
        reasons.append(texts.NO_ID.format(no_id))
    if line.ours_unknown:
        reasons.append(texts.STILL_UNKNOWN.format(line.ours_unknown))
    if price:
        reasons.append(price)
    if resolved:
        reasons.append(texts.RESOLVED_FROM_LIST.format(resolved))
    if not covered:
        reasons.append(texts.NOT_COVERED)
    if (line.difference_nanousd or 0) and not (outside or no_id or line.ours_unknown or price):
        reasons.append(texts.NOT_EXPLAINED)
    return reasons


def _theirs(report: UsageReport) -> dict[tuple[dt.date, str], _Theirs]:
    theirs: dict[tuple[dt.date, str], _Theirs] = defaultdict(_Theirs)
    for usage in report.usage:
        target = theirs[(usage.day, usage.model)]
        target.cost += usage.amount_nanousd or 0
        target.requests += usage.requests
        if usage.unit_price_nanousd is not None:
            target.prices.add(usage.unit_price_nanousd)
    return theirs


def _outside(report: UsageReport, ours: set[str]) -> dict[tuple[dt.date, str], int]:
    found: dict[tuple[dt.date, str], int] = defaultdict(int)
    for request in report.requests:
        if request.succeeded and request.ended_at is not None and request.request_id not in ours:
            found[(request.ended_at.date(), request.endpoint)] += 1
    return found


def day_lines(
    records: list[Ours], report: UsageReport, resolutions: dict[int, Resolution], catalog: dict[str, int]
) -> tuple[list[Line], int]:
    """Return per-day, per-endpoint money lines (resolved records at their new amount) and outside requests."""
    theirs = _theirs(report)
    outside = _outside(report, {rid for r in records for rid in r.request_ids})
    lines: dict[tuple[dt.date, str], Line] = {}
    no_id: dict[tuple[dt.date, str], int] = defaultdict(int)
    resolved: dict[tuple[dt.date, str], int] = defaultdict(int)
    for record in records:
        key = (record.day, record.model)
        line = lines.setdefault(key, Line(record.day, Kind.MONEY, record.model))
        settled = resolutions.get(record.pk)
        line.add(record if settled is None else _settled(record, settled.amount_nanousd))
        resolved[key] += settled is not None
        no_id[key] += record.unknown and unanswered(record)
    for key in theirs.keys() | outside.keys():
        lines.setdefault(key, Line(key[0], Kind.MONEY, key[1]))
    for key, line in lines.items():
        counted = theirs.get(key, _Theirs())
        line.theirs_nanousd, line.theirs_requests = counted.cost, counted.requests
        line.reasons = _day_reasons(
            line,
            outside=outside.get(key, 0),
            no_id=no_id[key],
            resolved=resolved[key],
            price=_prices_reason(counted, catalog.get(key[1])),
            covered=_covered(report, dt.datetime(key[0].year, key[0].month, key[0].day, 12, tzinfo=dt.UTC)),
        )
    return [lines[key] for key in sorted(lines)], sum(outside.values())


def _settled(record: Ours, amount: int) -> Ours:
    return dataclasses.replace(record, amount_nanousd=amount, possible=False)


def compare(
    records: list[Ours], report: UsageReport, *, image_cost: ImageCost, catalog: dict[str, int]
) -> Comparison:
    """Compare our fal records with fal's report (see the module doc); `catalog`: first-megapixel prices."""
    listed = {line.request_id: line for line in report.requests}
    resolutions = {}
    for record in records:
        resolution = settle(record, listed, report, image_cost)
        if resolution is not None:
            resolutions[record.pk] = resolution
    days, outside = day_lines(records, report, resolutions, catalog)
    by_pk = {record.pk: record for record in records}
    requests = [_request_line(by_pk[pk], resolution) for pk, resolution in resolutions.items()]
    return Comparison(days + requests, list(resolutions.values()), outside)

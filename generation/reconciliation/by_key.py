"""Records beside a report that counts per key (OpenAI's organisation report): key matching, counts per key,
money per day.

OpenAI reports money per day by line item and project, never by key, and counts images and requests
per `api_key_id` (its id of a key: the key itself is never in a report). So:

1. Each of our generation keys is matched to an `api_key_id`, explicitly: a match the owner chose is
   kept; otherwise the one id whose requests, on every UTC day we used the key, are at least our
   charged records that day (another key cannot have made our requests). None or several such ids: no
   match, and the page asks the owner to choose.
2. Counts per matched key and day: ours against OpenAI's; more at OpenAI are requests made with the same
   key outside AniAvatar (or possibly charged records that OpenAI did bill).
3. Money per day and model: our matched keys' records against the image line items of the projects those
   keys belong to. A difference is explained by the counts (outside requests, other keys in the same
   project), by our records of unknown amount, or else it is a price difference.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from generation.models import KeyMatch, ReconciliationLine
from generation.money import format_usd
from generation.reconciliation import texts
from generation.reconciliation.lines import Line, Ours
from providers.usage import UsageLine, UsageReport

Kind = ReconciliationLine.Kind


@dataclass(frozen=True)
class OurKey:
    pk: int
    label: str
    hint: str
    code: str = ""


@dataclass(frozen=True)
class Match:
    """How one of our keys was matched (or not) to an OpenAI api_key_id."""

    key: OurKey
    key_id: str  # "" when not matched
    how: str  # KeyMatch.How, or "" when not matched
    evidence: str
    candidates: tuple[str, ...] = ()

    def as_json(self, seen: list[str]) -> dict[str, object]:
        return {
            "key": self.key.pk,
            "key_code": self.key.code,
            "label": self.key.label,
            "hint": self.key.hint,
            "key_id": self.key_id,
            "how": self.how,
            "evidence": self.evidence,
            "candidates": list(self.candidates),
            "seen": seen,
        }


@dataclass
class Comparison:
    lines: list[Line] = field(default_factory=list)
    matches: list[Match] = field(default_factory=list)
    outside: int = 0  # requests made with our keys outside AniAvatar
    seen_key_ids: list[str] = field(default_factory=list)
    other_spend_nanousd: int = 0  # line items that are not image models we know (not compared)


Counts = dict[tuple[str, dt.date], list[int]]  # (api_key_id, day) → [requests, images]


def _their_counts(usage: Iterable[UsageLine]) -> Counts:
    counts: Counts = defaultdict(lambda: [0, 0])
    for line in usage:
        counts[(line.key_id, line.day)][0] += line.requests
        counts[(line.key_id, line.day)][1] += line.images
    return counts


def _charged_per_day(records: Iterable[Ours]) -> dict[dt.date, int]:
    days: dict[dt.date, int] = defaultdict(int)
    for record in records:
        if not record.possible:
            days[record.day] += 1
    return days


def _candidates(charged: dict[dt.date, int], theirs: Counts, ids: set[str], taken: set[str]) -> list[str]:
    """Return the ids whose requests cover our charged records on every day we used the key."""
    return sorted(
        key_id
        for key_id in ids - taken
        if charged and all(theirs.get((key_id, day), [0])[0] >= count for day, count in charged.items())
    )


def match_keys(
    keys: dict[int, OurKey], records: list[Ours], theirs: Counts, stored: dict[int, tuple[str, str]]
) -> list[Match]:
    """Return the match of each of our keys used in the period (owner choices kept, see the module doc)."""
    ids = {key_id for key_id, _day in theirs if key_id}
    by_key: dict[int, list[Ours]] = defaultdict(list)
    for record in records:
        if record.key_pk is not None:
            by_key[record.key_pk].append(record)
    owned = {key_id for key_id, how in stored.values() if how == KeyMatch.How.OWNER}
    matches = []
    for pk in sorted(
        set(by_key) | set(keys) | {pk for pk, (_id, how) in stored.items() if how == KeyMatch.How.OWNER}
    ):
        key = keys.get(pk) or OurKey(pk, texts.DELETED_KEY, "")
        stored_id, how = stored.get(pk, ("", ""))
        if how == KeyMatch.How.OWNER:
            matches.append(Match(key, stored_id, how, texts.CHOSEN_BY_OWNER))
            continue
        charged = _charged_per_day(by_key.get(pk, []))
        if not charged:
            evidence = texts.KEPT if stored_id else texts.NOTHING_TO_MATCH
            matches.append(Match(key, stored_id, how, evidence))
            continue
        found = _candidates(charged, theirs, ids, owned)
        if len(found) == 1:
            evidence = texts.ONLY_FIT.format(len(charged))
            matches.append(Match(key, found[0], KeyMatch.How.COUNTS, evidence, tuple(found)))
        elif stored_id in found:
            matches.append(Match(key, stored_id, how, texts.STILL_FITS, tuple(found)))
        else:
            why = texts.SEVERAL_FIT if found else texts.NONE_FITS
            matches.append(Match(key, "", "", why, tuple(found)))
    return matches


def _count_line(match: Match, day: dt.date, records: list[Ours], theirs: list[int] | None) -> Line:
    line = Line(day, Kind.COUNTS, f"{match.key.label} ({match.key.hint})")
    for record in records:
        line.add(record)
    possible = sum(1 for r in records if r.possible)
    if theirs is not None:
        line.theirs_requests, line.theirs_images = theirs
    extra = (line.theirs_requests or 0) - (line.ours_requests - possible)
    if theirs is None:
        line.reasons.append(match.evidence)
    elif extra > possible:
        outside = extra - possible
        line.reasons.append(texts.OUTSIDE_WITH_KEY.format(outside))
    if theirs is not None and possible:
        billed = max(0, min(extra, possible))
        line.reasons.append(texts.POSSIBLE_ROOM.format(possible, billed=billed))
    if theirs is not None and extra < 0:
        line.reasons.append(texts.FEWER_AT_OPENAI)
    return line


def count_lines(matches: list[Match], records: list[Ours], theirs: Counts) -> tuple[list[Line], int]:
    """Return the per-key, per-day count lines and the requests made outside AniAvatar."""
    lines, outside = [], 0
    for match in matches:
        mine = [r for r in records if r.key_pk == match.key.pk]
        days = {r.day for r in mine} | (
            {day for key_id, day in theirs if key_id == match.key_id} if match.key_id else set()
        )
        for day in sorted(days):
            today = [r for r in mine if r.day == day]
            counted = theirs.get((match.key_id, day)) if match.key_id else None
            line = _count_line(match, day, today, counted or ([0, 0] if match.key_id else None))
            outside += max(0, (line.theirs_requests or 0) - line.ours_requests)
            lines.append(line)
    return lines, outside


def model_of(line_item: str, models: Iterable[str]) -> str:
    """Return the catalog model a cost line item is about ("gpt-image-2, output" → "gpt-image-2"), or ""."""
    item = line_item.lower().strip()
    for model in sorted(models, key=len, reverse=True):
        if item == model or item.startswith((f"{model},", f"{model} ")):
            return model
    return ""


@dataclass
class _Day:
    """What OpenAI counted on one day for one model, split by whose key made it."""

    ours: int = 0  # requests by our matched keys
    others: int = 0  # requests by other keys in the same projects


def _money_reasons(line: Line, mine: int, counted: _Day) -> list[str]:
    """Return the likely reasons for a money line's difference; `mine` counts our charged records."""
    reasons = []
    extra = counted.ours - mine  # requests OpenAI counted on our keys beyond our charged records
    outside = max(0, extra - line.ours_unknown)
    if outside:
        reasons.append(texts.OUTSIDE_WITH_OUR_KEYS.format(outside))
    if counted.others:
        reasons.append(texts.OTHER_KEYS.format(counted.others))
    if line.ours_unknown:
        billed = max(0, min(extra, line.ours_unknown))
        reasons.append(texts.UNKNOWN_ROOM.format(line.ours_unknown, billed=billed))
    difference = line.difference_nanousd or 0
    if difference and not reasons:
        sentence = texts.BILLED_MORE if difference > 0 else texts.BILLED_LESS
        reasons.append(sentence.format(amount=format_usd(abs(difference))))
    return reasons


def _their_money(
    report: UsageReport, models: set[str], projects: set[str]
) -> tuple[dict[tuple[dt.date, str], Line], int]:
    """Return OpenAI's money per (day, model) for the projects (all when none), and the rest's total."""
    lines: dict[tuple[dt.date, str], Line] = {}
    other = 0
    for cost in report.costs:
        model = model_of(cost.line_item, models)
        if not model or (projects and cost.project_id not in projects):
            other += cost.amount_nanousd
            continue
        line = lines.setdefault((cost.day, model), Line(cost.day, Kind.MONEY, model, theirs_nanousd=0))
        line.theirs_nanousd = (line.theirs_nanousd or 0) + cost.amount_nanousd
    return lines, other


def _their_requests(
    report: UsageReport, projects: set[str], matched: set[str]
) -> dict[tuple[dt.date, str], _Day]:
    """Return OpenAI's requests per (day, model) in the projects, split into our keys' and other keys'."""
    counted: dict[tuple[dt.date, str], _Day] = defaultdict(_Day)
    for usage in report.usage:
        if projects and usage.project_id not in projects:
            continue
        target = counted[(usage.day, usage.model)]
        if usage.key_id in matched:
            target.ours += usage.requests
        else:
            target.others += usage.requests
    return counted


def money_lines(
    records: list[Ours], report: UsageReport, matches: list[Match], models: set[str]
) -> tuple[list[Line], int]:
    """Return per-day, per-model money lines for our matched keys' projects, and spend not compared."""
    matched = {m.key_id: m.key.pk for m in matches if m.key_id}
    projects = {u.project_id for u in report.usage if u.key_id in matched}
    our_pks = set(matched.values())
    lines, other = _their_money(report, models, projects)
    counted = _their_requests(report, projects, set(matched))
    mine: dict[tuple[dt.date, str], int] = defaultdict(int)
    for record in records:
        if our_pks and record.key_pk not in our_pks:
            continue
        key = (record.day, record.model)
        lines.setdefault(key, Line(record.day, Kind.MONEY, record.model, theirs_nanousd=0)).add(record)
        mine[key] += 0 if record.possible else 1
    for key, line in lines.items():
        line.theirs_requests = counted[key].ours + counted[key].others
        line.reasons = _money_reasons(line, mine[key], counted[key])
    return [lines[key] for key in sorted(lines)], other


def compare(
    records: list[Ours],
    report: UsageReport,
    *,
    keys: dict[int, OurKey],
    stored: dict[int, tuple[str, str]],
    models: set[str],
) -> Comparison:
    """Compare our OpenAI records with OpenAI's report for the same UTC days (see the module doc)."""
    theirs = _their_counts(report.usage)
    matches = match_keys(keys, records, theirs, stored)
    counts, outside = count_lines(matches, records, theirs)
    money, other = money_lines(records, report, matches, models)
    seen = sorted({key_id for key_id, _day in theirs if key_id})
    return Comparison(money + counts, matches, outside, seen, other)

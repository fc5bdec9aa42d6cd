"""When fal's request list may settle an unknown amount, and when it must not (the record stays unknown).

fal lists only requests that have ended; a request still running, one that ended before the period, or
a submit never answered (no request id) must never be settled from the list as "never ran" or as exact.
"""

from __future__ import annotations

import datetime as dt

import pytest

from generation import catalog, pipeline
from generation.models import CostRecord, Generation
from generation.reconciliation import by_request
from generation.reconciliation.lines import our_records
from providers.adapters import fal
from providers.usage import RequestLine, UsageReport
from tests.support.accounts import workspace_of
from tests.support.generation import start
from tests.support.keys import make_key

pytestmark = pytest.mark.django_db

FLUX = "fal-ai/flux-2-max"
DECEMBER = (dt.date(2026, 12, 1), dt.date(2027, 1, 1))
IMAGE = 70_000_000


def at(day: int, hour: int = 10, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 12, day, hour, minute, tzinfo=dt.UTC)


def _record(alice, *, submitted: dt.datetime, written: dt.datetime, reason: str, ids: list[str], n: int = 1):
    generation = start(alice, make_key(alice, "fal"), FLUX, size="1024x1024", n=n)
    Generation.objects.filter(pk=generation.pk).update(
        status=Generation.Status.FAILED, started_at=submitted, created_at=submitted
    )
    model = catalog.load().get(FLUX)
    record = CostRecord.objects.create(
        workspace=generation.workspace,
        generation=generation,
        provider="fal",
        model=FLUX,
        unit_prices=model.price,
        price_version="test",
        amount_nanousd=None,
        provider_request_ids=ids,
        charge=CostRecord.Charge.POSSIBLE,
        unknown_reason=reason,
    )
    CostRecord.objects.filter(pk=record.pk).update(created_at=written)
    return record


def _report(listed: list[RequestLine], cover_end: dt.datetime | None = None) -> UsageReport:
    report = UsageReport(start=DECEMBER[0], end=DECEMBER[1], requests=listed)
    begin = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    report.requests_cover = (begin, cover_end or dt.datetime(2027, 1, 1, tzinfo=dt.UTC))
    return report


def _compare(alice, report: UsageReport) -> by_request.Comparison:
    records = our_records(workspace_of(alice), "fal", *DECEMBER)
    return by_request.compare(records, report, image_cost=lambda record: IMAGE, catalog={FLUX: IMAGE})


def _done(request_id: str, status: int = 200) -> RequestLine:
    return RequestLine(request_id, FLUX, at(5, 10, 1), status)


# Finding 1: "never ran" only for a request that has surely ended and was sent inside the covered window.


def test_a_request_fal_could_not_cancel_is_never_settled_as_never_ran(alice):
    _record(alice, submitted=at(5), written=at(5, 10, 5), reason=fal.NOT_CANCELLED, ids=["req-running"])
    assert _compare(alice, _report([])).resolutions == []


def test_an_interrupted_request_is_never_settled_as_never_ran(alice):
    _record(
        alice, submitted=at(5), written=at(5, 11), reason=pipeline.INTERRUPTED_CHARGE, ids=["req-running"]
    )
    assert _compare(alice, _report([])).resolutions == []


def test_a_request_sent_before_the_period_is_not_settled_as_never_ran(alice):
    # Sent on 30 November, its record written on 1 December: fal lists it under November, if at all.
    _record(
        alice,
        submitted=dt.datetime(2026, 11, 30, 23, 50, tzinfo=dt.UTC),
        written=at(1, 0, 10),
        reason=fal.REFUSED_AFTER_START,
        ids=["req-november"],
    )
    assert _compare(alice, _report([])).resolutions == []


def test_a_request_too_recent_for_the_list_is_not_settled_as_never_ran(alice):
    _record(alice, submitted=at(5), written=at(5, 10, 5), reason=fal.REFUSED_AFTER_START, ids=["req-new"])
    assert _compare(alice, _report([], cover_end=at(5, 10))).resolutions == []


def test_a_finished_request_fal_does_not_list_inside_the_window_never_ran(alice):
    record = _record(alice, submitted=at(5), written=at(5, 10, 5), reason=fal.REFUSED_AFTER_START, ids=["r"])
    (resolution,) = _compare(alice, _report([], cover_end=at(6))).resolutions
    assert (resolution.record_pk, resolution.amount_nanousd, resolution.billed) == (record.pk, 0, False)


def test_the_adapter_covers_only_requests_ended_an_hour_before_the_report(monkeypatch):
    monkeypatch.setattr(fal.fal_platform, "usage", lambda *a, **k: ([], 0))
    monkeypatch.setattr(fal.fal_platform, "pricing", lambda *a, **k: ([], 0))
    monkeypatch.setattr(fal.fal_platform, "requests", lambda *a, **k: ([], 0))
    monkeypatch.setattr(fal, "_now", lambda: at(17, 9, 30), raising=False)
    report = fal.ADAPTER.usage_report("id:secret", start=DECEMBER[0], end=DECEMBER[1], models=[FLUX])
    assert report.requests_cover == (dt.datetime(2026, 12, 1, tzinfo=dt.UTC), at(17, 8, 30))
    # A past period ends at its own end.
    monkeypatch.setattr(fal, "_now", lambda: dt.datetime(2027, 2, 1, tzinfo=dt.UTC), raising=False)
    report = fal.ADAPTER.usage_report("id:secret", start=DECEMBER[0], end=DECEMBER[1], models=[FLUX])
    assert report.requests_cover == (
        dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
        dt.datetime(2027, 1, 1, tzinfo=dt.UTC),
    )


# Finding 2: a possibly billed slot without a request id: the listed ids are not the whole story.


def test_a_generation_with_an_unanswered_submit_is_not_settled_from_its_listed_ids(alice):
    # Two images: one request answered (fal ran it), one submit never answered (no id).
    _record(alice, submitted=at(5), written=at(5, 10, 5), reason=fal.SUBMIT_UNANSWERED, ids=["a"], n=2)
    comparison = _compare(alice, _report([_done("a")], cover_end=at(6)))
    assert comparison.resolutions == []
    (line,) = [line for line in comparison.lines if line.kind == "money"]
    reason = " ".join(line.reasons)
    assert line.ours_unknown == 1 and "no request id" in reason and "kept unknown" in reason


def test_a_slot_without_an_id_is_seen_even_when_another_reason_was_recorded(alice):
    # The recorded reason is the last slot's; the missing id shows that a slot was never answered.
    _record(alice, submitted=at(5), written=at(5, 10, 5), reason=fal.NOT_CANCELLED, ids=["a"], n=2)
    assert _compare(alice, _report([_done("a")], cover_end=at(6))).resolutions == []

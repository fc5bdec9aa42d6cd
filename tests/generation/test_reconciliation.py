"""A month reconciled with the provider double's books: outside requests, unknown amounts, a price change.

Generations run through the real pipeline against the double over loopback; the double bills them at its
own prices on its own clock (set per day here) and serves the admin reports from that ledger. Our records
are moved to the same UTC days (and the roll-ups rebuilt), so nothing depends on the wall clock.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db.models import Sum

from generation import pipeline, tasks
from generation.models import CostRecord, Generation, KeyMatch, Reconciliation, UsageMonth
from generation.reconciliation import service
from generation.usage.roll_ups import rebuild_roll_ups
from keys import services as vault
from keys.models import KeyUse, ProviderKey
from provider_double.ledger import api_key_id
from providers import fal_queue
from providers.adapters import fal
from providers.base import ImageRequest
from tests.support.accounts import workspace_of
from tests.support.generation import start
from tests.support.keys import FAL_KEY, OPENAI_KEY, make_key

pytestmark = pytest.mark.django_db

FAL_ADMIN = "admin-5d1c2b3a-7e6f-4a09-8b1c-2d3e4f5a6b7c:0a1b2c3d4e5f60718293a4b5c6d7e8f9"
OPENAI_ADMIN = "sk-admin-ReconTestAdminKey0123456789abcdefghijklmnopqrstuv"
OTHER_OPENAI = "sk-proj-AnotherKeyOfTheSameProject0123456789abcdefghijklm"
DECEMBER = (dt.date(2026, 12, 1), dt.date(2027, 1, 1))
FLUX = "fal-ai/flux-2-max"


def at(day: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(2026, 12, day, hour, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _fast(settings, tmp_path, monkeypatch):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PROVIDER_TIMEOUT_SECONDS = 1
    monkeypatch.setattr(pipeline.time, "sleep", lambda seconds: None)
    # fal's request list covers requests that ended up to an hour before it was read: read it after December.
    monkeypatch.setattr(fal, "_now", lambda: dt.datetime(2027, 1, 2, tzinfo=dt.UTC))


def _on(double, day: int, generation: Generation) -> Generation:
    """Run a generation with the double's clock on `day`, and record it on that UTC day."""
    double.clock = lambda: at(day)
    pipeline.run_generation(generation.pk)
    CostRecord.objects.filter(generation=generation).update(created_at=at(day, 11))
    generation.refresh_from_db()
    return generation


def _crashed_after_submit(user, key: ProviderKey, double, day: int, fault: str | None = None) -> Generation:
    """A fal generation whose worker died after fal queued its request, failed by the sweep hours later."""
    double.clock = lambda: at(day)
    if fault:
        double.script("fal", [fault])
    generation = start(user, key, FLUX, size="1024x1024")
    request = ImageRequest(
        model=FLUX, prompt=generation.prompt, width=1024, height=1024, output_format="jpeg"
    )
    handle = fal_queue.submit(FAL_KEY, FLUX, request)
    long_ago = at(day, 3)
    Generation.objects.filter(pk=generation.pk).update(
        status=Generation.Status.RUNNING,
        attempts=1,
        provider_requests=[{"slot": 0, "request_id": handle.request_id}],
        lease_expires_at=long_ago,
        created_at=long_ago,
    )
    pipeline.sweep_stale_generations(now=at(day, 11))
    CostRecord.objects.filter(generation=generation).update(created_at=at(day, 11))
    generation.refresh_from_db()
    return generation


def _line(run: Reconciliation, day: int, kind: str = "money", subject: str | None = None):
    lines = run.lines.filter(day=dt.date(2026, 12, day), kind=kind)
    if subject is not None:
        lines = lines.filter(subject=subject)
    (line,) = lines
    return line


def _roll_ups_match_records(workspace) -> None:
    records = CostRecord.objects.for_workspace(workspace)
    rolled = UsageMonth.objects.for_workspace(workspace)
    assert rolled.aggregate(s=Sum("amount_nanousd"))["s"] == records.aggregate(s=Sum("amount_nanousd"))["s"]
    assert rolled.aggregate(s=Sum("unknown"))["s"] == records.filter(amount_nanousd__isnull=True).count()


def test_a_fal_month_with_outside_requests_unknown_amounts_and_a_price_change(alice, double):
    workspace = workspace_of(alice)
    key = make_key(alice, "fal")
    usage_key = vault.add_usage_key(
        workspace=workspace, user=alice, provider="fal", label="fal usage", secret=FAL_ADMIN
    )
    assert usage_key.status == ProviderKey.Status.VALID

    # 3 Dec: one generation, and one request made with the same account outside AniAvatar.
    assert _on(double, 3, start(alice, key, FLUX, size="1024x1024")).status == "succeeded"
    double.bill_outside("fal", FAL_KEY, FLUX, when=at(3, 15))
    # 5 Dec: a worker crash after fal queued the request, which fal then ran (billed): possibly charged.
    crashed_billed = _crashed_after_submit(alice, key, double, 5)
    # 6 Dec: the same, but the request failed at fal with a server error (fal never bills those).
    crashed_failed = _crashed_after_submit(alice, key, double, 6, fault="completed_error")
    # 8 Dec: a submit sent and never answered: no request id, so it cannot be matched per request.
    double.hang_seconds = 3
    double.script("fal", ["slow"])
    unanswered = _on(double, 8, start(alice, key, FLUX, size="1024x1024"))
    double.hang_seconds = 30
    # 10 Dec: fal raises its price; our catalog still says $0.07 for the first megapixel.
    double.set_fal_price(FLUX, first_megapixel=80_000_000, extra_megapixel=30_000_000)
    assert _on(double, 10, start(alice, key, FLUX, size="1024x1024")).status == "succeeded"
    rebuild_roll_ups(workspace)

    for generation in (crashed_billed, crashed_failed, unanswered):
        record = CostRecord.objects.get(generation=generation)
        assert record.charge == "possible" and record.amount_nanousd is None

    run = service.start_reconciliation(workspace, "fal", start=DECEMBER[0], end=DECEMBER[1], user=alice)
    service.run_reconciliation(run.pk)
    run.refresh_from_db()
    assert run.status == "done", run.message

    # Outside request: fal billed $0.14 on the 3rd, we recorded $0.07.
    line = _line(run, 3)
    assert (line.ours_nanousd, line.theirs_nanousd, line.difference_nanousd) == (
        70_000_000,
        140_000_000,
        70_000_000,
    )
    assert "1 request fal ran for this account that AniAvatar did not make" in line.reason
    # The crash fal ran: resolved to its figure, and the day matches.
    resolved = CostRecord.objects.get(generation=crashed_billed)
    assert (resolved.amount_nanousd, resolved.resolution) == (70_000_000, "billed")
    line = _line(run, 5)
    assert line.difference_nanousd == 0 and line.ours_unknown == 0
    assert "resolved from fal's request list" in line.reason
    # The crash fal failed with a 5xx: resolved to $0, not billed.
    not_billed = CostRecord.objects.get(generation=crashed_failed)
    assert (not_billed.amount_nanousd, not_billed.resolution) == (0, "not_billed")
    assert not_billed.amount_display == "$0.00 (not billed)"
    assert _line(run, 6).difference_nanousd == 0
    # The unanswered submit: still unknown; fal ran a request we hold no id for.
    line = _line(run, 8)
    assert (line.ours_nanousd, line.ours_unknown, line.theirs_nanousd) == (0, 1, 70_000_000)
    assert "no request id" in line.reason and "still of unknown amount" in line.reason
    assert CostRecord.objects.get(generation=unanswered).amount_nanousd is None
    # The price change: same request, a cent more at fal.
    line = _line(run, 10)
    assert (line.ours_nanousd, line.theirs_nanousd) == (70_000_000, 80_000_000)
    assert (
        "A price change: fal billed $0.08 per megapixel on this day; the catalog says $0.07." in line.reason
    )
    assert run.price_drift == [
        {"model": FLUX, "unit": "megapixels", "currency": "USD", "catalog": 70_000_000, "theirs": 80_000_000}
    ]
    # One line per resolved request; the totals and the roll-ups moved with the records.
    assert run.lines.filter(kind="request").count() == 2
    assert (run.resolved, run.outside_requests, run.ours_unknown) == (2, 2, 1)
    assert run.ours_nanousd == 4 * 70_000_000 - 70_000_000  # A, the resolved crash, F (the 6th is $0)
    assert run.theirs_nanousd == 70_000_000 * 4 + 80_000_000
    _roll_ups_match_records(workspace)
    # The usage key was decrypted once, for this reconciliation, and recorded.
    uses = KeyUse.objects.filter(key=usage_key)
    assert list(uses.values_list("purpose", "outcome")) == [("reconcile", "ok"), ("validate", "ok")]


def test_resolving_is_done_once_even_if_two_runs_read_the_same_report(alice, double):
    workspace = workspace_of(alice)
    key = make_key(alice, "fal")
    vault.add_usage_key(workspace=workspace, user=alice, provider="fal", label="usage", secret=FAL_ADMIN)
    _crashed_after_submit(alice, key, double, 5)
    rebuild_roll_ups(workspace)
    first = service.start_reconciliation(workspace, "fal", start=DECEMBER[0], end=DECEMBER[1])
    service.run_reconciliation(first.pk)
    second = service.start_reconciliation(workspace, "fal", start=DECEMBER[0], end=DECEMBER[1])
    service.run_reconciliation(second.pk)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.resolved, second.resolved) == (1, 0)
    _roll_ups_match_records(workspace)


def test_a_second_run_is_refused_while_one_is_running(alice, double):
    workspace = workspace_of(alice)
    vault.add_usage_key(workspace=workspace, user=alice, provider="fal", label="usage", secret=FAL_ADMIN)
    vault.add_usage_key(workspace=workspace, user=alice, provider="openai", label="org", secret=OPENAI_ADMIN)
    first = service.start_reconciliation(workspace, "fal", start=DECEMBER[0], end=DECEMBER[1])
    with pytest.raises(service.ReconciliationRefused, match="already running"):
        service.start_reconciliation(workspace, "fal", start=DECEMBER[0], end=DECEMBER[1])
    service.start_reconciliation(workspace, "openai", start=DECEMBER[0], end=DECEMBER[1])  # another provider
    # The daily task skips the busy provider rather than failing for every workspace.
    assert [run.provider for run in service.runs_to_start(at(17))] == []
    service.run_reconciliation(first.pk)
    service.start_reconciliation(workspace, "fal", start=DECEMBER[0], end=DECEMBER[1])  # done: allowed again


def test_a_redelivered_task_does_not_run_the_same_run_again(alice, double, monkeypatch):
    workspace = workspace_of(alice)
    vault.add_usage_key(workspace=workspace, user=alice, provider="fal", label="usage", secret=FAL_ADMIN)
    run = service.start_reconciliation(workspace, "fal", start=DECEMBER[0], end=DECEMBER[1])
    fetch, fetched = service._fetch, []

    def fetch_while_redelivered(*args, **kwargs):
        fetched.append(args[0].pk)
        if len(fetched) == 1:
            service.run_reconciliation(run.pk)  # the broker delivers the task again meanwhile
        return fetch(*args, **kwargs)

    monkeypatch.setattr(service, "_fetch", fetch_while_redelivered)
    service.run_reconciliation(run.pk)
    run.refresh_from_db()
    assert fetched == [run.pk] and run.status == "done"


def test_an_openai_month_matches_the_key_and_explains_each_difference(alice, double):
    workspace = workspace_of(alice)
    key = make_key(alice, "openai")
    vault.add_usage_key(workspace=workspace, user=alice, provider="openai", label="org", secret=OPENAI_ADMIN)

    # 2 Dec: two generations, and one request made with the same key by another tool.
    for _ in range(2):
        assert _on(double, 2, start(alice, key, "gpt-image-2", size="1024x1024")).status == "succeeded"
    double.bill_outside("openai", OPENAI_KEY, "gpt-image-2", when=at(2, 16))
    # 4 Dec: one generation; another key of the same OpenAI project makes a request too.
    assert _on(double, 4, start(alice, key, "gpt-image-2", size="1024x1024")).status == "succeeded"
    double.bill_outside("openai", OTHER_OPENAI, "gpt-image-2", when=at(4, 9))
    # 6 Dec: a request sent and never answered: possibly charged here, billed at OpenAI.
    double.hang_seconds = 3
    double.script("openai", ["slow"])
    possibly = _on(double, 6, start(alice, key, "gpt-image-2", size="1024x1024"))
    double.hang_seconds = 30
    assert CostRecord.objects.get(generation=possibly).charge == "possible"
    rebuild_roll_ups(workspace)

    run = service.start_reconciliation(workspace, "openai", start=DECEMBER[0], end=DECEMBER[1])
    service.run_reconciliation(run.pk)
    run.refresh_from_db()
    assert run.status == "done", run.message

    # The key is matched by counts to the one api_key_id that covers our requests every day.
    (match,) = run.key_matches
    assert match["key_id"] == api_key_id(OPENAI_KEY) and match["how"] == "counts"
    assert set(match["seen"]) == {api_key_id(OPENAI_KEY), api_key_id(OTHER_OPENAI)}
    assert KeyMatch.objects.get(key=key).provider_key_id == api_key_id(OPENAI_KEY)

    label = f"{key.label} ({key.hint})"
    counts = _line(run, 2, "counts", label)
    assert (counts.ours_requests, counts.theirs_requests) == (2, 3)
    assert "1 request made with this key outside AniAvatar" in counts.reason
    money = _line(run, 2, subject="gpt-image-2")
    per_request = CostRecord.objects.filter(
        generation__in=Generation.objects.filter(status="succeeded")
    ).first()
    assert money.ours_nanousd == 2 * per_request.amount_nanousd
    assert money.difference_nanousd > 0 and "made with our keys outside AniAvatar" in money.reason
    money = _line(run, 4, subject="gpt-image-2")
    assert "1 request by other keys of the same OpenAI project" in money.reason
    assert _line(run, 4, "counts", label).request_difference == 0
    money = _line(run, 6, subject="gpt-image-2")
    assert (money.ours_nanousd, money.ours_unknown) == (0, 1) and money.theirs_nanousd > 0
    assert "room for 1 of them to have been billed" in money.reason
    assert run.outside_requests == 1


def test_the_owner_chooses_the_key_id_when_the_counts_cannot(alice, double):
    workspace = workspace_of(alice)
    key = make_key(alice, "openai")
    vault.add_usage_key(workspace=workspace, user=alice, provider="openai", label="org", secret=OPENAI_ADMIN)
    _on(double, 2, start(alice, key, "gpt-image-2", size="1024x1024"))
    # Another key made as many requests the same day: both ids fit.
    double.bill_outside("openai", OTHER_OPENAI, "gpt-image-2", when=at(2, 9))
    rebuild_roll_ups(workspace)
    run = service.start_reconciliation(workspace, "openai", start=DECEMBER[0], end=DECEMBER[1])
    service.run_reconciliation(run.pk)
    run.refresh_from_db()
    (match,) = run.key_matches
    assert match["key_id"] == "" and "several key ids fit" in match["evidence"]

    service.set_key_match(workspace, key, api_key_id(OPENAI_KEY), provider="openai")
    again = service.start_reconciliation(workspace, "openai", start=DECEMBER[0], end=DECEMBER[1])
    service.run_reconciliation(again.pk)
    again.refresh_from_db()
    (match,) = again.key_matches
    assert (match["key_id"], match["how"]) == (api_key_id(OPENAI_KEY), "owner")
    assert _line(again, 2, "counts", f"{key.label} ({key.hint})").request_difference == 0


def test_a_rejected_usage_key_fails_the_run_with_a_clean_message_and_is_marked(alice, double):
    workspace = workspace_of(alice)
    usage_key = vault.add_usage_key(
        workspace=workspace, user=alice, provider="openai", label="org", secret=OPENAI_ADMIN
    )
    # Revoked at OpenAI since it was saved: the double refuses a key that ends __invalid_key.
    revoked = f"{OPENAI_ADMIN}__invalid_key"
    vault.seal(usage_key, revoked)
    usage_key.save()
    run = service.start_reconciliation(workspace, "openai", start=DECEMBER[0], end=DECEMBER[1])
    service.run_reconciliation(run.pk)
    run.refresh_from_db()
    usage_key.refresh_from_db()
    assert run.status == "failed" and "401" in run.message
    assert "sk-admin" not in run.message and revoked[-12:] not in run.message
    assert usage_key.status == ProviderKey.Status.INVALID


def test_without_a_usage_key_no_run_starts(alice):
    with pytest.raises(service.ReconciliationRefused):
        service.start_reconciliation(workspace_of(alice), "fal", start=DECEMBER[0], end=DECEMBER[1])


def test_the_default_period_is_the_utc_month_so_far():
    assert service.default_period(dt.datetime(2026, 12, 17, 23, 30, tzinfo=dt.UTC)) == (
        dt.date(2026, 12, 1),
        dt.date(2026, 12, 18),
    )
    # 00:30 on the 1st in UTC+2 is still the 30th of November in UTC.
    plus_two = dt.timezone(dt.timedelta(hours=2))
    assert service.default_period(dt.datetime(2026, 12, 1, 0, 30, tzinfo=plus_two)) == (
        dt.date(2026, 11, 1),
        dt.date(2026, 12, 1),
    )


def test_the_daily_run_on_the_first_also_covers_the_last_day_of_the_previous_month(alice, double):
    # The daily task runs at 01:30 UTC: on the 1st, the month that just ended had ~22.5 h not yet compared.
    first = dt.datetime(2027, 1, 1, 1, 30, tzinfo=dt.UTC)
    assert service.default_period(first) == (dt.date(2026, 12, 1), dt.date(2027, 1, 2))
    assert service.default_period(dt.datetime(2027, 1, 2, 1, 30, tzinfo=dt.UTC)) == (
        dt.date(2027, 1, 1),
        dt.date(2027, 1, 3),
    )
    workspace = workspace_of(alice)
    vault.add_usage_key(workspace=workspace, user=alice, provider="fal", label="usage", secret=FAL_ADMIN)
    (run,) = service.runs_to_start(first)
    assert (run.start, run.end) == (dt.date(2026, 12, 1), dt.date(2027, 1, 2))


def test_a_run_whose_worker_vanished_is_failed_by_the_sweep_not_left_running(alice, double):
    workspace = workspace_of(alice)
    vault.add_usage_key(workspace=workspace, user=alice, provider="openai", label="org", secret=OPENAI_ADMIN)
    run = service.start_reconciliation(workspace, "openai", start=DECEMBER[0], end=DECEMBER[1])
    assert tasks.sweep_stale_reconciliations(now=run.created_at + dt.timedelta(minutes=59)) == 0
    assert tasks.sweep_stale_reconciliations(now=run.created_at + dt.timedelta(hours=2)) == 1
    run.refresh_from_db()
    assert run.status == "failed" and "Run it again" in run.message


def test_an_unexpected_error_ends_the_run_as_failed(alice, double, monkeypatch):
    workspace = workspace_of(alice)
    vault.add_usage_key(workspace=workspace, user=alice, provider="openai", label="org", secret=OPENAI_ADMIN)
    run = service.start_reconciliation(workspace, "openai", start=DECEMBER[0], end=DECEMBER[1])

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(service, "_compare_by_key", broken)
    tasks.reconcile(run.pk)
    run.refresh_from_db()
    assert run.status == "failed" and "on our side" in run.message


def test_a_key_of_another_provider_cannot_be_matched(alice, double):
    workspace = workspace_of(alice)
    fal_key = make_key(alice, "fal")
    with pytest.raises(service.ReconciliationRefused):
        service.set_key_match(workspace, fal_key, api_key_id(OPENAI_KEY), provider="openai")
    assert not KeyMatch.objects.exists()

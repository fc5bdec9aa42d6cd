"""A reconciliation run: the provider's report for a period beside our ledger, stored with its lines.

`start_reconciliation` (the "Reconcile now" button, the daily task) creates the run; the Celery task
`reconcile` runs `run_reconciliation`, the only place a usage key is decrypted (through the vault, as a
recorded KeyUse). Unknown amounts the report settles are resolved in the same transaction that stores
the run: the record's amount and its month's roll-up change together.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

import providers
from accounts.models import User, Workspace
from generation import catalog
from generation.dates import month_start, show_day, utc_now
from generation.models import CostRecord, KeyMatch, Reconciliation, ReconciliationLine
from generation.money import format_usd
from generation.reconciliation import by_key, by_request, texts
from generation.reconciliation.lines import Line, Ours, Resolution, our_records
from generation.reconciliation.prices import compare_prices
from generation.usage.roll_ups import settle_unknown
from keys import services as vault
from keys.models import ProviderKey
from providers.adapter import Adapter
from providers.base import ErrorKind, ProviderError, sanitize
from providers.usage import UsageReport

logger = logging.getLogger(__name__)

MAX_DAYS = 93  # a quarter at most per run: the providers page daily buckets


class ReconciliationRefused(Exception):
    """A run cannot start (no usage key, a bad period); the message says why."""


def default_period(now: dt.datetime | None = None) -> tuple[dt.date, dt.date]:
    """Return the UTC days [first of yesterday's month, tomorrow): the month so far, and on the 1st the
    previous month too, whose last hours the daily run (01:30 UTC) of its last day could not yet see."""
    now = now or utc_now()
    return month_start(now - dt.timedelta(days=1)).date(), now.astimezone(dt.UTC).date() + dt.timedelta(
        days=1
    )


def usage_key_for(workspace: Workspace, provider: str) -> ProviderKey | None:
    return (
        ProviderKey.objects.for_workspace(workspace)
        .filter(provider=provider, kind=ProviderKey.Kind.USAGE)
        .select_related("workspace")
        .first()
    )


def reconcilable_providers(workspace: Workspace) -> list[str]:
    """Return the providers for which the workspace has a usage key, in the registry's order."""
    have = set(
        ProviderKey.objects.for_workspace(workspace)
        .filter(kind=ProviderKey.Kind.USAGE)
        .values_list("provider", flat=True)
    )
    return [name for name in providers.names() if name in have]


def start_reconciliation(
    workspace: Workspace, provider: str, *, start: dt.date, end: dt.date, user: User | None = None
) -> Reconciliation:
    """Create a run for the UTC days [start, end); the caller enqueues `tasks.reconcile` on commit."""
    if not start < end or (end - start).days > MAX_DAYS:
        raise ReconciliationRefused(_("Choose a period of 1 to %(max)d UTC days.") % {"max": MAX_DAYS})
    key = usage_key_for(workspace, provider)
    if key is None:
        raise ReconciliationRefused(_("Add a usage key for this provider first (API keys → Usage reports)."))
    with transaction.atomic():
        # The usage key's row serializes two starts at once (PostgreSQL); one running run at a time.
        ProviderKey.objects.select_for_update().filter(pk=key.pk).first()
        if _running(workspace, provider).exists():
            raise ReconciliationRefused(
                _("A reconciliation with this provider is already running: wait for it to finish.")
            )
        return Reconciliation.objects.create(
            workspace=workspace, created_by=user, provider=provider, usage_key=key, start=start, end=end
        )


def _running(workspace: Workspace, provider: str) -> QuerySet[Reconciliation]:
    """The workspace's runs with a provider that are running (one whose worker vanished is not)."""
    return Reconciliation.objects.for_workspace(workspace).filter(
        provider=provider,
        status=Reconciliation.Status.RUNNING,
        created_at__gte=timezone.now() - STALE_AFTER,
    )


@sensitive_variables()
def _fetch(run: Reconciliation, key: ProviderKey, adapter: Adapter, models: list[str]) -> UsageReport:
    """Decrypt the usage key (recorded) and read the provider's report; the key lives only in this frame."""
    secret = vault.decrypt_usage_key(
        key, detail=f"Reconciliation of {show_day(run.start)} to {show_day(run.last_day)}"
    )
    return adapter.usage_report(secret, start=run.start, end=run.end, models=models)


def _fail(run: Reconciliation, message: str) -> Reconciliation:
    run.status, run.message, run.finished_at = Reconciliation.Status.FAILED, sanitize(message), timezone.now()
    run.save(update_fields=["status", "message", "finished_at"])
    logger.info("reconciliation %s failed: %s", run.code, run.message)
    return run


STALE_AFTER = dt.timedelta(hours=1)  # a run takes seconds; one still running after this lost its worker
UNFINISHED_MESSAGE = texts.UNFINISHED


def fail_unfinished(reconciliation_id: int, message: str = UNFINISHED_MESSAGE) -> None:
    """End a run that is still running with `message` (its task failed unexpectedly)."""
    run = Reconciliation.objects.filter(pk=reconciliation_id, status=Reconciliation.Status.RUNNING).first()
    if run is not None:
        _fail(run, message)


def sweep_stale_runs(*, now: dt.datetime | None = None) -> int:
    """Fail runs whose worker vanished, so no run says "running" forever; return how many."""
    cut_off = (now or timezone.now()) - STALE_AFTER
    stale = Reconciliation.objects.filter(status=Reconciliation.Status.RUNNING, created_at__lt=cut_off)
    return stale.update(
        status=Reconciliation.Status.FAILED, message=UNFINISHED_MESSAGE, finished_at=now or timezone.now()
    )


def run_reconciliation(reconciliation_id: int) -> Reconciliation | None:
    """Carry out a run (the Celery task's body): fetch, compare, store, resolve."""
    run = (
        Reconciliation.objects.select_related("workspace", "usage_key__workspace")
        .filter(pk=reconciliation_id)
        .first()
    )
    if run is None or run.status != Reconciliation.Status.RUNNING:
        return run
    claimed = Reconciliation.objects.filter(
        pk=run.pk, status=Reconciliation.Status.RUNNING, claimed_at__isnull=True
    ).update(claimed_at=timezone.now())
    if not claimed:
        return run  # a redelivered task: another worker has it (or had it: the sweep fails it if it vanished)
    key = run.usage_key
    if key is None:
        return _fail(run, texts.KEY_DELETED)
    adapter = providers.get(run.provider)
    models = [m.id for m in catalog.load().models.values() if m.provider == run.provider]
    try:
        report = _fetch(run, key, adapter, models)
    except vault.KeyUnavailable as exc:
        return _fail(run, exc.message)
    except ProviderError as exc:
        rejected = exc.kind in (ErrorKind.INVALID_KEY, ErrorKind.FORBIDDEN)
        vault.settle_usage_key(key, ok=False, rejected=rejected, message=exc.message)
        return _fail(run, f"{texts.NO_REPORT.format(provider=adapter.label)} {exc.message}")
    vault.settle_usage_key(
        key, ok=True, rejected=False, message=vault.REPORT_READ.format(provider=adapter.label)
    )
    records = our_records(run.workspace, run.provider, run.start, run.end)
    if adapter.report_lists_requests:
        _compare_by_request(run, adapter, records, report)
    else:
        _compare_by_key(run, records, report)
    return run


def _image_cost(adapter: Adapter) -> by_request.ImageCost:
    def cost(record: Ours) -> int:
        usage = {"images": [{"width": record.width, "height": record.height}]}
        return adapter.cost(usage, record.unit_prices) or 0

    return cost


def _compare_by_request(
    run: Reconciliation, adapter: Adapter, records: list[Ours], report: UsageReport
) -> None:
    models = [m for m in catalog.load().models.values() if m.provider == run.provider]
    unit_prices = {m.id: price for m in models if (price := adapter.catalog_unit_price(m.price)) is not None}
    comparison = by_request.compare(records, report, image_cost=_image_cost(adapter), catalog=unit_prices)
    run.prices = compare_prices(report.prices, unit_prices)
    _store(run, comparison.lines, comparison.resolutions, report, outside=comparison.outside, matches=[])


def _compare_by_key(run: Reconciliation, records: list[Ours], report: UsageReport) -> None:
    keys = {
        k.pk: by_key.OurKey(k.pk, k.label, k.hint, str(k.code))
        for k in ProviderKey.objects.for_workspace(run.workspace).filter(
            provider=run.provider, kind=ProviderKey.Kind.GENERATE
        )
    }
    stored = {
        m.key_id: (m.provider_key_id, m.how)
        for m in KeyMatch.objects.for_workspace(run.workspace).filter(key__provider=run.provider)
    }
    models = {m.id for m in catalog.load().models.values() if m.provider == run.provider}
    comparison = by_key.compare(records, report, keys=keys, stored=stored, models=models)
    run.key_matches = [m.as_json(comparison.seen_key_ids) for m in comparison.matches]
    other = comparison.other_spend_nanousd
    note = texts.OTHER_SPEND.format(amount=format_usd(other)) if other else ""
    _store(
        run, comparison.lines, [], report, outside=comparison.outside, matches=comparison.matches, note=note
    )


def _resolve(run: Reconciliation, resolutions: list[Resolution]) -> int:
    """Give records of unknown amount the amount the report shows; keep the roll-ups equal. Return how many."""
    records = {
        r.pk: r
        for r in CostRecord.objects.select_for_update().filter(pk__in=[r.record_pk for r in resolutions])
    }
    done = 0
    now = timezone.now()
    for resolution in resolutions:
        record = records.get(resolution.record_pk)
        if record is None or record.amount_nanousd is not None or record.workspace_id != run.workspace_id:
            continue  # resolved meanwhile (another run), or not ours
        updated = CostRecord.objects.filter(pk=record.pk, amount_nanousd__isnull=True).update(
            amount_nanousd=resolution.amount_nanousd,
            resolution=CostRecord.Resolution.BILLED
            if resolution.billed
            else CostRecord.Resolution.NOT_BILLED,
            resolved_at=now,
            resolution_note=resolution.note,
        )
        if updated:
            settle_unknown(record, resolution.amount_nanousd)
            done += 1
    return done


def _store(
    run: Reconciliation,
    lines: list[Line],
    resolutions: list[Resolution],
    report: UsageReport,
    *,
    outside: int,
    matches: list[by_key.Match],
    note: str = "",
) -> None:
    money = [line for line in lines if line.kind == ReconciliationLine.Kind.MONEY]
    with transaction.atomic():
        run.resolved = _resolve(run, resolutions)
        ReconciliationLine.objects.bulk_create(
            ReconciliationLine(
                reconciliation=run,
                workspace_id=run.workspace_id,
                day=line.day,
                kind=line.kind,
                subject=line.subject[:200],
                ours_requests=line.ours_requests,
                theirs_requests=line.theirs_requests,
                ours_images=line.ours_images,
                theirs_images=line.theirs_images,
                ours_nanousd=line.ours_nanousd,
                ours_unknown=line.ours_unknown,
                theirs_nanousd=line.theirs_nanousd,
                reason=" ".join(line.reasons)[:500],
            )
            for line in lines
        )
        _save_matches(run, matches)
        run.ours_nanousd = sum(line.ours_nanousd for line in money)
        run.ours_unknown = sum(line.ours_unknown for line in money)
        run.theirs_nanousd = sum(line.theirs_nanousd or 0 for line in money)
        run.outside_requests, run.skipped = outside, report.skipped
        run.status, run.finished_at = Reconciliation.Status.DONE, timezone.now()
        run.message = _summary(run, note)
        run.save()
    logger.info("reconciliation %s done: %d lines, %d resolved", run.code, len(lines), run.resolved)


def _save_matches(run: Reconciliation, matches: list[by_key.Match]) -> None:
    now = timezone.now()
    for match in matches:
        if match.key_id and match.how == KeyMatch.How.COUNTS:
            KeyMatch.objects.update_or_create(
                key_id=match.key.pk,
                defaults={
                    "workspace": run.workspace,
                    "provider_key_id": match.key_id,
                    "how": match.how,
                    "evidence": match.evidence[:300],
                    "matched_at": now,
                },
            )


def _summary(run: Reconciliation, note: str) -> str:
    days = (run.end - run.start).days
    ours, theirs = format_usd(run.ours_nanousd), format_usd(run.theirs_nanousd or 0)
    parts = [texts.SUMMARY_DAYS.format(days, ours=ours, theirs=theirs)]
    if run.ours_unknown:
        parts.append(texts.SUMMARY_UNKNOWN.format(run.ours_unknown))
    if run.outside_requests:
        parts.append(texts.SUMMARY_OUTSIDE.format(run.outside_requests))
    if run.resolved:
        parts.append(texts.SUMMARY_RESOLVED.format(run.resolved))
    if run.skipped:
        parts.append(texts.SUMMARY_SKIPPED.format(run.skipped))
    if note:
        parts.append(note)
    return " ".join(parts)[:300]


def set_key_match(
    workspace: Workspace, key: ProviderKey, provider_key_id: str, *, provider: str
) -> KeyMatch | None:
    """Record the owner's choice of the `provider` key id that is `key` (empty: forget any match)."""
    if key.workspace_id != workspace.pk or key.is_usage_key or key.provider != provider:
        raise ReconciliationRefused(
            _("Choose one of this workspace's %(provider)s generation keys.")
            % {"provider": providers.get(provider).label}
        )
    provider_key_id = provider_key_id.strip()[:100]
    if not provider_key_id:
        KeyMatch.objects.filter(key=key).delete()
        return None
    match, _created = KeyMatch.objects.update_or_create(
        key=key,
        defaults={
            "workspace": workspace,
            "provider_key_id": provider_key_id,
            "how": KeyMatch.How.OWNER,
            "evidence": texts.CHOSEN_BY_OWNER,
            "matched_at": timezone.now(),
        },
    )
    return match


def runs_to_start(now: dt.datetime | None = None) -> list[Reconciliation]:
    """Create today's run for every workspace and provider with a usage key (the daily task).

    Its period is `default_period`: on the 1st it reaches back over the whole previous month.
    """
    start, end = default_period(now)
    created = []
    keys = ProviderKey.objects.filter(kind=ProviderKey.Kind.USAGE).select_related("workspace").order_by("pk")
    for key in keys:
        try:
            created.append(start_reconciliation(key.workspace, key.provider, start=start, end=end))
        except ReconciliationRefused as exc:
            logger.info("daily reconciliation of %s with %s skipped: %s", key.workspace_id, key.provider, exc)
    return created

"""Monthly roll-ups: the only writes of usage. `UsageMonth` sums the cost records per month.

`roll_up` runs in the transaction that saves the records, so the totals the pages read never differ
from the records; `rebuild_roll_ups` recomputes them from the records (after a restore or a fix).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Any, cast

from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import TruncMonth

from accounts.models import Workspace
from generation.dates import month_start
from generation.models import CostRecord, UsageMonth
from generation.usage.totals import Total, record_sums


def _month_key(record: CostRecord) -> tuple[int, dt.date, str, str, int | None]:
    first = month_start(record.created_at).date()
    return (record.workspace_id, first, record.provider, record.model, record.created_by_id)


def roll_up(records: Iterable[CostRecord]) -> None:
    """Add saved cost records to their months' roll-ups; call it in the transaction that saved them."""
    groups: dict[tuple[int, dt.date, str, str, int | None], Total] = {}
    for record in records:
        key = _month_key(record)
        known = record.amount_nanousd is not None
        groups[key] = groups.get(key, Total()).plus(
            Total(1, record.images, record.amount_nanousd or 0, 0 if known else 1)
        )
    # In key order, so that transactions adding several keys lock their rows in the same order.
    ordered = sorted(groups.items(), key=lambda item: (*item[0][:4], item[0][4] or 0))
    for (workspace_id, month, provider, model, member), total in ordered:
        where = {"workspace_id": workspace_id, "month": month, "provider": provider, "model": model}
        increments = {
            "requests": F("requests") + total.count,
            "images": F("images") + total.images,
            "amount_nanousd": F("amount_nanousd") + total.amount_nanousd,
            "unknown": F("unknown") + total.unknown,
        }
        rows = UsageMonth.objects.filter(**where, created_by_id=member)
        if member is None:
            # NULL members are not unique: add to the oldest such row (the sums stay exact either way).
            rows = UsageMonth.objects.filter(pk__in=rows.order_by("pk").values("pk")[:1])
        if rows.update(**increments):
            continue
        try:
            with transaction.atomic():  # a savepoint: a concurrent first insert must not abort ours
                UsageMonth.objects.create(
                    **where,
                    created_by_id=member,
                    requests=total.count,
                    images=total.images,
                    amount_nanousd=total.amount_nanousd,
                    unknown=total.unknown,
                )
        except IntegrityError:
            # Another transaction created the row first; it is committed now, so add to it. Anything
            # else that refused the insert must not lose these sums silently.
            if not UsageMonth.objects.filter(**where, created_by_id=member).update(**increments):
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
            .annotate(**record_sums())
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
            # The sums come from `**record_sums()`, whose keys the type stubs cannot see.
            for group in cast(Iterator[dict[str, Any]], groups.iterator())
        ]
        UsageMonth.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


def settle_unknown(record: CostRecord, amount_nanousd: int) -> None:
    """Move a record from "unknown amount" to `amount_nanousd` in its month's roll-up.

    Call it in the transaction that saved the record's new amount (a reconciliation resolving it), after
    saving, with the record as it was: its month, provider, model and member find the row it was added to.
    """
    if record.amount_nanousd is not None:
        raise ValueError("only a record of unknown amount can be settled")
    workspace_id, month, provider, model, member = _month_key(record)
    rows = UsageMonth.objects.filter(
        workspace_id=workspace_id,
        month=month,
        provider=provider,
        model=model,
        created_by_id=member,
        unknown__gt=0,
    )
    # NULL members are not unique (see roll_up): settle on the oldest such row that counts an unknown.
    target = rows.order_by("pk").values_list("pk", flat=True).first()
    if target is None:
        # The roll-up never counted it (records inserted in bulk before a rebuild): rebuild this month.
        rebuild_roll_ups(record.workspace)
        return
    UsageMonth.objects.filter(pk=target).update(
        amount_nanousd=F("amount_nanousd") + amount_nanousd, unknown=F("unknown") - 1
    )

"""What a comparison produces (`Line`, `Resolution`) and what it compares: our cost records (`Ours`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from accounts.models import Workspace
from generation.dates import day_start
from generation.models import CostRecord


@dataclass(frozen=True)
class Ours:
    """One of our cost records, as a comparison needs it."""

    pk: int
    day: dt.date  # the UTC day it was recorded
    at: dt.datetime  # when it was recorded: after every request of the generation was sent
    submitted_from: dt.datetime  # when the generation started: before any of its requests was sent
    model: str
    key_pk: int | None  # the generation key it was made with
    images: int
    amount_nanousd: int | None
    possible: bool  # possibly charged (sent, never answered; refused after it started; a crash)
    request_ids: tuple[str, ...]
    width: int
    height: int
    unit_prices: dict[str, Any]
    reason: str = ""  # why the amount is unknown (CostRecord.unknown_reason)
    requested: int = 1  # the images asked for (one request each at fal)

    @property
    def unknown(self) -> bool:
        return self.amount_nanousd is None


def our_records(workspace: Workspace, provider: str, start: dt.date, end: dt.date) -> list[Ours]:
    """Return the workspace's cost records of a provider recorded on the UTC days [start, end)."""
    records = (
        CostRecord.objects.for_workspace(workspace)
        .filter(provider=provider, created_at__gte=day_start(start), created_at__lt=day_start(end))
        .select_related("generation")
        .order_by("created_at", "pk")
    )
    return [
        Ours(
            pk=r.pk,
            day=r.created_at.astimezone(dt.UTC).date(),
            at=r.created_at,
            submitted_from=r.generation.started_at or r.generation.created_at,
            model=r.model,
            key_pk=r.generation.provider_key_id,
            images=r.images,
            amount_nanousd=r.amount_nanousd,
            possible=r.possibly_charged,
            request_ids=tuple(str(i) for i in r.provider_request_ids or [] if i),
            width=r.generation.width,
            height=r.generation.height,
            unit_prices=dict(r.unit_prices or {}),
            reason=r.unknown_reason,
            requested=r.generation.n,
        )
        for r in records
    ]


@dataclass
class Line:
    """One line of a run before it is stored (`ReconciliationLine`)."""

    day: dt.date
    kind: str
    subject: str
    ours_requests: int = 0
    theirs_requests: int | None = None
    ours_images: int = 0
    theirs_images: int | None = None
    ours_nanousd: int = 0
    ours_unknown: int = 0
    theirs_nanousd: int | None = None
    reasons: list[str] = field(default_factory=list)

    def add(self, record: Ours) -> None:
        self.ours_requests += 1
        self.ours_images += record.images
        if record.amount_nanousd is None:
            self.ours_unknown += 1
        else:
            self.ours_nanousd += record.amount_nanousd

    @property
    def difference_nanousd(self) -> int | None:
        return None if self.theirs_nanousd is None else self.theirs_nanousd - self.ours_nanousd


@dataclass(frozen=True)
class Resolution:
    """An unknown amount the provider's report settles: billed at `amount_nanousd`, or not billed (0)."""

    record_pk: int
    amount_nanousd: int
    billed: bool
    note: str

"""Price drift: the prices a provider publishes beside the catalog's (generation/catalog.toml).

A difference is shown to owners on the usage page and by `manage.py check_prices`, so a price change is
noticed the day the daily reconciliation reads it, not at the end of the month.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from generation.models import Reconciliation
from generation.money import format_usd
from providers.usage import PriceLine


def compare_prices(published: Iterable[PriceLine], catalog: dict[str, int]) -> list[dict[str, Any]]:
    """Return, per catalog model, the catalog's unit price and the provider's (None if it gave none)."""
    theirs = {line.model: line for line in published}
    rows = []
    for model, price in sorted(catalog.items()):
        line = theirs.get(model)
        rows.append(
            {
                "model": model,
                "unit": line.unit if line else "",
                "currency": line.currency if line else "",
                "catalog": price,
                "theirs": line.unit_price_nanousd if line else None,
            }
        )
    return rows


@dataclass(frozen=True)
class Drift:
    provider: str
    model: str
    unit: str
    catalog_nanousd: int
    theirs_nanousd: int
    checked: str  # when the provider's price was read (the run's end), ISO UTC

    def describe(self) -> str:
        return (
            f"{self.provider} {self.model}: the provider charges {format_usd(self.theirs_nanousd)} per "
            f"{self.unit or 'unit'}, the catalog says {format_usd(self.catalog_nanousd)} (read {self.checked})"
        )


def drift_of(run: Reconciliation) -> list[Drift]:
    checked = run.finished_at.isoformat() if run.finished_at else ""
    return [
        Drift(run.provider, p["model"], p.get("unit", ""), int(p["catalog"]), int(p["theirs"]), checked)
        for p in run.price_drift
    ]


def latest_drift() -> list[Drift]:
    """Return the drift in each (workspace, provider)'s latest finished run with prices, deduplicated."""
    seen: set[tuple[int, str]] = set()
    found: dict[tuple[str, str, int, int], Drift] = {}
    runs = (
        Reconciliation.objects.filter(status=Reconciliation.Status.DONE)
        .exclude(prices=[])
        .order_by("-finished_at", "-pk")
    )
    for run in runs.iterator():
        if (run.workspace_id, run.provider) in seen:
            continue
        seen.add((run.workspace_id, run.provider))
        for drift in drift_of(run):
            found.setdefault(
                (drift.provider, drift.model, drift.catalog_nanousd, drift.theirs_nanousd), drift
            )
    return sorted(found.values(), key=lambda d: (d.provider, d.model, d.theirs_nanousd))

"""What the usage page and a run's page read of reconciliations (reads only, workspace-scoped)."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import QuerySet

import providers
from accounts.models import Workspace
from generation.models import KeyMatch, Reconciliation, ReconciliationLine
from generation.reconciliation.service import reconcilable_providers


@dataclass
class ProviderSection:
    """One provider's part of the usage page: its latest run, that run's lines per day, its drift."""

    provider: str
    label: str
    latest: Reconciliation | None
    running: bool
    lines: list[ReconciliationLine] = field(default_factory=list)


def runs(workspace: Workspace) -> QuerySet[Reconciliation]:
    return Reconciliation.objects.for_workspace(workspace).select_related("usage_key")


def sections(workspace: Workspace) -> list[ProviderSection]:
    """Return, per provider with a usage key, its latest finished run and its money lines."""
    found = []
    for name in reconcilable_providers(workspace):
        mine = runs(workspace).filter(provider=name)
        latest = mine.exclude(status=Reconciliation.Status.RUNNING).first()
        running = mine.filter(status=Reconciliation.Status.RUNNING).exists()
        lines = []
        if latest is not None:
            lines = list(latest.lines.filter(kind=ReconciliationLine.Kind.MONEY).order_by("day", "subject"))
        found.append(ProviderSection(name, providers.get(name).label, latest, running, lines))
    return found


def lines_of(run: Reconciliation) -> dict[str, list[ReconciliationLine]]:
    """Return a run's lines by kind, in day order."""
    grouped: dict[str, list[ReconciliationLine]] = {kind: [] for kind in ReconciliationLine.Kind.values}
    for line in run.lines.order_by("day", "kind", "subject"):
        grouped[line.kind].append(line)
    return grouped


def stored_matches(workspace: Workspace) -> dict[int, KeyMatch]:
    return {m.key_id: m for m in KeyMatch.objects.for_workspace(workspace)}

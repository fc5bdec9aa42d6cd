"""Monthly budgets that hold under concurrency (docs/architecture.md §7).

A generation reserves its quote when it is created. The check "month spend + in-flight reservations +
this quote ≤ cap" and the reservation happen in one transaction, serialized per workspace by a row
lock on the workspace (PostgreSQL: SELECT … FOR UPDATE; SQLite: writers are serialized by BEGIN
IMMEDIATE), so no number of concurrent submissions can push spend + reservations past the cap.
Completion replaces the reservation with the actual cost (or, when the provider billed an amount we
cannot know, with the quote, an upper bound); failure releases it (pipeline.finish). On PostgreSQL a
cost record's insert waits for that same lock (its foreign key takes a share lock on the workspace
row), so a generation finishing during a check cannot be counted neither as reserved nor as spent.
The month's spend is `usage.totals.month_spend`, from the cost records: the figure the dashboard shows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Sum

from accounts.models import User, Workspace
from generation.models import Budget, Generation
from generation.money import format_usd
from generation.usage.totals import MonthSpend, month_spend

WARN_FRACTION = 0.8


class BudgetExceeded(Exception):
    """The request's quote does not fit in what is left of the month's cap."""


@dataclass(frozen=True)
class BudgetStatus:
    cap_nanousd: int | None
    month: MonthSpend  # this month's charges: the dashboard shows them from here too
    reserved_nanousd: int

    @property
    def spent_nanousd(self) -> int:
        """Return this month's spend as the cap counts it: unknown amounts at their quotes."""
        return self.month.bounded_nanousd

    @property
    def committed_nanousd(self) -> int:
        return self.spent_nanousd + self.reserved_nanousd

    @property
    def remaining_nanousd(self) -> int | None:
        if self.cap_nanousd is None:
            return None
        return max(0, self.cap_nanousd - self.committed_nanousd)

    @property
    def percent_used(self) -> int | None:
        if not self.cap_nanousd:
            return None
        return min(999, self.committed_nanousd * 100 // self.cap_nanousd)

    @property
    def warn(self) -> bool:
        return self.cap_nanousd is not None and self.committed_nanousd >= self.cap_nanousd * WARN_FRACTION

    @property
    def exceeded(self) -> bool:
        return self.cap_nanousd is not None and self.committed_nanousd >= self.cap_nanousd

    def fits(self, quote_nanousd: int) -> bool:
        return self.cap_nanousd is None or self.committed_nanousd + quote_nanousd <= self.cap_nanousd


def status(workspace: Workspace, *, now: dt.datetime | None = None) -> BudgetStatus:
    """Return this month's cap, spend and in-flight reservations: three or four small queries.

    The spend is `usage.totals.month_spend`, the one source of "spent this month" (its docstring says
    why the records, and why a charge of unknown amount counts at its quote).
    """
    cap = Budget.objects.filter(workspace=workspace).values_list("monthly_cap_nanousd", flat=True).first()
    month = month_spend(workspace, now=now)
    reserved = (
        Generation.objects.for_workspace(workspace)
        .filter(status__in=[Generation.Status.QUEUED, Generation.Status.RUNNING])
        .aggregate(total=Sum("reserved_nanousd"))["total"]
    )
    return BudgetStatus(cap_nanousd=cap, month=month, reserved_nanousd=reserved or 0)


def refusal_message(current: BudgetStatus, quote_nanousd: int) -> str:
    """Return the refusal with its numbers, so the user knows exactly why and by how much."""
    return (
        f"This request ({format_usd(quote_nanousd)}) would pass this month's budget of "
        f"{format_usd(current.cap_nanousd)}: {format_usd(current.spent_nanousd)} spent and "
        f"{format_usd(current.reserved_nanousd)} reserved by requests in progress, "
        f"{format_usd(current.remaining_nanousd)} left. Raise the budget on the Workspace page, or wait for "
        "next month."
    )


def check_and_lock(workspace: Workspace, quote_nanousd: int) -> None:
    """Lock the workspace row and raise BudgetExceeded if the quote does not fit (call inside atomic)."""
    assert transaction.get_connection().in_atomic_block, "check_and_lock must run inside a transaction"
    Workspace.objects.select_for_update().filter(pk=workspace.pk).values_list("pk").first()
    current = status(workspace)
    if not current.fits(quote_nanousd):
        raise BudgetExceeded(refusal_message(current, quote_nanousd))


def set_cap(*, workspace: Workspace, user: User, cap_nanousd: int | None) -> Budget:
    """Set or clear the monthly cap."""
    budget, _ = Budget.objects.update_or_create(
        workspace=workspace, defaults={"monthly_cap_nanousd": cap_nanousd, "updated_by": user}
    )
    return budget

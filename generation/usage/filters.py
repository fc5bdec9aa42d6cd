"""What the history page and its CSV show: the filters of the query string, and the records they keep."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from accounts.models import Workspace
from generation.dates import add_months, day_start
from generation.models import CostRecord


@dataclass(frozen=True)
class Filters:
    """What the history page and the CSV show: a UTC period [start, end) and optional equalities."""

    start: dt.datetime | None = None
    end: dt.datetime | None = None
    provider: str = ""
    model: str = ""
    member: str = ""  # the member's email address
    period: str = "all"  # for file names: "2026-11", "2026-11-03_2026-11-10", "all"

    @property
    def is_filtered(self) -> bool:
        return bool(self.start or self.end or self.provider or self.model or self.member)

    @property
    def period_label(self) -> str:
        """Return the period for headings: "November 2026", "2026-11-03 – 2026-11-10", "all time"."""
        if self.start and self.end and add_months(self.start, 1) == self.end and self.start.day == 1:
            return self.start.strftime("%B %Y")
        last_day = (self.end - dt.timedelta(days=1)).date() if self.end else None
        if self.start and last_day:
            return f"{self.start.date()} – {last_day}"
        if self.start:
            return _("from %(day)s") % {"day": self.start.date()}
        if last_day:
            return _("until %(day)s") % {"day": last_day}
        return _("all time")

    def narrow(self, qs: QuerySet) -> QuerySet:
        """Apply the provider, model and member filters (fields both records and roll-ups have)."""
        if "\x00" in self.provider + self.model + self.member:
            return qs.none()  # no stored value holds NUL, and PostgreSQL refuses one in a query
        if self.provider:
            qs = qs.filter(provider=self.provider)
        if self.model:
            qs = qs.filter(model=self.model)
        if self.member:
            qs = qs.filter(created_by__email=self.member)
        return qs


def parse_filters(params: Mapping[str, str]) -> tuple[Filters, list[str]]:
    """Return the filters in a query string (`month` or `from`/`to`, provider, model, member) and errors."""
    errors: list[str] = []
    start = end = None
    period = "all"
    month = (params.get("month") or "").strip()
    first = (params.get("from") or "").strip()
    last = (params.get("to") or "").strip()
    # OverflowError: the end of year 9999 has no next month or day to end the period at.
    # A date range typed in the form wins over a month left in it (chart links set a month and clear the
    # range): the user just asked for those dates.
    if first or last:
        try:
            first_day = dt.date.fromisoformat(first) if first else None
            last_day = dt.date.fromisoformat(last) if last else None
            if first_day and last_day and first_day > last_day:
                errors.append(_("The date range was ignored: “from” is after “to”."))
            else:
                start = day_start(first_day) if first_day else None
                # The range includes its last day.
                end = day_start(last_day) + dt.timedelta(days=1) if last_day else None
                period = f"{first_day or 'start'}_{last_day or 'now'}"
        except (ValueError, OverflowError):
            start = end = None
            errors.append(_("The date range was ignored: use YYYY-MM-DD."))
    elif month:
        try:
            start = dt.datetime.strptime(month, "%Y-%m").replace(tzinfo=dt.UTC)
            end, period = add_months(start, 1), start.strftime("%Y-%m")
        except (ValueError, OverflowError):
            start = None
            errors.append(_("The month “%(value)s” was ignored: use YYYY-MM.") % {"value": month})
    filters = Filters(
        start=start,
        end=end,
        provider=(params.get("provider") or "").strip(),
        model=(params.get("model") or "").strip(),
        member=(params.get("member") or "").strip(),
        period=period,
    )
    return filters, errors


def records(workspace: Workspace, filters: Filters) -> QuerySet[CostRecord]:
    """Return the workspace's cost records that match `filters` (unordered): where every read starts."""
    qs = filters.narrow(CostRecord.objects.for_workspace(workspace))
    if filters.start:
        qs = qs.filter(created_at__gte=filters.start)
    if filters.end:
        qs = qs.filter(created_at__lt=filters.end)
    return qs

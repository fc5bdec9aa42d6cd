"""What the history page and its CSV show: the filter form of the query string, the `Filters` it gives,
and `records`, the selector of the cost records they keep (where every other usage read starts)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Workspace
from generation.dates import add_months, day_start, show_day
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
    key: str = ""  # the code of the key that paid (records only: the roll-ups do not keep the key)

    @property
    def is_filtered(self) -> bool:
        return bool(self.start or self.end or self.provider or self.model or self.member or self.key)

    @property
    def period_label(self) -> str:
        """Return the period for headings: "November 2026", "3 Nov 2026 – 10 Nov 2026", "all time"."""
        if self.start and self.end and add_months(self.start, 1) == self.end and self.start.day == 1:
            return formats.date_format(self.start.date(), "YEAR_MONTH_FORMAT")  # in the page's language
        last_day = (self.end - dt.timedelta(days=1)).date() if self.end else None
        if self.start and last_day:
            return f"{show_day(self.start.date())} – {show_day(last_day)}"
        if self.start:
            return _("from %(day)s") % {"day": show_day(self.start.date())}
        if last_day:
            return _("until %(day)s") % {"day": show_day(last_day)}
        return _("all time")

    def narrow[Q: QuerySet[Any]](self, qs: Q) -> Q:
        """Apply the provider, model and member filters (fields both records and roll-ups have)."""
        if "\x00" in self.provider + self.model + self.member:
            return qs.none()  # no stored value holds NUL, and PostgreSQL refuses one in a query
        if self.provider:
            qs = qs.filter(provider=self.provider)
        if self.model:
            qs = qs.filter(model=self.model)
        if self.member:
            qs = qs.filter(created_by__email=self.member)
        if self.key:
            # Cost records only (`records`): callers read records instead of roll-ups when a key is chosen.
            try:
                qs = qs.filter(provider_key__code=UUID(self.key))
            except ValueError:
                return qs.none()
        return qs


# The calendar's arithmetic needs room: a period ends at the day or month after its last one, and Python's
# dates stop at 9999-12-31 (`from=9999-12-31` used to answer 500). Nothing is charged before 2000 either.
FIRST_DAY = dt.date(2000, 1, 1)
LAST_DAY = dt.date(9998, 12, 31)


class _CalendarField(forms.Field):
    """A day or a month typed in the query string, between FIRST_DAY and LAST_DAY; blank is none."""

    format_error = gettext_lazy("Enter a date.")
    range_error = gettext_lazy("Enter a date from %(first)s to %(last)s.")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(required=False, **kwargs)

    def parse(self, text: str) -> dt.date:
        raise NotImplementedError

    def show(self, day: dt.date) -> str:
        return day.isoformat()

    def to_python(self, value: Any) -> dt.date | None:
        text = value.strip() if isinstance(value, str) else ""
        if not text:
            return None
        try:
            return self.parse(text)
        except ValueError:
            raise ValidationError(self.format_error, code="invalid") from None

    def validate(self, value: dt.date | None) -> None:
        super().validate(value)
        if value is not None and not FIRST_DAY <= value <= LAST_DAY:
            bounds = {"first": self.show(FIRST_DAY), "last": self.show(LAST_DAY)}
            raise ValidationError(self.range_error, code="out_of_range", params=bounds)


class DayField(_CalendarField):
    """A UTC day as YYYY-MM-DD, what <input type="date"> sends (any ISO 8601 date, as before)."""

    format_error = gettext_lazy("Enter a date as YYYY-MM-DD.")

    def parse(self, text: str) -> dt.date:
        return dt.date.fromisoformat(text)


class MonthField(_CalendarField):
    """A UTC month as YYYY-MM, what <input type="month"> sends; its value is the month's first day."""

    format_error = gettext_lazy("Enter a month as YYYY-MM.")
    range_error = gettext_lazy("Enter a month from %(first)s to %(last)s.")

    def parse(self, text: str) -> dt.date:
        return dt.datetime.strptime(text, "%Y-%m").date()

    def show(self, day: dt.date) -> str:
        return f"{day:%Y-%m}"


class EqualityField(forms.Field):
    """A provider, model, member email or key code to match exactly; blank matches everything.

    Never an error: a value no row holds matches nothing, NUL included (see `Filters.narrow`).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(required=False, **kwargs)

    def to_python(self, value: Any) -> str:
        return value.strip() if isinstance(value, str) else ""


def _typed(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


class FilterForm(forms.Form):
    """The history's query string: `month`, or a `from`/`to` range (both days included), and equalities.

    A period that does not validate is ignored (the page shows all time, with the error beside its field
    and a banner saying so); the equalities apply whatever the period.
    """

    month = MonthField(label=gettext_lazy("Month (UTC)"))
    provider = EqualityField(label=gettext_lazy("Provider"))
    model = EqualityField(label=gettext_lazy("Model"))
    member = EqualityField(label=gettext_lazy("Member"))
    key = EqualityField(label=gettext_lazy("Key"))

    def __init__(self, data: Mapping[str, Any]) -> None:
        super().__init__(data)
        # "from" is a Python keyword: these two cannot be declared as class attributes.
        self.fields["from"] = DayField(label=gettext_lazy("From"))
        self.fields["to"] = DayField(label=gettext_lazy("To"))
        if _typed(data.get("from")) or _typed(data.get("to")):
            # A date range typed in the form wins over a month left in it (chart links set a month and
            # clear the range): the user just asked for those dates.
            del self.fields["month"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        first, last = cleaned.get("from"), cleaned.get("to")
        if first and last and first > last:
            self.add_error("from", ValidationError(_("“From” is after “To”."), code="order"))
        return cleaned

    def filters(self) -> Filters:
        """Return what to show: the period if it is valid (else all time), and the equalities."""
        self.is_valid()
        start, end, period = self._period()
        data = self.cleaned_data
        return Filters(start, end, data["provider"], data["model"], data["member"], period, data["key"])

    def _period(self) -> tuple[dt.datetime | None, dt.datetime | None, str]:
        if any(self.has_error(name) for name in ("month", "from", "to")):
            return None, None, "all"
        if "month" in self.fields:
            month = self.cleaned_data["month"]
            if month is None:
                return None, None, "all"
            month_first = day_start(month)
            return month_first, add_months(month_first, 1), f"{month:%Y-%m}"
        first, last = self.cleaned_data["from"], self.cleaned_data["to"]
        start = day_start(first) if first else None
        end = day_start(last) + dt.timedelta(days=1) if last else None  # the range includes its last day
        return start, end, f"{first or 'start'}_{last or 'now'}"

    def ignored(self) -> list[str]:
        """Return the banner's lines: which period input was ignored, and why (also beside its field)."""
        lines = []
        if self.has_error("month"):
            value = str(self.data.get("month", "")).strip()
            reason = self.errors["month"][0]
            lines.append(
                _("The month “%(value)s” was ignored: %(reason)s") % {"value": value, "reason": reason}
            )
        reasons = [*self.errors.get("from", []), *self.errors.get("to", [])]
        if reasons:
            lines.append(_("The date range was ignored: %(reason)s") % {"reason": reasons[0]})
        return lines


def parse_filters(params: Mapping[str, Any]) -> tuple[Filters, list[str]]:
    """Return the filters of a query string and the banner's lines on what was ignored (see FilterForm)."""
    form = FilterForm(params)
    return form.filters(), form.ignored()


def records(workspace: Workspace, filters: Filters) -> QuerySet[CostRecord]:
    """Return the workspace's cost records that match `filters` (unordered): where every read starts."""
    qs = filters.narrow(CostRecord.objects.for_workspace(workspace))
    if filters.start:
        qs = qs.filter(created_at__gte=filters.start)
    if filters.end:
        qs = qs.filter(created_at__lt=filters.end)
    return qs

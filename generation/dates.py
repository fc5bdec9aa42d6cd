"""The calendar the app counts money in: UTC days and UTC months.

Budgets, roll-ups, the usage history and the catalog's shutdown dates all use these, so "this month" and
"today" mean the same instant everywhere. Code that needs the current time takes it as an argument
where it can (`now=` / `today=`), and falls back to `utc_now()` / `utc_today()`; tests pass dates in.
"""

from __future__ import annotations

import datetime as dt

from django.utils import formats, timezone


def utc_now() -> dt.datetime:
    """Return the current instant, in UTC."""
    return timezone.now().astimezone(dt.UTC)


def utc_today() -> dt.date:
    """Return today's date in UTC (`date.today()` is the server's local date)."""
    return utc_now().date()


def month_start(when: dt.datetime | None = None) -> dt.datetime:
    """Return the first instant of `when`'s UTC month (this month's when None)."""
    when = (when or utc_now()).astimezone(dt.UTC)
    return when.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def add_months(start: dt.datetime, months: int) -> dt.datetime:
    """Return the first instant of the month `months` after (or before) the month starting at `start`."""
    index = start.year * 12 + start.month - 1 + months
    return start.replace(year=index // 12, month=index % 12 + 1, day=1)


def day_start(day: dt.date) -> dt.datetime:
    """Return the first instant of a UTC day."""
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def show_day(day: dt.date | dt.datetime) -> str:
    """Return a date as pages show it ("3 Dec 2026"); a datetime's day in the current time zone."""
    if isinstance(day, dt.datetime):
        day = timezone.localtime(day) if timezone.is_aware(day) else day
    return formats.date_format(day, "DATE_FORMAT")


def show_moment(when: dt.datetime) -> str:
    """Return a date-time as pages show it, with its zone ("3 Dec 2026, 05:39 UTC")."""
    return formats.date_format(timezone.localtime(when), "DATETIME_FORMAT")

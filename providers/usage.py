"""What a provider's own usage and cost reports say, in the app's units (UTC days, nano-dollars).

The report endpoints (OpenAI's Admin API, fal's Platform API) are read with a *usage key*, never a
generation key. Their shapes come from published references and are unverified against the live APIs
(docs/providers.md), so the parsers here are tolerant: a field that is missing or of another type is
skipped, never a crash, and what could not be read is counted in `UsageReport.skipped`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

NANO = 10**9


@dataclass(frozen=True)
class CostLine:
    """Money the provider billed on one UTC day for one line item (a model) and project."""

    day: dt.date
    line_item: str
    amount_nanousd: int
    project_id: str = ""


@dataclass(frozen=True)
class UsageLine:
    """What the provider counted on one UTC day, for one model (and key, project, size, where reported)."""

    day: dt.date
    model: str
    requests: int
    images: int
    amount_nanousd: int | None = None  # None where the report counts but does not price
    key_id: str = ""  # the provider's id of the key (OpenAI's api_key_id)
    project_id: str = ""
    size: str = ""
    source: str = ""
    unit: str = ""  # the billing unit of `quantity` (fal: "megapixels", "image", …)
    quantity: Decimal = Decimal(0)
    unit_price_nanousd: int | None = None


@dataclass(frozen=True)
class RequestLine:
    """One request the provider lists (fal): its id, endpoint, when it ended and how."""

    request_id: str
    endpoint: str
    ended_at: dt.datetime | None
    status_code: int | None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def server_error(self) -> bool:
        return self.status_code is not None and self.status_code >= 500


@dataclass(frozen=True)
class PriceLine:
    """A price the provider publishes for a model (fal's pricing endpoint)."""

    model: str
    unit: str
    unit_price_nanousd: int
    currency: str = "USD"


@dataclass
class UsageReport:
    """A provider's figures for the UTC days [start, end)."""

    start: dt.date
    end: dt.date
    costs: list[CostLine] = field(default_factory=list)
    usage: list[UsageLine] = field(default_factory=list)
    requests: list[RequestLine] = field(default_factory=list)
    # The instants the request list covers in full ([from, to)), or None when it lists no requests or
    # could not be read to the end: only inside it does "not listed" mean "fal never ran it".
    requests_cover: tuple[dt.datetime, dt.datetime] | None = None
    prices: list[PriceLine] = field(default_factory=list)
    skipped: int = 0  # entries that could not be read (an unverified shape that changed)


# Tolerant readers


def nanousd(value: Any) -> int | None:
    """Return a USD amount (a JSON number or numeric string) as nano-dollars, or None if it is not one."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        # repr() of a float is the shortest text that reads back the same: 0.07 stays 0.07.
        amount = Decimal(repr(value) if isinstance(value, float) else str(value))
    except (InvalidOperation, ValueError):
        return None
    if not amount.is_finite() or amount < 0:
        return None
    return int((amount * NANO).to_integral_value())


def decimal(value: Any) -> Decimal | None:
    """Return a non-negative number as a Decimal, or None."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = Decimal(repr(value) if isinstance(value, float) else str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() and number >= 0 else None


def integer(value: Any) -> int | None:
    """Return a non-negative whole number, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def text(value: Any) -> str:
    """Return a string field, or "" for anything else (null included)."""
    return value if isinstance(value, str) else ""


def instant(value: Any) -> dt.datetime | None:
    """Return a UTC instant from Unix seconds or ISO 8601 text, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return dt.datetime.fromtimestamp(value, tz=dt.UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str) and value:
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        return parsed.astimezone(dt.UTC)
    return None


def day_start(day: dt.date) -> dt.datetime:
    """Return the first instant of a UTC day."""
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)

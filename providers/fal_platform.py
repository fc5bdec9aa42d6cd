"""fal.ai's Platform API (base `https://api.fal.ai/v1`, `FAL_PLATFORM_URL`): usage, requests, prices.

- `GET /models/usage`: billed units, unit price and cost per day and endpoint (an Admin-scoped key).
- `GET /models/requests/by-endpoint`: the requests of an endpoint, with ids, end times and status codes.
- `GET /models/pricing`: the unit price of endpoints (the account's own price).
- `DELETE /models/requests/{request_id}/payloads`: delete a request's stored inputs and outputs.

`Authorization: Key <key_id:key_secret>`; lists page with `cursor` / `next_cursor` while `has_more`.
Shapes from fal's published reference [unverified against the live API]: parsed tolerantly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from . import report_http
from .base import ErrorKind, KeyCheck, ProviderError, gettext_noop, setting
from .fal_queue import REQUEST_ID
from .usage import (
    PriceLine,
    RequestLine,
    UsageLine,
    day_start,
    decimal,
    instant,
    integer,
    nanousd,
    text,
)

DEFAULT_PLATFORM_URL = "https://api.fal.ai/v1"
LABEL = "fal.ai"
PAGE_LIMIT = 100


FAL_KEY_ACCEPTED = gettext_noop("fal.ai accepted this Admin-scoped key.")
FAL_KEY_REJECTED = gettext_noop("fal.ai rejected this key (HTTP 401).")
FAL_KEY_NOT_ADMIN = gettext_noop(
    "fal.ai accepted this key but it cannot read usage: create a key with the Admin scope."
)
FAL_KEY_UNCHECKED = gettext_noop("fal.ai could not check the key ({kind}).")
# What this module writes for a reader, translated where shown (providers/sentences.py).
SENTENCES = (FAL_KEY_ACCEPTED, FAL_KEY_REJECTED, FAL_KEY_NOT_ADMIN, FAL_KEY_UNCHECKED)


def _base(base_url: str | None) -> str:
    return (base_url or setting("FAL_PLATFORM_URL", DEFAULT_PLATFORM_URL) or DEFAULT_PLATFORM_URL).rstrip("/")


def _iso(day: dt.date) -> str:
    return day_start(day).isoformat().replace("+00:00", "Z")


def _pages(
    secret: str, path: str, params: dict[str, Any], key: str, *, base_url: str | None, timeout: float
) -> Iterator[dict[str, Any]]:
    """Yield each entry of `key` on every page of a list."""
    url = f"{_base(base_url)}{path}"
    cursor = ""
    for _ in range(report_http.MAX_PAGES):
        query = {**params, **({"cursor": cursor} if cursor else {})}
        body = report_http.json_object(
            report_http.request(
                "GET", url, secret=secret, auth="Key", label=LABEL, params=query, timeout=timeout
            ),
            LABEL,
        )
        entries = body.get(key)
        if not isinstance(entries, list):
            raise ProviderError(ErrorKind.BAD_RESPONSE, f"fal.ai sent a list without `{key}`.")
        yield from (entry for entry in entries if isinstance(entry, dict))
        cursor = text(body.get("next_cursor"))
        if not body.get("has_more") or not cursor:
            return
    raise ProviderError(ErrorKind.BAD_RESPONSE, "fal.ai's list did not end after many pages.")


def _usage_line(day: dt.date, row: dict[str, Any]) -> UsageLine | None:
    endpoint, cost = text(row.get("endpoint_id")), nanousd(row.get("cost"))
    quantity = decimal(row.get("quantity"))
    if not endpoint or cost is None or quantity is None:
        return None
    requests = integer(row.get("requests")) or 0
    return UsageLine(
        day=day,
        model=endpoint,
        requests=requests,
        images=requests,  # one image per request (the FLUX 2 apps)
        amount_nanousd=cost,
        unit=text(row.get("unit")),
        quantity=quantity,
        unit_price_nanousd=nanousd(row.get("unit_price")),
    )


def usage(
    secret: str,
    *,
    start: dt.date,
    end: dt.date,
    endpoints: list[str],
    base_url: str | None = None,
    timeout: float = 30.0,
) -> tuple[list[UsageLine], int]:
    """Return fal's billed usage per UTC day and endpoint in [start, end); and entries skipped."""
    params = {
        "endpoint_id": ",".join(endpoints),
        "start": _iso(start),
        "end": _iso(end),
        "timeframe": "day",
        "timezone": "UTC",
        "expand": "time_series",
        "limit": PAGE_LIMIT,
    }
    lines, skipped = [], 0
    for bucket in _pages(secret, "/models/usage", params, "time_series", base_url=base_url, timeout=timeout):
        when = instant(bucket.get("bucket"))
        results = bucket.get("results")
        for row in results if isinstance(results, list) else []:
            line = _usage_line(when.date(), row) if when and isinstance(row, dict) else None
            if line is None:
                skipped += 1
            else:
                lines.append(line)
    return lines, skipped


def requests(
    secret: str,
    *,
    endpoint: str,
    start: dt.date,
    end: dt.date,
    base_url: str | None = None,
    timeout: float = 30.0,
) -> tuple[list[RequestLine], int]:
    """Return every request of an endpoint that ended in [start, end); and entries skipped."""
    params = {"endpoint_id": endpoint, "start": _iso(start), "end": _iso(end), "limit": PAGE_LIMIT}
    lines, skipped = [], 0
    for item in _pages(
        secret, "/models/requests/by-endpoint", params, "items", base_url=base_url, timeout=timeout
    ):
        request_id = text(item.get("request_id"))
        if not request_id:
            skipped += 1
            continue
        lines.append(
            RequestLine(
                request_id=request_id,
                endpoint=text(item.get("endpoint_id")) or endpoint,
                ended_at=instant(item.get("ended_at")) or instant(item.get("started_at")),
                status_code=integer(item.get("status_code")),
            )
        )
    return lines, skipped


def pricing(
    secret: str, *, endpoints: list[str], base_url: str | None = None, timeout: float = 30.0
) -> tuple[list[PriceLine], int]:
    """Return the account's unit prices of the endpoints; and entries skipped."""
    params = {"endpoint_id": ",".join(endpoints)}
    lines, skipped = [], 0
    for item in _pages(secret, "/models/pricing", params, "prices", base_url=base_url, timeout=timeout):
        endpoint, price = text(item.get("endpoint_id")), nanousd(item.get("unit_price"))
        if not endpoint or price is None:
            skipped += 1
            continue
        lines.append(PriceLine(endpoint, text(item.get("unit")), price, text(item.get("currency")) or "USD"))
    return lines, skipped


def delete_payloads(
    secret: str, request_id: str, *, base_url: str | None = None, timeout: float = 30.0
) -> bool:
    """Delete a request's stored inputs and outputs at fal; return False when fal does not know the request."""
    if not REQUEST_ID.fullmatch(request_id or ""):
        raise ProviderError(ErrorKind.BAD_REQUEST, "Not a fal.ai request id.")
    url = f"{_base(base_url)}/models/requests/{quote(request_id, safe='')}/payloads"
    try:
        report_http.request("DELETE", url, secret=secret, auth="Key", label=LABEL, timeout=timeout)
    except ProviderError as exc:
        if exc.kind is ErrorKind.NOT_FOUND:
            return False
        raise
    return True


def check_admin_key(
    secret: str, *, today: dt.date, base_url: str | None = None, timeout: float = 10.0
) -> KeyCheck:
    """Ask for one day of usage (Admin-scoped keys only): 200 admin, 401 rejected, 403 not admin-scoped."""
    params: dict[str, str | int] = {
        "start": _iso(today),
        "end": _iso(today + dt.timedelta(days=1)),
        "limit": 1,
    }
    try:
        report_http.request(
            "GET",
            f"{_base(base_url)}/models/usage",
            secret=secret,
            auth="Key",
            label=LABEL,
            params=params,
            timeout=timeout,
        )
    except ProviderError as exc:
        if exc.kind is ErrorKind.INVALID_KEY:
            return KeyCheck("invalid", FAL_KEY_REJECTED)
        if exc.kind is ErrorKind.FORBIDDEN:
            return KeyCheck("forbidden", FAL_KEY_NOT_ADMIN)
        return KeyCheck("unreachable", FAL_KEY_UNCHECKED.format(kind=exc.kind.value))
    return KeyCheck("valid", FAL_KEY_ACCEPTED)

"""The double's fal Platform API (under `/fal-platform/v1`), from its books.

- `GET /models/usage`: billed megapixels, unit price and cost per UTC day and endpoint (Admin scope);
  a day whose price changed has one row per price.
- `GET /models/requests/by-endpoint`: every request of the account's endpoint that ended in [start, end),
  billed or not, with its status code.
- `GET /models/pricing`: the account's current price per endpoint (the first megapixel's, per megapixel).
- `DELETE /models/requests/{id}/payloads`: forget a request's inputs and outputs (its result is gone).

A key ending `__invalid_key` gets 401; usage needs an admin-scoped key (`ledger.is_fal_admin`), 403
otherwise. A key sees only its own account's requests; another account's request id is a 404.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from .fal_api import _authenticate, _detail
from .ledger import Billed, is_fal_admin
from .wire import Incoming, Reply, json_reply

if TYPE_CHECKING:
    from .server import ProviderDouble

PREFIX = "/fal-platform/v1"
PAYLOADS = re.compile(rf"^{PREFIX}/models/requests/(?P<id>[^/]+)/payloads/?$")
MAX_LIMIT = 100


def _query(req: Incoming) -> dict[str, list[str]]:
    raw = parse_qs(req.query)
    return {name: [v for value in values for v in value.split(",") if v] for name, values in raw.items()}


def _instant(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)


def _window(query: dict[str, list[str]], now: dt.datetime) -> tuple[dt.datetime, dt.datetime] | Reply:
    try:
        start = _instant(query["start"][0]) if "start" in query else now - dt.timedelta(days=1)
        end = _instant(query["end"][0]) if "end" in query else now
    except ValueError:
        return _detail(
            422, [{"loc": ["query", "start"], "msg": "Invalid ISO8601 date.", "type": "value_error"}]
        )
    return start, end


def _page(query: dict[str, list[str]], items: list[Any]) -> tuple[list[Any], dict[str, Any]]:
    try:
        offset = int(query.get("cursor", ["0"])[0])
        limit = max(1, min(int(query.get("limit", ["50"])[0]), MAX_LIMIT))
    except ValueError:
        offset, limit = 0, 50
    more = offset + limit < len(items)
    return items[offset : offset + limit], {
        "next_cursor": str(offset + limit) if more else None,
        "has_more": more,
    }


def _entries(
    double: ProviderDouble, key: str, query: dict[str, list[str]], window: tuple[dt.datetime, dt.datetime]
) -> list[Billed]:
    endpoints = set(query.get("endpoint_id", []))
    start, end = window
    return [
        e
        for e in double.billed("fal", double.account_of(key))
        if start <= e.at < end and (not endpoints or e.model in endpoints)
    ]


def usage(double: ProviderDouble, req: Incoming) -> Reply:
    """Answer GET /models/usage (time_series, one bucket per UTC day)."""
    key = _authenticate(req)
    if isinstance(key, Reply):
        return key
    if not is_fal_admin(key):
        return _detail(403, "This endpoint requires an Admin API key.")
    query = _query(req)
    window = _window(query, double.now())
    if isinstance(window, Reply):
        return window
    days: dict[dt.date, dict[tuple[str, int], list[int]]] = defaultdict(
        lambda: defaultdict(lambda: [0, 0, 0])
    )
    for entry in _entries(double, key, query, window):
        if entry.billed:
            row = days[entry.at.date()][(entry.model, entry.unit_price_nanousd)]
            row[0] += entry.megapixels
            row[1] += entry.amount_nanousd
            row[2] += 1
    buckets = [
        {
            "bucket": f"{day.isoformat()}T00:00:00Z",
            "results": [
                {
                    "endpoint_id": endpoint,
                    "unit": "megapixels",
                    "quantity": quantity,
                    "unit_price": price / 1e9,
                    "cost": cost / 1e9,
                    "currency": "USD",
                    "requests": count,
                }
                for (endpoint, price), (quantity, cost, count) in sorted(rows.items())
            ],
        }
        for day, rows in sorted(days.items())
    ]
    page, paging = _page(query, buckets)
    return json_reply(200, {"time_series": page, **paging})


def requests_by_endpoint(double: ProviderDouble, req: Incoming) -> Reply:
    """Answer GET /models/requests/by-endpoint (newest first)."""
    key = _authenticate(req)
    if isinstance(key, Reply):
        return key
    query = _query(req)
    if not query.get("endpoint_id"):
        return _detail(422, [{"loc": ["query", "endpoint_id"], "msg": "Field required", "type": "missing"}])
    window = _window(query, double.now())
    if isinstance(window, Reply):
        return window
    entries = sorted(_entries(double, key, query, window), key=lambda e: e.at, reverse=True)
    items = [
        {
            "request_id": e.request_id,
            "endpoint_id": e.model,
            "started_at": e.at.isoformat().replace("+00:00", "Z"),
            "sent_at": e.at.isoformat().replace("+00:00", "Z"),
            "ended_at": e.at.isoformat().replace("+00:00", "Z"),
            "status_code": e.status_code,
            "duration": 0.0,
        }
        for e in entries
    ]
    page, paging = _page(query, items)
    return json_reply(200, {"items": page, **paging})


def pricing(double: ProviderDouble, req: Incoming) -> Reply:
    """Answer GET /models/pricing."""
    key = _authenticate(req)
    if isinstance(key, Reply):
        return key
    endpoints = _query(req).get("endpoint_id", [])
    if not endpoints:
        return _detail(422, [{"loc": ["query", "endpoint_id"], "msg": "Field required", "type": "missing"}])
    prices = [
        {
            "endpoint_id": e,
            "unit_price": double.fal_price(e)[0] / 1e9,
            "unit": "megapixels",
            "currency": "USD",
        }
        for e in endpoints
        if e in double.fal_prices
    ]
    return json_reply(200, {"prices": prices, "next_cursor": None, "has_more": False})


def delete_payloads(double: ProviderDouble, req: Incoming) -> Reply:
    """Answer DELETE /models/requests/{id}/payloads."""
    key = _authenticate(req)
    if isinstance(key, Reply):
        return key
    match = PAYLOADS.match(req.path)
    assert match is not None
    request_id = match["id"]
    account = double.account_of(key)
    known = any(e.request_id == request_id for e in double.billed("fal", account))
    if not known:
        return _detail(404, "Request not found.")
    with double.lock:
        double.deleted_payloads.add(request_id)
    return json_reply(200, {"request_id": request_id, "deleted": True})


def _not_found(double: ProviderDouble, req: Incoming) -> Reply:
    return _detail(404, "Not found.")


def route(path: str, method: str) -> tuple[str, Callable[[ProviderDouble, Incoming], Reply]]:
    """Return the endpoint name and handler for a /fal-platform/v1/ request."""
    if method == "DELETE" and PAYLOADS.match(path):
        return "fal.delete_payloads", delete_payloads
    handlers = {
        f"{PREFIX}/models/usage": ("fal.usage", usage),
        f"{PREFIX}/models/requests/by-endpoint": ("fal.requests", requests_by_endpoint),
        f"{PREFIX}/models/pricing": ("fal.pricing", pricing),
    }
    if method == "GET" and path.rstrip("/") in handlers:
        return handlers[path.rstrip("/")]
    return "unknown", _not_found

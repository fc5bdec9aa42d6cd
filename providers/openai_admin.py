"""OpenAI's Admin API, read with an organisation's Admin key (`sk-admin-…`): costs and image usage.

- `GET /organization/costs`: money per UTC day (`bucket_width=1d`), grouped by line item and project.
  The only endpoint that reports money; it cannot be grouped by key.
- `GET /organization/usage/images`: images and requests per day, grouped by model, size, source,
  project and `api_key_id` (the key's id at OpenAI, never the key).
- `GET /organization/projects?limit=1`: the free check that a key is an Admin key (a project key gets
  401 or 403 here).

Shapes from OpenAI's published reference [unverified against the live API]: pages of `data` buckets
(`start_time`, `results`), followed with `page=<next_page>` while `has_more`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from . import report_http
from .base import ErrorKind, KeyCheck, ProviderError, gettext_noop, setting
from .usage import CostLine, UsageLine, day_start, instant, integer, nanousd, text

DEFAULT_BASE_URL = "https://api.openai.com/v1"
LABEL = "OpenAI"
ADMIN_PREFIX = "sk-admin-"
PAGE_LIMIT = 31  # daily buckets per page (the API's maximum for 1d buckets)

ADMIN_KEY_ACCEPTED = gettext_noop("OpenAI accepted this Admin key.")
ADMIN_KEY_REJECTED = gettext_noop("OpenAI rejected this key (HTTP 401).")
NOT_AN_ADMIN_KEY = gettext_noop(
    "OpenAI accepted this key but it cannot read the organisation's usage: use an Admin key."
)
ADMIN_KEY_UNCHECKED = gettext_noop("OpenAI could not check the key ({kind}).")
# What this module writes for a reader, translated where shown (providers/sentences.py).
SENTENCES = (ADMIN_KEY_ACCEPTED, ADMIN_KEY_REJECTED, NOT_AN_ADMIN_KEY, ADMIN_KEY_UNCHECKED)


def _base(base_url: str | None) -> str:
    return (base_url or setting("OPENAI_BASE_URL", DEFAULT_BASE_URL) or DEFAULT_BASE_URL).rstrip("/")


def _pages(
    secret: str, path: str, params: dict[str, Any], *, base_url: str | None, timeout: float
) -> Iterator[dict[str, Any]]:
    """Yield each bucket of every page of a report."""
    url = f"{_base(base_url)}{path}"
    page: str | None = None
    for _ in range(report_http.MAX_PAGES):
        query = {**params, **({"page": page} if page else {})}
        body = report_http.json_object(
            report_http.request(
                "GET", url, secret=secret, auth="Bearer", label=LABEL, params=query, timeout=timeout
            ),
            LABEL,
        )
        data = body.get("data")
        if not isinstance(data, list):
            raise ProviderError(ErrorKind.BAD_RESPONSE, "OpenAI sent a report without data.")
        yield from (bucket for bucket in data if isinstance(bucket, dict))
        page = text(body.get("next_page"))
        if not body.get("has_more") or not page:
            return
    raise ProviderError(ErrorKind.BAD_RESPONSE, "OpenAI's report did not end after many pages.")


def _window(start: dt.date, end: dt.date) -> dict[str, Any]:
    return {
        "start_time": int(day_start(start).timestamp()),
        "end_time": int(day_start(end).timestamp()),
        "bucket_width": "1d",
        "limit": PAGE_LIMIT,
    }


def _results(bucket: dict[str, Any]) -> tuple[dt.date | None, list[dict[str, Any]]]:
    when = instant(bucket.get("start_time"))
    results = bucket.get("results")
    rows = [row for row in results if isinstance(row, dict)] if isinstance(results, list) else []
    return (when.date() if when else None), rows


def costs(
    secret: str, *, start: dt.date, end: dt.date, base_url: str | None = None, timeout: float = 30.0
) -> tuple[list[CostLine], int]:
    """Return the money billed per UTC day in [start, end), by line item and project; and entries skipped."""
    params = {**_window(start, end), "group_by": ["line_item", "project_id"]}
    lines, skipped = [], 0
    for bucket in _pages(secret, "/organization/costs", params, base_url=base_url, timeout=timeout):
        day, rows = _results(bucket)
        for row in rows:
            amount = row.get("amount")
            value = nanousd(amount.get("value")) if isinstance(amount, dict) else None
            currency = text(amount.get("currency")).lower() if isinstance(amount, dict) else ""
            if day is None or value is None or currency not in ("", "usd"):
                skipped += 1
                continue
            lines.append(CostLine(day, text(row.get("line_item")), value, text(row.get("project_id"))))
    return lines, skipped


def image_usage(
    secret: str, *, start: dt.date, end: dt.date, base_url: str | None = None, timeout: float = 30.0
) -> tuple[list[UsageLine], int]:
    """Return images and requests per UTC day in [start, end), by model, size, source, key and project."""
    params = {**_window(start, end), "group_by": ["model", "size", "source", "api_key_id", "project_id"]}
    lines, skipped = [], 0
    for bucket in _pages(secret, "/organization/usage/images", params, base_url=base_url, timeout=timeout):
        day, rows = _results(bucket)
        for row in rows:
            images, requests = integer(row.get("images")), integer(row.get("num_model_requests"))
            if day is None or images is None or requests is None:
                skipped += 1
                continue
            lines.append(
                UsageLine(
                    day=day,
                    model=text(row.get("model")),
                    requests=requests,
                    images=images,
                    key_id=text(row.get("api_key_id")),
                    project_id=text(row.get("project_id")),
                    size=text(row.get("size")),
                    source=text(row.get("source")),
                )
            )
    return lines, skipped


def check_admin_key(secret: str, *, base_url: str | None = None, timeout: float = 10.0) -> KeyCheck:
    """Ask for one project (free, Admin keys only): 200 an Admin key, 401 rejected, 403 not an Admin key."""
    url = f"{_base(base_url)}/organization/projects"
    try:
        report_http.request(
            "GET", url, secret=secret, auth="Bearer", label=LABEL, params={"limit": 1}, timeout=timeout
        )
    except ProviderError as exc:
        if exc.kind is ErrorKind.INVALID_KEY:
            return KeyCheck("invalid", ADMIN_KEY_REJECTED)
        if exc.kind in (ErrorKind.FORBIDDEN, ErrorKind.NOT_FOUND):
            return KeyCheck("forbidden", NOT_AN_ADMIN_KEY)
        return KeyCheck("unreachable", ADMIN_KEY_UNCHECKED.format(kind=exc.kind.value))
    return KeyCheck("valid", ADMIN_KEY_ACCEPTED)

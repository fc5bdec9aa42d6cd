"""The double's OpenAI Admin API: organisation costs, image usage and projects, from its books.

`GET /v1/organization/costs` and `GET /v1/organization/usage/images` in daily buckets
(`bucket_width=1d` only), grouped as asked, paged with `page` / `next_page`; `GET
/v1/organization/projects`. Only Admin keys (`sk-admin-…`) are accepted: a project key gets 403, as with
the real API, and a key ending `__invalid_key` 401. An admin key reads its own organisation only.
Line items are "<model>, input" and "<model>, output".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from .ledger import Billed, api_key_id, is_openai_admin
from .openai_api import authenticate, error
from .wire import Incoming, Reply, json_reply, key_fault

if TYPE_CHECKING:
    from .server import ProviderDouble

DAY = 86_400
MAX_BUCKETS = 31


def _admin(req: Incoming) -> str | Reply:
    key = authenticate(req)
    if isinstance(key, Reply):
        return key
    if key_fault(key) == "invalid_key":
        return error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
    if not is_openai_admin(key):
        return error(
            403,
            "You have insufficient permissions for this operation. Missing scopes: api.usage.read. "
            "Use an Admin API key.",
            "invalid_request_error",
        )
    return key


def _query(req: Incoming) -> dict[str, list[str]]:
    raw = parse_qs(req.query)
    # `group_by[]=a&group_by[]=b`, `group_by=a&group_by=b` and `group_by=a,b` are read alike.
    return {
        name.removesuffix("[]"): [v for value in values for v in value.split(",")]
        for name, values in raw.items()
    }


def _window(query: dict[str, list[str]]) -> tuple[int, int, int, int] | Reply:
    """Return (start, end, first bucket index, limit) or a 400."""
    try:
        start = int(query["start_time"][0])
        end = int(query.get("end_time", [str(start + MAX_BUCKETS * DAY)])[0])
        limit = min(int(query.get("limit", ["7"])[0]), MAX_BUCKETS)
        offset = int(query.get("page", ["page_0"])[0].removeprefix("page_"))
    except (KeyError, ValueError, IndexError):
        return error(400, "start_time is required (Unix seconds).", "invalid_request_error", "invalid_value")
    if query.get("bucket_width", ["1d"])[0] != "1d":
        return error(400, "The double serves bucket_width=1d only.", "invalid_request_error", "invalid_value")
    if end <= start or limit < 1:
        return error(400, "end_time must be after start_time.", "invalid_request_error", "invalid_value")
    return start, end, offset, limit


Rows = Callable[[list[Billed], list[str]], list[dict[str, Any]]]


def _report(double: ProviderDouble, req: Incoming, rows: Rows) -> Reply:
    key = _admin(req)
    if isinstance(key, Reply):
        return key
    query = _query(req)
    window = _window(query)
    if isinstance(window, Reply):
        return window
    start, end, offset, limit = window
    group_by = query.get("group_by", [])
    entries = [e for e in double.billed("openai", double.account_of(key)) if e.billed]
    starts = list(range(start - start % DAY, end, DAY))
    page = starts[offset : offset + limit]
    data = []
    for bucket in page:
        inside = [
            e
            for e in entries
            if bucket <= e.at.timestamp() < bucket + DAY and start <= e.at.timestamp() < end
        ]
        data.append(
            {
                "object": "bucket",
                "start_time": bucket,
                "end_time": bucket + DAY,
                "results": rows(inside, group_by),
            }
        )
    more = offset + limit < len(starts)
    return json_reply(
        200,
        {
            "object": "page",
            "data": data,
            "has_more": more,
            "next_page": f"page_{offset + limit}" if more else None,
        },
    )


def _cost_rows(entries: list[Billed], group_by: list[str]) -> list[dict[str, Any]]:
    sums: dict[tuple[str | None, str | None], int] = defaultdict(int)
    for entry in entries:
        project = entry.project if "project_id" in group_by else None
        for part, amount in (("input", entry.input_nanousd), ("output", entry.output_nanousd)):
            item = f"{entry.model}, {part}" if "line_item" in group_by else None
            sums[(item, project)] += amount
    return [
        {
            "object": "organization.costs.result",
            "amount": {"value": amount / 1e9, "currency": "usd"},
            "line_item": item,
            "project_id": project,
        }
        for (item, project), amount in sorted(sums.items(), key=lambda kv: (kv[0][0] or "", kv[0][1] or ""))
    ]


GROUPS: dict[str, Callable[[Billed], str | None]] = {
    "model": lambda e: e.model,
    "size": lambda e: e.size,
    "source": lambda e: "image.generation",
    "api_key_id": lambda e: api_key_id(e.key),
    "project_id": lambda e: e.project,
    "user_id": lambda e: None,
}


def _usage_rows(entries: list[Billed], group_by: list[str]) -> list[dict[str, Any]]:
    sums: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0])
    for entry in entries:
        group = tuple(GROUPS[name](entry) if name in group_by else None for name in GROUPS)
        sums[group][0] += entry.images
        sums[group][1] += 1
    return [
        {
            "object": "organization.usage.images.result",
            "images": images,
            "num_model_requests": requests,
            **dict(zip(GROUPS, group, strict=True)),
        }
        for group, (images, requests) in sorted(sums.items(), key=lambda kv: [str(v) for v in kv[0]])
    ]


def costs(double: ProviderDouble, req: Incoming) -> Reply:
    """Answer GET /v1/organization/costs."""
    return _report(double, req, _cost_rows)


def usage_images(double: ProviderDouble, req: Incoming) -> Reply:
    """Answer GET /v1/organization/usage/images."""
    return _report(double, req, _usage_rows)


def projects(double: ProviderDouble, req: Incoming) -> Reply:
    """Answer GET /v1/organization/projects (the app's cheap check that a key is an Admin key)."""
    key = _admin(req)
    if isinstance(key, Reply):
        return key
    names = {e.project for e in double.billed("openai", double.account_of(key))} | {"proj_default"}
    data = [
        {
            "id": name,
            "object": "organization.project",
            "name": name,
            "created_at": 1700000000,
            "status": "active",
        }
        for name in sorted(names)
    ]
    return json_reply(200, {"object": "list", "data": data, "has_more": False})


def _not_found(double: ProviderDouble, req: Incoming) -> Reply:
    return error(404, f"Invalid URL ({req.method} {req.path})", "invalid_request_error")


def route(path: str, method: str) -> tuple[str, Callable[[ProviderDouble, Incoming], Reply]]:
    """Return the endpoint name and handler for an /v1/organization/ request."""
    handlers = {
        "/v1/organization/costs": ("openai.costs", costs),
        "/v1/organization/usage/images": ("openai.usage_images", usage_images),
        "/v1/organization/projects": ("openai.projects", projects),
    }
    if method == "GET" and path.rstrip("/") in handlers:
        return handlers[path.rstrip("/")]
    return "unknown", _not_found

"""HTTP for the providers' admin endpoints (usage reports, pricing, payload deletion), through httpx.

One pooled client per process; the key goes in a header per request and nowhere else. Every failure
becomes a `ProviderError` whose message is sanitized (the key and anything key-shaped masked) and
raised `from None`, so no request, header or raw body is chained into a traceback.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from .base import ErrorKind, ProviderError, parse_retry_after, require_key, sanitize
from .pool import PooledClient

CONNECT_TIMEOUT = 10.0
DEFAULT_TIMEOUT = 30.0
MAX_PAGES = 200  # a month of daily buckets is one or two pages; this only stops a provider that loops

_pool = PooledClient(httpx.Timeout(DEFAULT_TIMEOUT, connect=CONNECT_TIMEOUT))

Params = Mapping[str, str | int | Sequence[str]]


def _http() -> httpx.Client:
    return _pool.get()


def close_clients() -> None:
    """Close the pooled connections (worker shutdown, end of a test session)."""
    _pool.close()


def request(
    method: str,
    url: str,
    *,
    secret: str,
    auth: str,
    label: str,
    params: Params | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> httpx.Response:
    """Send one request with `Authorization: <auth> <secret>`; raise a sanitized ProviderError."""
    require_key(secret)
    headers = {"Authorization": f"{auth} {secret}"}
    try:
        response = _http().request(
            method,
            url,
            params=params,  # httpx sends a sequence as a repeated parameter
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(CONNECT_TIMEOUT, timeout)),
        )
    except httpx.TimeoutException:
        raise ProviderError(ErrorKind.TIMEOUT, f"{label} did not answer in time.") from None
    except httpx.HTTPError as exc:
        raise ProviderError(
            ErrorKind.CONNECTION, f"Could not connect to {label} ({type(exc).__name__})."
        ) from None
    if response.status_code >= 400:
        raise error_from(response, secret, label)
    return response


def json_object(response: httpx.Response, label: str) -> dict[str, Any]:
    """Return the JSON object of a response, or raise BAD_RESPONSE (without the body)."""
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        raise ProviderError(
            ErrorKind.BAD_RESPONSE, f"{label} sent a response that is not a JSON object.", status_code=200
        )
    return body


def _message(body: Any) -> str:
    """Return the provider's own error text: OpenAI's `error.message` or fal's `detail`."""
    if not isinstance(body, dict):
        return ""
    error = body.get("error")
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])
    detail = body.get("detail")
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        return "; ".join(str(item.get("msg", "")) for item in detail if isinstance(item, dict))
    return ""


KINDS = {
    401: ErrorKind.INVALID_KEY,
    403: ErrorKind.FORBIDDEN,
    404: ErrorKind.NOT_FOUND,
    408: ErrorKind.TIMEOUT,
    429: ErrorKind.RATE_LIMITED,
}


def error_from(response: httpx.Response, secret: str, label: str) -> ProviderError:
    """Map an error status to a ProviderError whose message never holds the key."""
    status = response.status_code
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        body = None
    detail = sanitize(_message(body), [secret])
    message = f"{label} answered HTTP {status}" + (f": {detail}" if detail else ".")
    kind = KINDS.get(status) or (ErrorKind.SERVER_ERROR if status >= 500 else ErrorKind.BAD_REQUEST)
    retry_after = parse_retry_after(response.headers) if status == 429 or status >= 500 else None
    return ProviderError(kind, message, retry_after=retry_after, status_code=status)

"""fal.ai's queue REST API through httpx: submit, poll, fetch, download, cancel.

`fal-client` hard-codes https hosts and reads FAL_KEY when given no key, so the app speaks the four
queue endpoints itself. Here the user's key goes only to the queue origin (submit, status, result,
cancel): status and result URLs come from fal's answer, so they are checked against that origin before
the key is attached, and image downloads from the public CDN never carry it. (After a generation, the
same key goes to fal's Platform API origin, FAL_PLATFORM_URL, to delete its payloads:
`providers/fal_platform.py`.)
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from .base import (
    ErrorKind,
    ImageRequest,
    ProviderError,
    ProviderImage,
    ProviderResult,
    parse_retry_after,
    require_key,
    sanitize,
    setting,
)
from .pool import PooledClient

logger = logging.getLogger(__name__)

DEFAULT_QUEUE_URL = "https://queue.fal.run"
DEFAULT_TIMEOUT = 120.0
CONNECT_TIMEOUT = 10.0
POLL_REQUEST_TIMEOUT = 15.0
MAX_POLL_INTERVAL = 5.0
MAX_IMAGE_BYTES = 64 * 1024 * 1024
# We download at once and keep our own copy, so fal's public CDN link need not outlive the hour.
CDN_TTL_SECONDS = 3600

# A fal request id: it ends up in URL paths, so it must look like an id and nothing more.
REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
# Failures before the request left this machine: fal never saw it. Anything else may have reached fal.
_NOT_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
    httpx.LocalProtocolError,
    httpx.ProxyError,
)

_pool = PooledClient(httpx.Timeout(DEFAULT_TIMEOUT, connect=CONNECT_TIMEOUT))


class StopRequested(Exception):
    """`wait_for_result`'s `stop` said to stop waiting; `status` is the request's last polled status."""

    def __init__(self, status: str | None) -> None:
        super().__init__(status)
        self.status = status


@dataclass(frozen=True)
class FalHandle:
    """Where to poll a queued request; saved so a restarted task polls instead of paying twice."""

    request_id: str
    status_url: str
    response_url: str
    cancel_url: str

    @classmethod
    def for_request_id(cls, app_id: str, request_id: str, base_url: str | None = None) -> FalHandle:
        """Rebuild the URLs of a request from its id, as fal builds them (without a path like `/edit`)."""
        base = _queue_url(base_url)
        app_root = "/".join(app_id.strip("/").split("/")[:2])
        prefix = f"{base}/{app_root}/requests/{request_id}"
        return cls(request_id, f"{prefix}/status", prefix, f"{prefix}/cancel")


def _queue_url(base_url: str | None) -> str:
    return (base_url or setting("FAL_QUEUE_URL", DEFAULT_QUEUE_URL) or DEFAULT_QUEUE_URL).rstrip("/")


def _http() -> httpx.Client:
    """Return the process-wide HTTP client (thread-safe; keys are passed per request)."""
    return _pool.get()


def close_clients() -> None:
    """Close the pooled connections (worker shutdown, end of a test session)."""
    _pool.close()


def _timeout(seconds: float | None) -> httpx.Timeout:
    value = float(seconds if seconds is not None else setting("PROVIDER_TIMEOUT_SECONDS", DEFAULT_TIMEOUT))
    return httpx.Timeout(value, connect=min(CONNECT_TIMEOUT, value))


def _auth(api_key: str) -> dict[str, str]:
    """Return fal's auth header (only ever sent to the queue origin)."""
    return {"Authorization": f"Key {api_key}"}


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _check_origin(url: str, base_url: str | None) -> None:
    """Refuse to send the key to a URL outside the queue's origin."""
    if _origin(url) != _origin(_queue_url(base_url)):
        raise ProviderError(ErrorKind.BAD_RESPONSE, "fal.ai returned a queue URL on an unexpected host.")


def _send(
    method: str,
    url: str,
    *,
    api_key: str,
    timeout: httpx.Timeout,
    json_body: Any = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """Send one request; raise ProviderError for network failures and error statuses."""
    all_headers = {**(headers or {}), **_auth(api_key)}
    try:
        response = _http().request(method, url, json=json_body, headers=all_headers, timeout=timeout)
    except httpx.TimeoutException as exc:
        raise ProviderError(
            ErrorKind.TIMEOUT, "fal.ai did not answer in time.", unanswered=not isinstance(exc, _NOT_SENT)
        ) from None
    except httpx.HTTPError as exc:
        # `from None` and no str(exc): keep request details out of tracebacks and messages.
        raise ProviderError(
            ErrorKind.CONNECTION,
            f"Could not connect to fal.ai ({type(exc).__name__}).",
            unanswered=not isinstance(exc, _NOT_SENT),
        ) from None
    if response.status_code >= 400:
        raise _error_from(response, api_key)
    return response


def _json(response: httpx.Response) -> dict[str, Any]:
    """Return the JSON object of a successful response, or raise BAD_RESPONSE."""
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        raise ProviderError(
            ErrorKind.BAD_RESPONSE,
            "fal.ai sent a response that is not a JSON object.",
            status_code=response.status_code,
        )
    return body


def submit(
    api_key: str,
    app_id: str,
    request: ImageRequest,
    *,
    base_url: str | None = None,
    timeout: float | None = None,
) -> FalHandle:
    """Queue one image; return the handle to poll (save its request_id before anything else)."""
    require_key(api_key)
    if request.n != 1:
        raise ValueError("fal's FLUX 2 apps make one image per request; submit once per image")
    payload = {
        "prompt": request.prompt,
        "image_size": {"width": request.width, "height": request.height},
        "output_format": "png" if request.output_format == "png" else "jpeg",
        "enable_safety_checker": True,
    }
    if request.references:
        payload["image_urls"] = reference_urls(request)
    # No `X-Fal-Store-IO: 0`: it stops fal keeping the result, and a task that resumes after a worker
    # crash must still fetch the result of a request fal already billed. Privacy is kept the other way:
    # once the images are stored and the charge recorded, the payloads are deleted at fal
    # (`fal_platform.delete_payloads`, a follow-up task; docs/providers.md).
    headers = {
        "X-Fal-Object-Lifecycle-Preference": json.dumps({"expiration_duration_seconds": CDN_TTL_SECONDS}),
    }
    url = f"{_queue_url(base_url)}/{app_id.strip('/')}"
    response = _send(
        "POST", url, api_key=api_key, timeout=_timeout(timeout), json_body=payload, headers=headers
    )
    body = _json(response)
    request_id = body.get("request_id")
    # The id ends up in URL paths when a task resumes, so it must look like an id and nothing more.
    if not isinstance(request_id, str) or not REQUEST_ID.fullmatch(request_id):
        raise ProviderError(
            ErrorKind.BAD_RESPONSE, "fal.ai accepted the request but sent no usable request id."
        )
    fallback = FalHandle.for_request_id(app_id, request_id, base_url)
    urls = [body.get(name) for name in ("status_url", "response_url", "cancel_url")]
    on_origin = [u for u in urls if isinstance(u, str) and _origin(u) == _origin(_queue_url(base_url))]
    if len(on_origin) != len(urls):
        logger.warning(
            "fal.ai sent queue URLs off its origin for request %s; using the documented paths", request_id
        )
        return fallback
    logger.info("fal.ai queued request %s on %s", request_id, app_id)
    return FalHandle(request_id, *on_origin)


def reference_urls(request: ImageRequest) -> list[str]:
    """Return the reference images as `data:` URIs, the way fal documents for small files [unverified
    for the FLUX 2 edit apps]. Our files are private: no public URL of them ever exists, and fal's own
    upload storage would publish them on its CDN. They are scaled to about 2 MP first (a few hundred KB)."""
    return [
        f"data:{ref.content_type};base64,{base64.b64encode(ref.data).decode('ascii')}"
        for ref in request.references
    ]


def wait_for_result(
    api_key: str,
    handle: FalHandle,
    *,
    deadline: float,
    poll_interval: float = 0.5,
    base_url: str | None = None,
    timeout: float | None = None,
    stop: Callable[[], bool] | None = None,
    on_status: Callable[[str, int | None], None] | None = None,
) -> ProviderResult:
    """Poll until the request completes or `deadline` (a time.monotonic() value) passes; return its images.

    `stop` is asked after each status that is not COMPLETED; when it answers True, StopRequested is
    raised with that status (the caller cancels the request). `on_status` gets each status that is not
    COMPLETED with its queue position (IN_QUEUE only), for the person watching.
    """
    require_key(api_key)
    for url in (handle.status_url, handle.response_url):
        _check_origin(url, base_url)
    request_timeout = float(timeout if timeout is not None else POLL_REQUEST_TIMEOUT)
    completed = False  # COMPLETED without an error: fal has billed it, whatever happens to the fetch
    ended = False  # fal reported COMPLETED (with or without an error): its final state is known
    try:
        status = _poll(api_key, handle, deadline, poll_interval, request_timeout, stop, on_status)
        ended = True
        completed = not status.get("error")
        response = _send(
            "GET", handle.response_url, api_key=api_key, timeout=_bounded(request_timeout, deadline, handle)
        )
        if status.get("error"):
            # COMPLETED with an error yet a readable result should not happen; treat it as a provider failure.
            error_type = sanitize(str(status.get("error_type") or "unknown"))
            raise ProviderError(ErrorKind.SERVER_ERROR, f"fal.ai reported a failure ({error_type}).")
        output = _json(response)
        images = output.get("images")
        if not isinstance(images, list) or not images or not all(isinstance(i, dict) for i in images):
            raise ProviderError(ErrorKind.BAD_RESPONSE, "fal.ai returned no images.")
        downloaded = [_download(image, deadline, request_timeout, handle) for image in images]
    except ProviderError as exc:
        # A 422 for the result is the request's own failure (a safety refusal, invalid input), which fal
        # does not bill; anything else after COMPLETED (a 429, a 5xx, the network) is only the fetch failing.
        refused = exc.status_code == 422
        raise _with_request_id(exc, handle, completed=completed and not refused, ended=ended) from None
    sizes = [{"width": image.get("width"), "height": image.get("height")} for image in images]
    logger.info("fal.ai request %s returned %d image(s)", handle.request_id, len(downloaded))
    return ProviderResult(images=downloaded, request_id=handle.request_id, usage={"images": sizes})


def _poll(
    api_key: str,
    handle: FalHandle,
    deadline: float,
    poll_interval: float,
    request_timeout: float,
    stop: Callable[[], bool] | None = None,
    on_status: Callable[[str, int | None], None] | None = None,
) -> dict[str, Any]:
    """Return the status once COMPLETED, backing off between polls; raise TIMEOUT at the deadline."""
    interval = poll_interval
    while True:
        timeout = _bounded(request_timeout, deadline, handle)
        status = _json(_send("GET", handle.status_url, api_key=api_key, timeout=timeout))
        if status.get("status") == "COMPLETED":
            return status
        if on_status is not None:
            on_status(*_status_of(status))
        if stop is not None and stop():
            raise StopRequested(str(status.get("status") or "") or None)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _timed_out(handle)
        time.sleep(min(interval, remaining))
        interval = min(interval * 1.5, MAX_POLL_INTERVAL)


def _status_of(status: dict[str, Any]) -> tuple[str, int | None]:
    """Return a status that is not COMPLETED as (its name, its queue position when IN_QUEUE)."""
    name = status.get("status")
    position = status.get("queue_position")
    shown = name if isinstance(name, str) and name.isupper() and len(name) <= 20 else "UNKNOWN"
    known = isinstance(position, int) and not isinstance(position, bool) and 0 <= position < 10**6
    return shown, position if shown == "IN_QUEUE" and known else None


def _bounded(seconds: float, deadline: float, handle: FalHandle) -> httpx.Timeout:
    """Return a per-request timeout that never runs past the deadline."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise _timed_out(handle)
    return _timeout(min(seconds, remaining))


def _timed_out(handle: FalHandle) -> ProviderError:
    return ProviderError(
        ErrorKind.TIMEOUT,
        "fal.ai did not finish the image before the deadline.",
        request_id=handle.request_id,
    )


def _with_request_id(exc: ProviderError, handle: FalHandle, *, completed: bool, ended: bool) -> ProviderError:
    return ProviderError(
        exc.kind,
        exc.message,
        retry_after=exc.retry_after,
        status_code=exc.status_code,
        request_id=handle.request_id,
        completed=completed,
        unanswered=exc.unanswered,
        ended=ended,
    )


def _download(image: dict[str, Any], deadline: float, seconds: float, handle: FalHandle) -> ProviderImage:
    """Fetch one output image from fal's public CDN at once (without the key); return its bytes as sent."""
    url = image.get("url")
    content_type = str(image.get("content_type") or "")
    if not isinstance(url, str):
        raise ProviderError(ErrorKind.BAD_RESPONSE, "fal.ai returned an image without a URL.")
    if url.startswith("data:"):
        return _decode_data_uri(url, content_type)
    if _origin(url)[0] not in {"http", "https"}:
        raise ProviderError(ErrorKind.BAD_RESPONSE, "fal.ai returned an image URL that cannot be fetched.")
    try:
        with _http().stream(
            "GET", url, timeout=_bounded(seconds, deadline, handle), follow_redirects=True
        ) as r:
            if r.status_code >= 400:
                kind = ErrorKind.SERVER_ERROR if r.status_code >= 500 else ErrorKind.BAD_RESPONSE
                raise ProviderError(kind, f"fal.ai's CDN answered HTTP {r.status_code} for the image.")
            chunks, size = [], 0
            for chunk in r.iter_bytes():
                size += len(chunk)
                if size > MAX_IMAGE_BYTES:
                    raise ProviderError(
                        ErrorKind.BAD_RESPONSE, "fal.ai's image is larger than any avatar can be."
                    )
                chunks.append(chunk)
            content_type = content_type or r.headers.get("content-type", "application/octet-stream")
    except httpx.TimeoutException:
        raise _timed_out(handle) from None
    except httpx.HTTPError as exc:
        raise ProviderError(
            ErrorKind.CONNECTION, f"Could not download the image from fal.ai ({type(exc).__name__})."
        ) from None
    return ProviderImage(b"".join(chunks), content_type.split(";")[0].strip())


def _decode_data_uri(url: str, content_type: str) -> ProviderImage:
    """Return the bytes of a `data:` URL (what fal sends in sync mode)."""
    header, _, data = url.partition(",")
    if not header.endswith(";base64"):
        raise ProviderError(ErrorKind.BAD_RESPONSE, "fal.ai returned an image data URL that is not base64.")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ProviderError(
            ErrorKind.BAD_RESPONSE, "fal.ai returned image data that is not base64."
        ) from None
    return ProviderImage(raw, content_type or header.removeprefix("data:").removesuffix(";base64"))


def cancel(
    api_key: str, handle: FalHandle, *, base_url: str | None = None, timeout: float | None = None
) -> bool:
    """Ask fal to cancel a queued request; return False when it had already finished."""
    require_key(api_key)
    _check_origin(handle.cancel_url, base_url)
    try:
        _send("PUT", handle.cancel_url, api_key=api_key, timeout=_timeout(timeout or POLL_REQUEST_TIMEOUT))
    except ProviderError as exc:
        if exc.status_code == 400:
            return False
        raise
    return True


def _detail_text(detail: Any) -> str:
    """Return fal's error detail as text (a string, or FastAPI's list of {msg, type})."""
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        return "; ".join(str(item.get("msg", "")) for item in detail if isinstance(item, dict))
    return ""


def _error_from(response: httpx.Response, api_key: str) -> ProviderError:
    """Map an error status to a ProviderError, per docs/providers.md's fal error table."""
    status = response.status_code
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        body = None
    detail = body.get("detail") if isinstance(body, dict) else None
    text = sanitize(_detail_text(detail), [api_key])
    message = f"fal.ai answered HTTP {status}" + (f": {text}" if text else ".")
    retry_after = None
    if status == 401:
        kind = ErrorKind.INVALID_KEY
    elif status == 403:
        lowered = text.lower()
        kind = ErrorKind.NO_CREDIT if "locked" in lowered or "balance" in lowered else ErrorKind.FORBIDDEN
    elif status == 404:
        kind = ErrorKind.NOT_FOUND
    elif (
        status == 422
        and isinstance(detail, list)
        and any(isinstance(item, dict) and item.get("type") == "content_policy_violation" for item in detail)
    ):
        # Matched on the type: fal's wording of the message changes.
        kind = ErrorKind.SAFETY
    elif status == 429:
        kind = ErrorKind.RATE_LIMITED
        retry_after = parse_retry_after(response.headers)
    elif status == 408:
        kind = ErrorKind.TIMEOUT
    elif status >= 500:
        kind = ErrorKind.SERVER_ERROR
        retry_after = parse_retry_after(response.headers)
    else:
        kind = ErrorKind.BAD_REQUEST
    return ProviderError(kind, message, retry_after=retry_after, status_code=status)

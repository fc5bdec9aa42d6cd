"""OpenAI Images through the official SDK, with the user's own key on every call.

One base client per process and base URL (building one costs ~16 ms and memory that is never freed);
each call borrows it with `with_options(api_key=…)`, which shares the connection pool. The SDK's own
retries are off: the Celery task owns retries, so a timeout is never silently turned into a second,
billed generation.
"""

from __future__ import annotations

import base64
import binascii
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import httpx2
import openai
from openai import Omit

from .base import (
    CONTENT_TYPES,
    ErrorKind,
    ImageRequest,
    KeyCheck,
    ProviderError,
    ProviderImage,
    ProviderResult,
    gettext_noop,
    parse_retry_after,
    require_key,
    sanitize,
    setting,
)

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_TIMEOUT = 120.0
CONNECT_TIMEOUT = 10.0
# The base client needs some key to be built; it is never sent because every call sets the user's key.
_PLACEHOLDER_KEY = "placeholder-never-sent"
# The SDK re-reads OPENAI_ORG_ID / OPENAI_PROJECT_ID / OPENAI_CUSTOM_HEADERS from the environment on every
# with_options(); per-request headers win over all of them, so an operator's variables can never attach
# the operator's organization, project or credentials to a user's request.
_AMBIENT_HEADERS = ("OpenAI-Organization", "OpenAI-Project")

KEY_ACCEPTED = gettext_noop("OpenAI accepted this key.")
KEY_REJECTED = gettext_noop("OpenAI rejected this key.")
KEY_CANNOT_LIST = gettext_noop("OpenAI accepted this key but it lacks permission to list models.")
KEY_UNCHECKED = gettext_noop("OpenAI could not check the key ({kind}). Try again later.")
KEY_CHECK_NOT_JSON = gettext_noop("OpenAI sent a response that is not JSON. Try again later.")
# What this module writes for a reader, translated where shown (providers/sentences.py).
SENTENCES = (KEY_ACCEPTED, KEY_REJECTED, KEY_CANNOT_LIST, KEY_UNCHECKED, KEY_CHECK_NOT_JSON)

_clients: dict[str, openai.OpenAI] = {}
_clients_lock = threading.Lock()


def _base_client(base_url: str) -> openai.OpenAI:
    """Return the process-wide client for a base URL, building it once."""
    with _clients_lock:
        client = _clients.get(base_url)
        if client is None:
            client = openai.OpenAI(
                api_key=_PLACEHOLDER_KEY,
                base_url=base_url,
                max_retries=0,
                timeout=httpx2.Timeout(DEFAULT_TIMEOUT, connect=CONNECT_TIMEOUT),
            )
            _clients[base_url] = client
        return client


def close_clients() -> None:
    """Close the pooled connections (worker shutdown, end of a test session)."""
    with _clients_lock:
        clients = list(_clients.values())
        _clients.clear()
    for client in clients:
        client.close()


def _client_for(
    api_key: str, base_url: str | None, timeout: float | None
) -> tuple[openai.OpenAI, dict[str, Any]]:
    """Return a per-call client carrying the user's key, and the headers that pin it."""
    require_key(api_key)
    # Never empty: the SDK would then take OPENAI_BASE_URL from the environment.
    base_url = base_url or setting("OPENAI_BASE_URL", DEFAULT_BASE_URL) or DEFAULT_BASE_URL
    seconds = float(timeout if timeout is not None else setting("PROVIDER_TIMEOUT_SECONDS", DEFAULT_TIMEOUT))
    deadline = httpx2.Timeout(seconds, connect=min(CONNECT_TIMEOUT, seconds))
    client = _base_client(base_url).with_options(api_key=api_key, timeout=deadline)
    headers: dict[str, Any] = {name: Omit() for name in _AMBIENT_HEADERS}
    headers["Authorization"] = f"Bearer {api_key}"
    return client, headers


def generate(
    api_key: str, request: ImageRequest, *, base_url: str | None = None, timeout: float | None = None
) -> ProviderResult:
    """Generate images with the user's key; raise ProviderError on any failure."""
    client, headers = _client_for(api_key, base_url, timeout)
    params = _params(request)
    result = _answer(api_key, request, lambda: client.images.generate(**params, extra_headers=headers))
    logger.info(
        "openai generated %d image(s) with %s (request %s)",
        len(result.images),
        request.model,
        result.request_id,
    )
    return result


def edit(
    api_key: str, request: ImageRequest, *, base_url: str | None = None, timeout: float | None = None
) -> ProviderResult:
    """Make images from `request.references` (the Images edit endpoint); raise ProviderError on failure.

    The SDK sends a list of images as multipart `image[]` parts. `input_fidelity` is sent only when the
    request carries it: gpt-image-2 does not take it (docs/providers.md).
    """
    if not request.references:
        raise ValueError("an edit needs at least one reference image")
    client, headers = _client_for(api_key, base_url, timeout)
    extension = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}
    files = [
        (f"reference-{i + 1}.{extension.get(ref.content_type, 'png')}", ref.data, ref.content_type)
        for i, ref in enumerate(request.references)
    ]
    params = _params(request)
    if request.input_fidelity is not None:
        params["input_fidelity"] = request.input_fidelity
    result = _answer(
        api_key, request, lambda: client.images.edit(image=files, **params, extra_headers=headers)
    )
    logger.info(
        "openai edited %d image(s) from %d reference(s) with %s (request %s)",
        len(result.images),
        len(files),
        request.model,
        result.request_id,
    )
    return result


def _answer(api_key: str, request: ImageRequest, send: Callable[[], Any]) -> ProviderResult:
    """Make one non-streamed call (generate or edit) and read its answer; raise ProviderError on failure."""
    try:
        response = send()
    except openai.OpenAIError as exc:
        # `from None`: the SDK exception holds the raw body and the request with its Authorization header.
        raise _error_from(exc, api_key) from None
    except ValueError:
        # The SDK lets a 200 whose body is not JSON escape as a JSONDecodeError (which holds the body).
        raise ProviderError(ErrorKind.BAD_RESPONSE, "OpenAI sent a response that is not JSON.") from None
    request_id = getattr(response, "_request_id", None)
    # Read before the images: a 200 was billed, and its usage prices it even if its images are broken.
    usage = _usage(response)
    try:
        images = _decode_images(response, request, request_id)
    except ProviderError as exc:
        exc.usage = usage
        raise
    return ProviderResult(images=images, request_id=request_id, usage=usage)


def _params(request: ImageRequest) -> dict[str, Any]:
    """Return the parameters of a generation or edit call (without streaming)."""
    params: dict[str, Any] = {
        "model": request.model,
        "prompt": request.prompt,
        "size": f"{request.width}x{request.height}",
        "n": request.n,
        "output_format": request.output_format,
    }
    if request.quality is not None:
        params["quality"] = request.quality
    if request.background is not None:
        params["background"] = request.background
    if request.safety_identifier is not None:
        params["safety_identifier"] = request.safety_identifier
    return params


def _decode_images(response: Any, request: ImageRequest, request_id: str | None) -> list[ProviderImage]:
    """Return the base64 images of a response, exactly as sent."""
    data = getattr(response, "data", None)
    if not isinstance(data, list) or not data:
        raise ProviderError(
            ErrorKind.BAD_RESPONSE, "OpenAI returned no images.", request_id=request_id, status_code=200
        )
    output_format = getattr(response, "output_format", None) or request.output_format
    content_type = CONTENT_TYPES.get(output_format, "application/octet-stream")
    images = []
    for item in data:
        b64 = getattr(item, "b64_json", None)
        if not isinstance(b64, str) or not b64:
            raise ProviderError(
                ErrorKind.BAD_RESPONSE, "OpenAI returned an image without data.", request_id=request_id
            )
        try:
            images.append(ProviderImage(base64.b64decode(b64, validate=True), content_type))
        except (binascii.Error, ValueError):
            raise ProviderError(
                ErrorKind.BAD_RESPONSE,
                "OpenAI returned image data that is not base64.",
                request_id=request_id,
            ) from None
    return images


def _usage(response: Any) -> dict[str, Any]:
    """Return the token usage exactly as OpenAI reported it (the app prices from it)."""
    usage = getattr(response, "usage", None)
    if usage is None:
        return {}
    if isinstance(usage, dict):
        return usage
    dumped: dict[str, Any] = usage.model_dump(mode="json", exclude_none=True)  # the SDK's pydantic model
    return dumped


def check_key(api_key: str, *, base_url: str | None = None, timeout: float = 10) -> KeyCheck:
    """Return whether OpenAI accepts the key, using the free model list."""
    try:
        client, headers = _client_for(api_key, base_url, timeout)
        client.models.list(extra_headers=headers)
    except ProviderError as exc:
        return KeyCheck("invalid", exc.message)
    except openai.AuthenticationError:
        return KeyCheck("invalid", KEY_REJECTED)
    except openai.PermissionDeniedError:
        return KeyCheck("forbidden", KEY_CANNOT_LIST)
    except openai.OpenAIError as exc:
        # 429s, 5xx, timeouts and a broken network say nothing about the key itself.
        error = _error_from(exc, api_key)
        return KeyCheck("unreachable", KEY_UNCHECKED.format(kind=error.kind.value))
    except ValueError:
        return KeyCheck("unreachable", KEY_CHECK_NOT_JSON)
    return KeyCheck("valid", KEY_ACCEPTED)


def _provider_message(exc: openai.APIStatusError) -> str:
    """Return OpenAI's own error message (not the raw body), if it sent one."""
    body = exc.body
    message = body.get("message") if isinstance(body, dict) else None
    return message if isinstance(message, str) else ""


# Failures before the request left this machine (the SDK chains the transport's exception): OpenAI never
# saw the request, so it cannot have billed it, and a retry is safe.
_NOT_SENT = (
    httpx2.ConnectError,
    httpx2.ConnectTimeout,
    httpx2.PoolTimeout,
    httpx2.UnsupportedProtocol,
    httpx2.LocalProtocolError,
    httpx2.ProxyError,
)


def _unanswered(exc: openai.APIConnectionError) -> bool:
    """Whether the request may have reached OpenAI (anything but a failure known to come before sending)."""
    return not isinstance(exc.__cause__, _NOT_SENT)


def _error_from(exc: openai.OpenAIError, api_key: str) -> ProviderError:
    """Map an SDK exception to a ProviderError, per docs/providers.md's OpenAI error table."""
    if isinstance(exc, openai.APITimeoutError):
        # APITimeoutError is an APIConnectionError: a connect timeout was never sent, a read timeout was.
        return ProviderError(ErrorKind.TIMEOUT, "OpenAI did not answer in time.", unanswered=_unanswered(exc))
    if isinstance(exc, openai.APIConnectionError):
        return ProviderError(
            ErrorKind.CONNECTION, "Could not connect to OpenAI.", unanswered=_unanswered(exc)
        )
    if isinstance(exc, openai.APIResponseValidationError):
        return ProviderError(
            ErrorKind.BAD_RESPONSE,
            "OpenAI sent a response that could not be read.",
            status_code=exc.status_code,
        )
    if not isinstance(exc, openai.APIStatusError):
        logger.warning("unexpected OpenAI SDK error %s", type(exc).__name__)
        return ProviderError(ErrorKind.BAD_RESPONSE, "OpenAI sent a response that could not be read.")

    status, code = exc.status_code, exc.code
    detail = sanitize(_provider_message(exc), [api_key])
    message = f"OpenAI answered HTTP {status}" + (f": {detail}" if detail else ".")
    retry_after = None
    if isinstance(exc, openai.AuthenticationError):
        kind = ErrorKind.INVALID_KEY
    elif isinstance(exc, openai.PermissionDeniedError):
        kind = ErrorKind.FORBIDDEN
    elif isinstance(exc, openai.NotFoundError):
        kind = ErrorKind.NOT_FOUND
    elif isinstance(exc, openai.BadRequestError):
        kind = ErrorKind.SAFETY if code == "moderation_blocked" else ErrorKind.BAD_REQUEST
    elif isinstance(exc, openai.RateLimitError):
        # Both are 429s; only the code tells "out of credit" (retrying is pointless) from "slow down".
        if code == "insufficient_quota" or exc.type == "insufficient_quota":
            kind = ErrorKind.NO_CREDIT
        else:
            kind = ErrorKind.RATE_LIMITED
            retry_after = parse_retry_after(exc.response.headers)
    elif status >= 500:
        kind = ErrorKind.SERVER_ERROR
    elif status == 408:
        kind = ErrorKind.TIMEOUT
    elif status == 409:
        kind = ErrorKind.SERVER_ERROR
    else:
        kind = ErrorKind.BAD_REQUEST
    return ProviderError(
        kind, message, retry_after=retry_after, status_code=status, request_id=exc.request_id
    )


# Streaming: partial images while OpenAI draws (`stream=True`, `partial_images`), then the final image.

STREAM_BROKE = "The connection to OpenAI broke while it was drawing."


def generate_streaming(
    api_key: str,
    request: ImageRequest,
    *,
    on_partial: Callable[[ProviderImage], None],
    base_url: str | None = None,
    timeout: float | None = None,
) -> ProviderResult:
    """Generate one image while streaming its partial images to `on_partial`; raise ProviderError.

    The final image and the usage come in the `image_generation.completed` event. A stream that breaks
    or ends before it (after OpenAI answered 200, so the request was sent and is being drawn) raises an
    `unanswered` error: possibly billed, never retried. `timeout` bounds the whole stream, not each read.
    """
    if request.n != 1 or not 1 <= request.partial_images <= 3:
        raise ValueError("streaming makes one image with 1 to 3 partial images")
    client, headers = _client_for(api_key, base_url, timeout)
    seconds = float(timeout if timeout is not None else setting("PROVIDER_TIMEOUT_SECONDS", DEFAULT_TIMEOUT))
    deadline = time.monotonic() + seconds
    params = {**_params(request), "stream": True, "partial_images": request.partial_images}
    try:
        stream = client.images.generate(**params, extra_headers=headers)
    except openai.OpenAIError as exc:
        raise _error_from(exc, api_key) from None  # refused before any event: as without streaming
    except ValueError:
        raise ProviderError(ErrorKind.BAD_RESPONSE, "OpenAI sent a response that is not JSON.") from None
    request_id = stream.response.headers.get("x-request-id")
    with stream:
        completed = _read_stream(stream, request, request_id, api_key, deadline, on_partial)
    usage = _usage(completed)
    try:
        images = _decode_images(_Completed(completed), request, request_id)
    except ProviderError as exc:
        exc.usage = usage  # the completed event was billed: its usage prices it
        raise
    logger.info("openai streamed 1 image with %s (request %s)", request.model, request_id)
    return ProviderResult(images=images, request_id=request_id, usage=usage)


def _read_stream(
    stream: Iterable[Any],
    request: ImageRequest,
    request_id: str | None,
    api_key: str,
    deadline: float,
    on_partial: Callable[[ProviderImage], None],
) -> Any:
    """Hand each partial image to `on_partial`; return the completed event, or raise `unanswered`."""
    content_type = CONTENT_TYPES.get(request.output_format, "application/octet-stream")
    try:
        for event in stream:
            kind = getattr(event, "type", None)
            if kind == "image_generation.completed":
                return event
            if kind == "image_generation.partial_image":
                partial = _partial(event, content_type)
                if partial is not None:
                    on_partial(partial)
            if time.monotonic() > deadline:
                raise ProviderError(
                    ErrorKind.TIMEOUT,
                    "OpenAI did not finish in time.",
                    request_id=request_id,
                    unanswered=True,
                )
    except openai.APITimeoutError:
        raise ProviderError(
            ErrorKind.TIMEOUT, "OpenAI stopped sending while it was drawing.", request_id=request_id,
            unanswered=True,
        ) from None  # fmt: skip
    except (openai.OpenAIError, ValueError) as exc:
        # A dropped connection, an error event, an event that is not JSON: after a 200 the request was
        # sent and OpenAI may finish (and bill) it anyway.
        logger.warning("openai stream of request %s broke: %s", request_id, type(exc).__name__)
        detail = sanitize(str(exc), [api_key]) if isinstance(exc, openai.APIError) else ""
        raise ProviderError(
            ErrorKind.CONNECTION, f"{STREAM_BROKE} {detail}".strip(), request_id=request_id, unanswered=True
        ) from None
    raise ProviderError(
        ErrorKind.CONNECTION, f"{STREAM_BROKE} It ended before the image.", request_id=request_id,
        unanswered=True,
    )  # fmt: skip


def _partial(event: Any, content_type: str) -> ProviderImage | None:
    """Return a partial image's bytes, or None when its data is not base64 (a preview is not worth failing)."""
    b64 = getattr(event, "b64_json", None)
    if not isinstance(b64, str) or not b64:
        return None
    try:
        return ProviderImage(base64.b64decode(b64, validate=True), content_type)
    except (binascii.Error, ValueError):
        return None


class _Completed:
    """A completed event seen as a response with one image, for `_decode_images`."""

    def __init__(self, event: Any) -> None:
        self.data = [event]
        self.output_format = getattr(event, "output_format", None)

"""Requests, replies and fault names shared by the double's OpenAI and fal handlers."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Every fault the double can inject; see server.py for where each one fires.
FAULTS = frozenset(
    {
        "invalid_key",
        "forbidden",
        "insufficient_quota",
        "moderation",
        "rate_limit",
        "server_error",
        "gateway_timeout",
        "completed_error",
        "unknown_model",
        "malformed",
        "bad_base64",
        "non_image",
        "truncated",
        "wrong_size",
        "slow",
        "reset",
        "stream_break",
    }
)

PROVIDERS = frozenset({"openai", "fal"})

NOT_AN_IMAGE = b"This is not an image. The provider double sent text where image bytes belong.\n" * 4


def key_fault(api_key: str) -> str | None:
    """Return the fault named by a key ending in `__<fault>`, so a browser demo can trigger faults."""
    _, sep, suffix = api_key.rpartition("__")
    return suffix if sep and suffix in FAULTS else None


@dataclass(frozen=True)
class Incoming:
    """One parsed HTTP request as the handlers see it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    host: str

    @property
    def base_url(self) -> str:
        # Absolute URLs use the Host the client dialled, so a double bound to 0.0.0.0 hands out usable URLs.
        return f"http://{self.host}"

    def credential(self, scheme: str) -> str | None:
        """Return the key sent as `Authorization: <scheme> <key>`, or None."""
        value = self.headers.get("authorization", "")
        prefix = f"{scheme} "
        if value[: len(prefix)].lower() == prefix.lower():
            key = value[len(prefix) :].strip()
            return key or None
        return None

    def json(self) -> Any:
        """Return the decoded JSON body; raise ValueError when it is not JSON."""
        return json.loads(self.body.decode("utf-8"))


@dataclass
class Reply:
    """What a handler wants sent back: a response, maybe after a delay, or a TCP reset."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    reset: bool = False
    # A server-sent event stream instead of `body`: (seconds after the request, what makes the chunk) in
    # order, sent chunked, each made while waiting for its moment; `break_stream` resets the connection
    # after the last chunk instead of ending the stream.
    events: list[tuple[float, Callable[[], bytes]]] | None = None
    break_stream: bool = False


def json_reply(status: int, payload: Any, **headers: str) -> Reply:
    """Return a JSON reply."""
    return Reply(status=status, body=json.dumps(payload).encode(), headers=dict(headers))


@dataclass(frozen=True)
class LoggedRequest:
    """One request as the double received it, including the raw Authorization header."""

    method: str
    path: str
    endpoint: str
    headers: dict[str, str]
    json: Any

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable form for GET /_double/requests."""
        return {
            "method": self.method,
            "path": self.path,
            "endpoint": self.endpoint,
            "headers": self.headers,
            "json": self.json,
        }

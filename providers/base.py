"""The small interface every provider client shares: requests, results and one error type.

Provider messages can echo part of the user's key (OpenAI's 401 shows `sk-proj-****…SJh4`) and carry
the user's prompt. Nothing raw leaves this package: every `ProviderError` message goes through
`sanitize`, and clients raise it `from None` so the SDK exception (request headers, raw body) is not
chained into tracebacks that Celery or Django would log.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from providers.redaction import redact


def gettext_noop(message: str) -> str:
    """Mark a sentence for translation without translating it (this package does not use Django).

    makemessages extracts every `gettext_noop("…")` literal into the catalogue; the app translates the
    sentence where it shows it (generation/stored_text.py), in the reader's language. Stored and logged as is.
    """
    return message


CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
MAX_MESSAGE_LENGTH = 300


class ErrorKind(StrEnum):
    INVALID_KEY = "invalid_key"
    FORBIDDEN = "forbidden"
    NO_CREDIT = "no_credit"
    SAFETY = "safety"
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    BAD_REQUEST = "bad_request"
    NOT_FOUND = "not_found"
    BAD_RESPONSE = "bad_response"  # malformed JSON, non-image bytes, truncated or wrongly sized images


RETRYABLE = frozenset(
    {ErrorKind.RATE_LIMITED, ErrorKind.SERVER_ERROR, ErrorKind.TIMEOUT, ErrorKind.CONNECTION}
)

USER_MESSAGES = {
    ErrorKind.INVALID_KEY: gettext_noop(
        "The provider rejected your API key. Re-enter the key on the API keys page."
    ),
    ErrorKind.FORBIDDEN: gettext_noop(
        "Your key lacks access to this model. Check the key's permissions (or verify your organization) "
        "at the provider, or choose another model."
    ),
    ErrorKind.NO_CREDIT: gettext_noop(
        "Your provider account is out of credit. Top up at the provider, then try again."
    ),
    ErrorKind.SAFETY: gettext_noop(
        "The request was rejected by the provider's safety system. Change the prompt and try again."
    ),
    ErrorKind.RATE_LIMITED: gettext_noop(
        "The provider is limiting how fast your key can be used. Try again in a minute."
    ),
    ErrorKind.SERVER_ERROR: gettext_noop("The provider had a temporary problem. Try again later."),
    ErrorKind.TIMEOUT: gettext_noop("The provider did not answer in time. Try again later."),
    ErrorKind.CONNECTION: gettext_noop("The provider could not be reached. Try again later."),
    ErrorKind.BAD_REQUEST: gettext_noop(
        "The provider refused these settings (size, quality or format). Change them and try again."
    ),
    ErrorKind.NOT_FOUND: gettext_noop(
        "The provider does not offer this model to your key. Choose another model."
    ),
    ErrorKind.BAD_RESPONSE: gettext_noop(
        "The provider sent back something that is not a usable image. Try again."
    ),
}


def sanitize(text: str, secrets: Iterable[str] = ()) -> str:
    """Return the text without the given secrets or anything key-shaped, trimmed to ~300 characters."""
    # One implementation of key-shaped masking for logs, stored errors and pages: providers.redaction.
    text = redact(str(text), secrets)
    text = " ".join(text.split())
    if len(text) > MAX_MESSAGE_LENGTH:
        text = text[: MAX_MESSAGE_LENGTH - 1].rstrip() + "…"
    return text


class ProviderError(Exception):
    """A failed provider call, with a message that is safe to store, log and show."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        retry_after: float | None = None,
        status_code: int | None = None,
        request_id: str | None = None,
        completed: bool = False,
        unanswered: bool = False,
        usage: dict[str, Any] | None = None,
        ended: bool = False,
    ) -> None:
        # Sanitized again here so a careless caller cannot store a key-shaped message.
        message = sanitize(message)
        super().__init__(message)
        self.kind = ErrorKind(kind)
        self.message = message
        self.retry_after = retry_after
        self.status_code = status_code
        self.request_id = request_id
        # The provider finished the request, so it billed it; only fetching what it made failed. Such a
        # request is fetched again, never submitted again (fal: a result stays readable after COMPLETED).
        self.completed = completed
        # The request left this machine and no answer came (a read timeout, a dropped connection): the
        # provider may be making, and billing, it anyway. Never retried; recorded as possibly charged.
        self.unanswered = unanswered
        # What the provider reported it billed, where an answer came but could not be used (a 200 whose
        # image data is broken): the charge is priced from it.
        self.usage = usage or {}
        # The provider had reported the request's final state (fal: COMPLETED, with or without an error)
        # when this failed. Before that, a failed status check says nothing about the request: it may
        # still run and bill, so it is polled again, never submitted again.
        self.ended = ended

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only arguments would otherwise be lost when the error is pickled between processes.
        return (self.__class__, (self.kind, self.message), self.__dict__)

    def __repr__(self) -> str:
        return f"ProviderError({self.kind.value!r}, {self.message!r})"

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE

    @property
    def user_message(self) -> str:
        """Return plain words on what happened and what to do."""
        return USER_MESSAGES[self.kind]


@dataclass(frozen=True)
class ImageRequest:
    model: str
    prompt: str
    width: int
    height: int
    quality: str | None = None
    background: str | None = None
    output_format: str = "png"
    n: int = 1
    safety_identifier: str | None = None
    # Reference images for an edit (adapters with Capability.EDIT); empty for text to image. Their
    # `width` and `height` are set: fal bills them as processed megapixels.
    references: tuple[ProviderImage, ...] = ()
    # Partial images to stream while drawing (adapters with Capability.STREAM); 0 for none.
    partial_images: int = 0
    # OpenAI's `input_fidelity` for edits, only for the models that take it (the catalog says which).
    input_fidelity: str | None = None


@dataclass(frozen=True)
class ProviderImage:
    data: bytes
    content_type: str
    width: int = 0  # known for references (what is sent); 0 where unknown
    height: int = 0

    def __repr__(self) -> str:
        return f"ProviderImage({self.content_type}, {len(self.data)} bytes)"


@dataclass(frozen=True)
class ProviderResult:
    images: list[ProviderImage]
    request_id: str | None
    usage: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class KeyCheck:
    status: Literal["valid", "invalid", "forbidden", "unreachable"]
    message: str


def require_key(api_key: object) -> None:
    """Refuse a missing or unusable key before anything is sent.

    Typed `object`, not `str`: this is the last guard before an SDK, so it checks the type at run time too
    (a None that slipped through must not reach one).
    """
    # An empty key must never reach an SDK: both fall back to OPENAI_API_KEY / FAL_KEY from the environment.
    if not isinstance(api_key, str) or not api_key.strip():
        raise ProviderError(ErrorKind.INVALID_KEY, "No API key was given.")
    if any(ch.isspace() or ord(ch) < 32 for ch in api_key):
        raise ProviderError(ErrorKind.INVALID_KEY, "The API key contains spaces or line breaks.")


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Return the wait the provider asked for, in seconds, from Retry-After(-ms) headers."""
    lowered = {k.lower(): v for k, v in headers.items()}
    raw_ms = lowered.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = lowered.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def setting[T](name: str, default: T) -> T:
    """Return a Django setting, or the default where Django is not configured (scripts, plain tests)."""
    try:
        from django.conf import settings
        from django.core.exceptions import ImproperlyConfigured
    except ImportError:
        return default
    try:
        return getattr(settings, name, default)
    except ImproperlyConfigured:
        return default

"""Mask provider keys wherever text leaves the process: log records, stored errors, pages.

Threat: a key pasted into a form, echoed by a provider error (OpenAI's 401 repeats part of it) or
carried in an Authorization header ends up in a log aggregator or an error page. Every log handler
runs this filter, and every provider error text goes through `redact` before it is logged,
stored or shown.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

MASK = "[redacted]"

_PATTERNS = [
    # Authorization header values: "Bearer <token>", and fal's "Key <id:secret>" (case-sensitive, so that
    # prose such as "PRIMARY KEY AUTOINCREMENT" survives).
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=:*\-…]{8,}"),
    re.compile(r"\bKey\s+(?=[^\s]*[0-9:])[A-Za-z0-9._~+/=:*\-…]{8,}"),
    # OpenAI keys, including the masked echo in 401 messages ("sk-proj-****…SJh4").
    re.compile(r"\bsk-[A-Za-z0-9_*\-…]{2,}"),
    # fal keys: "<uuid>:<hex secret>".
    re.compile(
        r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}:[0-9a-fA-F]{16,}\b"
    ),
]


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Return `text` with the given secrets and anything key-shaped masked."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    for pattern in _PATTERNS:
        text = pattern.sub(MASK, text)
    return text


class RedactSecretsFilter(logging.Filter):
    """Rewrite each record's message with secrets masked (attached to every handler)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not hide the record
            message = str(record.msg)
        cleaned = redact(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        return True

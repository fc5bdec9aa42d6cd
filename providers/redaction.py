"""Mask provider keys wherever text leaves the process: log records, stored errors, pages.

Threat: a key pasted into a form, echoed by a provider error (OpenAI's 401 repeats part of it) or
carried in an Authorization header ends up in a log aggregator, an error page or a database column.
Every log handler runs `RedactSecretsFilter`, and every provider error text goes through `redact`
(via `providers.base.sanitize`) before it is logged, stored or shown. This is the one
implementation of key-shaped masking; over-masking a message is cheap, leaking a key is not.
"""

from __future__ import annotations

import logging
import re
import urllib.parse
from collections.abc import Iterable

MASK = "[redacted]"

# The header or parameter that carries a credential, with its value (and the token after a scheme).
_CREDENTIAL_PARAMETER = re.compile(
    r"(?i)\b(authorization|x-api-key|api[-_]?key)(\s*[:=]\s*)[^\s,;]+(\s+[^\s,;]+)?"
)
# Key-shaped text: "Bearer <token>" in any case; fal's "Key <id:secret>" only capitalised and with a digit
# in the token, so that prose ("PRIMARY KEY AUTOINCREMENT", "Key ID and Secret") survives; OpenAI keys;
# fal keys ("<key id>:<hex secret>").
_KEY_SHAPED = [
    re.compile(r"(?i)\bbearer\s+[^\s,;\"'<>]{6,}"),
    re.compile(r"\bKey\s+(?=\S*\d)[^\s,;\"'<>]{6,}"),
    re.compile(r"\bsk-[\w\-*.…]+"),
    re.compile(r"\b[\w\-]{8,}:[0-9a-fA-F]{16,}\b"),
    # A fal key's secret on its own (32 hex digits); also masks other long hex, which is cheap.
    re.compile(r"\b[0-9a-fA-F]{32,}\b"),
]
_PATTERNS = [
    _CREDENTIAL_PARAMETER,
    *_KEY_SHAPED,
    # A key masked the way providers echo it ("sk-proj-****…SJh4"), and any other long opaque token.
    re.compile(r"\S*\*{3,}\S*"),
    re.compile(r"\b[\w\-]{40,}"),
]


def looks_like_key(text: str) -> bool:
    """Return whether `text` holds something shaped like a provider key (not merely a long word)."""
    return any(pattern.search(text) for pattern in _KEY_SHAPED)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Return `text` with the given secrets (also URL-encoded) and anything key-shaped masked."""
    text = str(text)
    for secret in secrets:
        if not secret:
            continue
        for form in {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}:
            text = text.replace(form, MASK)
    for pattern in _PATTERNS:
        text = pattern.sub(MASK, text)
    return text


class RedactSecretsFilter(logging.Filter):
    """Rewrite each record's message, traceback and stack with secrets masked (attached to every handler)."""

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
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        return True

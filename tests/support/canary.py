"""Search helpers for canary tests: every spelling a leaked key could take, and readers for each sink.

A canary test pushes recognisable fake keys through the app, then reads every place data ends up (the
database, logs, responses, the broker, files) and searches it with `hits`. A search that finds nothing
proves little unless it could have found something, so callers also check that each reader saw data
(non-secret markers such as an email address) and that the provider double's request log does hold the
keys (the positive control).
"""

from __future__ import annotations

import base64
import io
import json
import logging
import traceback
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from urllib.parse import quote, quote_plus

from django.contrib.messages.storage.cookie import CookieStorage
from django.db import connection
from django.http import HttpResponse
from django.test import RequestFactory

from providers.redaction import RedactSecretsFilter

# What a hint shows by design (docs/architecture.md §4): a provider prefix, the first 4 characters of a fal key id
# and the last 4 characters of the key. The rest of a key is its distinctive part.
KNOWN_PREFIXES = ("sk-proj-", "sk-svcacct-", "sk-admin-", "sk-")
DISTINCTIVE_MIN = 16


def distinctive_part(secret: str) -> str:
    """Return the part of a key no page may show: without its prefix, hint characters and fault suffix."""
    body = secret.partition("__")[0]
    body = next((body.removeprefix(p) for p in KNOWN_PREFIXES if body.startswith(p)), body)
    if ":" in body:  # fal: KEY_ID:KEY_SECRET; the hint shows 4 characters of the id
        body = body[4:]
    return body[:-4]


def spellings(secret: str) -> set[str]:
    """Return every form a leak could take: raw, URL-encoded, JSON-escaped, base64(url) at each offset.

    Base64 of text that contains the key encodes it starting at one of three alignments; at the right
    offset the key's whole 3-byte groups appear verbatim in the output. Pieces of the key's distinctive
    part catch a key that was cut, re-prefixed or partly masked.
    """
    forms = {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}
    raw = secret.encode()
    for offset in range(3):
        chunk = raw[offset:]
        chunk = chunk[: len(chunk) // 3 * 3]
        forms.add(base64.b64encode(chunk).decode())
        forms.add(base64.urlsafe_b64encode(chunk).decode())
    # Pieces of the distinctive part: any copy of 2 × DISTINCTIVE_MIN - 1 characters holds a whole piece.
    distinctive = distinctive_part(secret)
    for start in range(0, len(distinctive) - DISTINCTIVE_MIN + 1, DISTINCTIVE_MIN):
        forms.add(distinctive[start : start + DISTINCTIVE_MIN])
    return forms


def hits(haystack: str, secrets: Iterable[str]) -> list[str]:
    """Return the spellings of the secrets found in the text."""
    return sorted({form for secret in secrets for form in spellings(secret) if form in haystack})


def as_text(value: object) -> str:
    """Return bytes (and memoryviews) as latin-1 text, so every byte survives; anything else as str()."""
    if isinstance(value, memoryview):
        value = value.tobytes()
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return str(value)


def database_text() -> str:
    """Return every value of every column of every row of every table, as text."""
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608 (table names from introspection)
            for row in cursor.fetchall():
                chunks.append(f"{table}: " + " | ".join(as_text(value) for value in row))
    return "\n".join(chunks)


def response_text(response: HttpResponse) -> str:
    """Return a response's body, headers and cookies, with the signed messages cookie decoded."""
    body = b"".join(response.streaming_content) if response.streaming else response.content
    parts = [body.decode("utf-8", "replace"), f"status {response.status_code}"]
    parts += [f"{name}: {value}" for name, value in response.items()]
    parts.append(response.cookies.output())
    if "messages" in response.cookies and response.cookies["messages"].value:
        storage = CookieStorage(RequestFactory().get("/"))
        parts.append(repr(storage._decode(response.cookies["messages"].value)))
    return "\n".join(parts)


def all_loggers() -> list[logging.Logger]:
    """Return the root logger and every logger created so far."""
    return [logging.getLogger()] + [
        logger for logger in logging.root.manager.loggerDict.values() if isinstance(logger, logging.Logger)
    ]


@contextmanager
def every_log_record() -> Iterator[list[str]]:
    """Record every log record as it is created (before any filter), with every logger at DEBUG."""
    seen: list[str] = []
    make_record = logging.getLogRecordFactory()

    def recording_factory(*args, **kwargs) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        seen.append(f"{record.name} {record.levelname} {message} {record.args!r}")
        if record.exc_info:
            seen.append("".join(traceback.format_exception(*record.exc_info)))
        return record

    loggers = all_loggers()
    levels = {logger: logger.level for logger in loggers}
    disabled = logging.root.manager.disable
    logging.disable(logging.NOTSET)
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    debug_cursor = connection.force_debug_cursor
    connection.force_debug_cursor = True  # SQL with its parameters at DEBUG, too
    logging.setLogRecordFactory(recording_factory)
    try:
        yield seen
    finally:
        logging.setLogRecordFactory(make_record)
        connection.force_debug_cursor = debug_cursor
        for logger, level in levels.items():
            logger.setLevel(level)
        logging.disable(disabled)


@contextmanager
def project_handler_output() -> Iterator[io.StringIO]:
    """Send the project's (filtered) log handlers' formatted output to a buffer as well."""
    buffer = io.StringIO()
    handlers = {
        handler
        for logger in all_loggers()
        for handler in logger.handlers
        if isinstance(handler, logging.StreamHandler)
        and any(isinstance(f, RedactSecretsFilter) for f in handler.filters)
    }
    assert handlers, "the project's log handlers were not found"
    previous = {handler: handler.setStream(buffer) for handler in handlers}
    try:
        yield buffer
    finally:
        for handler, stream in previous.items():
            handler.setStream(stream)

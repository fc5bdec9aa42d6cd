"""The logging filter and `redact`: the one place where key-shaped text is masked."""

from __future__ import annotations

import io
import logging
import logging.config

import pytest
from django.conf import settings

from providers.base import sanitize
from providers.redaction import MASK, RedactSecretsFilter, redact
from tests.support.keys import FAL_KEY, OPENAI_KEY

LEAKS = [
    f"Authorization: Bearer {OPENAI_KEY}",
    "authorization: bearer abcdefghijklmnop",
    f"Authorization: Key {FAL_KEY}",
    f"sending Key {FAL_KEY} to fal",
    f"the key {OPENAI_KEY} was used",
    f"Incorrect API key provided: sk-proj-{'*' * 32}{OPENAI_KEY[-4:]}.",
    "svc token sk-svcacct-AbCdEf0123456789",
    f"fal said no to {FAL_KEY}",
    "x-api-key=abcdefghijklmnop0123",
    "token eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9eyJzdWIiOiIxMjM0NTY3ODkwIn0",
    f"the secret half {FAL_KEY.split(':')[1]} on its own",
]


def _capture(message: str, *args: object, exc: BaseException | None = None) -> str:
    """Return what a handler with the project's filter writes for one record."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecretsFilter())
    logger = logging.getLogger("tests.providers.redaction")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        if exc is None:
            logger.debug(message, *args)
        else:
            try:
                raise exc
            except type(exc):
                logger.exception(message, *args)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


@pytest.mark.parametrize("text", LEAKS)
def test_it_masks_credentials_and_key_shaped_strings(text):
    cleaned = redact(text)
    assert MASK in cleaned
    assert OPENAI_KEY not in cleaned
    assert FAL_KEY not in cleaned and FAL_KEY.split(":")[1] not in cleaned
    assert "sk-" not in cleaned and "****" not in cleaned


@pytest.mark.parametrize(
    "text",
    [
        "No user found for Key ID and Secret",
        "CREATE TABLE x (id integer NOT NULL PRIMARY KEY AUTOINCREMENT)",
        "provider key 63029ef4-ba57-4b87-900d-f74e3c383421 added (openai, valid)",
        "Rate limit reached, try again in 12s.",
        "Bearer auth",
    ],
)
def test_it_keeps_ordinary_text(text):
    assert redact(text) == text


def test_it_masks_given_secrets_even_when_they_are_not_key_shaped():
    assert redact("pw hunter2xyz and hunter2xyz%21", ["hunter2xyz!", "hunter2xyz"]) == f"pw {MASK} and {MASK}"


@pytest.mark.parametrize("text", LEAKS)
def test_the_filter_masks_messages_and_their_arguments(text):
    written = _capture("calling the provider with %s", text)
    assert MASK in written
    assert OPENAI_KEY not in written and FAL_KEY not in written


def test_the_filter_masks_tracebacks():
    written = _capture("the call failed", exc=RuntimeError(f"header was Bearer {OPENAI_KEY}"))
    assert "RuntimeError" in written
    assert OPENAI_KEY not in written


def test_every_configured_handler_has_the_filter():
    config = settings.LOGGING
    for name, handler in config["handlers"].items():
        assert "redact_secrets" in handler.get("filters", []), name
    assert config["filters"]["redact_secrets"]["()"] == "providers.redaction.RedactSecretsFilter"


def test_the_configured_console_handler_writes_no_key():
    console = next(
        h for h in logging.getLogger().handlers if any(isinstance(f, RedactSecretsFilter) for f in h.filters)
    )
    stream = io.StringIO()
    previous = console.setStream(stream)
    try:
        logging.getLogger("keys.test").warning("leaked %s and Key %s", OPENAI_KEY, FAL_KEY)
    finally:
        console.setStream(previous)
    assert "leaked [redacted] and [redacted]" in stream.getvalue()


def test_provider_sanitize_is_redact_plus_trimming():
    for text in LEAKS:
        assert sanitize(text) == " ".join(redact(text).split())
    assert len(sanitize("word " * 200)) <= 300


def test_celerys_own_task_logger_masks_keys_too(capsys):
    """Celery gives its task logger a handler of its own, outside LOGGING: it gets the filter as well."""
    from celery.utils.log import get_task_logger

    from aniavatar.celery import app

    stream = io.StringIO()
    app.log.setup_task_loggers(loglevel=logging.INFO, logfile=stream)
    logger = logging.getLogger("celery.task")
    try:
        get_task_logger("tests.providers.redaction.task").info("calling with %s", f"Bearer {OPENAI_KEY}")
    finally:
        handlers, logger.handlers = logger.handlers, []
        for handler in handlers:
            handler.close()
    written = stream.getvalue()
    assert "calling with" in written and MASK in written
    assert OPENAI_KEY not in written

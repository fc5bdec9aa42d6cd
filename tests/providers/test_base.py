"""The shared provider interface: sanitizing, error kinds, Retry-After."""

from __future__ import annotations

import email.utils
import pickle
import time

import pytest

from providers import RETRYABLE, ErrorKind, ProviderError, sanitize
from providers.base import USER_MESSAGES, parse_retry_after
from tests.support.keys import FAL_KEY, OPENAI_KEY


@pytest.mark.parametrize(
    "text",
    [
        f"Incorrect API key provided: {OPENAI_KEY}.",
        f"Incorrect API key provided: sk-proj-{'*' * 40}{OPENAI_KEY[-4:]}. You can find it.",
        "Incorrect API key provided: sk-abc***********xyz9.",
        f"Authorization: Bearer {OPENAI_KEY}",
        f"header Authorization: Key {FAL_KEY}",
        f"fal key {FAL_KEY} was refused",
        "Bearer abc123def456ghi",
        "svc token sk-svcacct-AbCdEf0123456789",
    ],
)
def test_sanitize_removes_anything_key_shaped(text: str) -> None:
    cleaned = sanitize(text)
    assert "sk-" not in cleaned
    assert "****" not in cleaned
    assert OPENAI_KEY[-4:] not in cleaned and "xyz9" not in cleaned
    assert FAL_KEY not in cleaned and FAL_KEY.split(":")[1] not in cleaned
    assert "[redacted]" in cleaned


def test_sanitize_removes_given_secrets_even_when_not_key_shaped() -> None:
    cleaned = sanitize("your password hunter2 and hunter2%21 leaked", ["hunter2", "hunter2!"])
    assert "hunter2" not in cleaned


def test_sanitize_keeps_ordinary_messages_readable() -> None:
    message = "No user found for Key ID and Secret"
    assert sanitize(message) == message
    assert sanitize("Rate limit reached, try again in 12s.") == "Rate limit reached, try again in 12s."


def test_sanitize_truncates_long_text() -> None:
    cleaned = sanitize("word " * 200)
    assert len(cleaned) <= 300
    assert cleaned.endswith("…")


def test_provider_errors_sanitize_their_own_message() -> None:
    error = ProviderError(ErrorKind.INVALID_KEY, f"bad key {OPENAI_KEY}")
    assert OPENAI_KEY not in str(error)
    assert OPENAI_KEY not in repr(error)


def test_only_transient_kinds_are_retryable() -> None:
    assert {
        ErrorKind.RATE_LIMITED,
        ErrorKind.SERVER_ERROR,
        ErrorKind.TIMEOUT,
        ErrorKind.CONNECTION,
    } == RETRYABLE
    assert ProviderError(ErrorKind.TIMEOUT, "slow").retryable
    assert not ProviderError(ErrorKind.SAFETY, "no").retryable


def test_every_kind_has_a_distinct_user_message() -> None:
    assert set(USER_MESSAGES) == set(ErrorKind)
    assert len(set(USER_MESSAGES.values())) == len(ErrorKind)
    assert "Re-enter" in ProviderError(ErrorKind.INVALID_KEY, "x").user_message
    assert "Top up" in ProviderError(ErrorKind.NO_CREDIT, "x").user_message
    assert "Change the prompt" in ProviderError(ErrorKind.SAFETY, "x").user_message


def test_provider_errors_survive_pickling() -> None:
    error = ProviderError(
        ErrorKind.RATE_LIMITED, "slow down", retry_after=2.0, status_code=429, request_id="r1"
    )
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 (our own object)
    assert (copy.kind, copy.message, copy.retry_after, copy.status_code, copy.request_id) == (
        ErrorKind.RATE_LIMITED,
        "slow down",
        2.0,
        429,
        "r1",
    )


def test_retry_after_accepts_seconds_milliseconds_and_dates() -> None:
    assert parse_retry_after({"Retry-After": "3"}) == 3.0
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert parse_retry_after({}) is None
    assert parse_retry_after({"Retry-After": "soon"}) is None
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= parse_retry_after({"Retry-After": later}) <= 31  # type: ignore[operator]

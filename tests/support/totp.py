"""Authenticator-app codes for tests, at a frozen instant (allauth's TOTP module reads time.time())."""

from __future__ import annotations

import pytest
from allauth.mfa import app_settings as mfa_settings
from allauth.mfa.totp.internal import auth as totp_auth

from tests.support.clock import NOW, time_module

FROZEN = NOW.timestamp()


def freeze(monkeypatch: pytest.MonkeyPatch) -> float:
    """Stop the clock allauth's TOTP module reads at FROZEN (its rate limits and the cache keep theirs)."""
    monkeypatch.setattr(totp_auth, "time", time_module(time=lambda: FROZEN))
    return FROZEN


def totp_code(secret: str, at: float = FROZEN) -> str:
    """Return the code an authenticator app shows for the secret at that instant."""
    return totp_auth.format_hotp_value(totp_auth.hotp_value(secret, int(at) // mfa_settings.TOTP_PERIOD))

"""Rate limits of our own, on django-allauth's counters (the one place that calls its rate-limit API).

allauth limits what its flows do (logins, failed logins and codes, sign-ups per client address, reset
emails per address and per client address); the limits here add what it does not: sign-ups per address,
each of which costs an Argon2 hash and may send an email. Counters live in Django's cache (settings
CACHES), shared by every process. Rates read like allauth's: "3/h/key" is three per hour per key.
"""

from __future__ import annotations

from allauth.core.internal import ratelimit
from django.http import HttpRequest

from accounts.emails import email_key


def consume_per_address(request: HttpRequest, *, action: str, rate: str, address: str) -> bool:
    """Count one `action` for `address` (every spelling of it); False when its limit is used up."""
    usage = ratelimit.consume(
        request,
        app="accounts",
        config={action: rate},
        action=action,
        key=email_key(address),
    )
    return bool(usage)

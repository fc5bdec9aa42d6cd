"""Rate limits of our own, on django-allauth's counters (the one place that calls its rate-limit API).

allauth limits what its flows do (logins, failed logins and codes, sign-ups per client address, reset
emails per address and per client address); the limits here add what it does not: sign-ups per address,
each of which costs an Argon2 hash and may send an email. Counters live in Django's cache (settings
CACHES), shared by every process. Rates read like allauth's: "3/h/key" is three per hour per key.
"""

from __future__ import annotations

from allauth.core.internal import ratelimit
from django.http import HttpRequest, HttpResponse

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


def consume_per_client(request: HttpRequest, *, action: str, rate: str, dry_run: bool = False) -> bool:
    """Count one `action` for the client's address (accounts/throttle.py); False when its limit is used up.

    Also counts GET requests (allauth's counters skip them unless asked): an invitation link is opened
    with a GET. `dry_run` only asks whether one more would be allowed.
    """
    usage = ratelimit.consume(
        request,
        app="accounts",
        config={action: rate},
        action=action,
        limit_get=True,
        dry_run=dry_run,
    )
    return bool(usage)


def consume_per_user(request: HttpRequest, *, action: str, rate: str) -> bool:
    """Count one `action` for the signed-in user; False when its limit is used up."""
    usage = ratelimit.consume(
        request, app="accounts", config={action: rate}, action=action, user=request.user
    )
    return bool(usage)


def too_many(request: HttpRequest) -> HttpResponse:
    """The 429 page allauth's limits answer with (templates/429.html)."""
    response: HttpResponse = ratelimit.respond_429(request)
    return response

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings
from django.http import HttpRequest


def axes_username(request: HttpRequest, credentials: dict[str, Any] | None = None) -> str | None:
    """Return the login email, lower-cased, so "ALICE@…" and "alice@…" share one failure count.

    Django's AuthenticationForm passes the email as `email` (the USERNAME_FIELD) to authenticate() but
    the failure signal carries the form's `username` field: accept either.
    """
    username = None
    if credentials:
        username = credentials.get("email") or credentials.get("username")
    if username is None:
        username = getattr(request, "POST", {}).get("username")
    # django-axes stores it in a 255-character column: a longer one (the login field takes 320, and
    # lower-casing can lengthen it) made PostgreSQL refuse the failure record, a 500 instead of an error.
    return str(username).strip().lower()[:255] if username else None


def client_ip(request: HttpRequest) -> str | None:
    """Return the client's address for lockouts (AXES_CLIENT_IP_CALLABLE).

    Without proxies, the peer's address. Behind TRUSTED_PROXY_COUNT trusted proxies, the entry that many from
    the right of X-Forwarded-For: each proxy appends the address it saw, so the outermost one's entry is
    the client, and whatever the client itself sent further left is ignored (it could name anyone).
    """
    remote = request.META.get("REMOTE_ADDR")
    count = settings.TRUSTED_PROXY_COUNT
    if count <= 0:
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    if len(hops) < count:
        return remote
    try:
        # Only an address: a misconfigured count could pick text the client wrote (axes stores an inet).
        return str(ipaddress.ip_address(hops[-count]))
    except ValueError:
        return remote

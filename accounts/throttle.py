from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    """Return the client's address for rate limits (the account adapter's get_client_ip).

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
        # Only an address: a misconfigured count could pick text the client wrote.
        return str(ipaddress.ip_address(hops[-count]))
    except ValueError:
        return remote

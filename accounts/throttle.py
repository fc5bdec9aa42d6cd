from __future__ import annotations

from django.http import HttpRequest


def axes_username(request: HttpRequest, credentials: dict | None = None) -> str | None:
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

"""Users, workspaces and logged-in clients (the alice, bob and charlie fixtures are in tests/conftest.py)."""

from __future__ import annotations

import time

from allauth.account.internal.flows import login as login_flows
from django.test import Client

from accounts.models import Membership, User, Workspace

PASSWORD = "correct horse battery staple"


def workspace_of(user: User) -> Workspace:
    """Return the user's first workspace (the personal one for owners)."""
    return Membership.objects.filter(user=user).order_by("created_at").first().workspace


BACKEND = "allauth.account.auth_backends.AuthenticationBackend"


def sign_in(client: Client, user: User, *, reauthenticated: bool = False) -> Client:
    """Log `client` in as `user`, as if they had just typed their password.

    django-allauth keeps a record of how the session signed in (force_login() leaves none). It asks for
    the password again before two-factor changes unless the session re-entered it lately:
    `reauthenticated` says it did.
    """
    client.force_login(user, backend=BACKEND)
    session = client.session
    record = {"method": "password", "at": time.time(), "email": user.email}
    session[login_flows.AUTHENTICATION_METHODS_SESSION_KEY] = [
        {**record, "reauthenticated": True} if reauthenticated else record
    ]
    session[login_flows._AUTHENTICATION_METHODS_USER_SESSION_KEY] = str(user.pk)
    session.save()
    return client


def client_for(user: User) -> Client:
    """Return a test client logged in as `user`."""
    return sign_in(Client(), user)

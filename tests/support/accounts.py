"""Users, workspaces and logged-in clients (the alice, bob and charlie fixtures are in tests/conftest.py)."""

from __future__ import annotations

from django.test import Client

from accounts.models import Membership, User, Workspace

PASSWORD = "correct horse battery staple"


def workspace_of(user: User) -> Workspace:
    """Return the user's first workspace (the personal one for owners)."""
    return Membership.objects.filter(user=user).order_by("created_at").first().workspace


def client_for(user: User) -> Client:
    """Return a test client logged in as `user`."""
    client = Client()
    client.force_login(user, backend="allauth.account.auth_backends.AuthenticationBackend")
    return client

"""Shared fixtures: alice owns a workspace, bob is a member of it, charlie is another tenant."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import Membership, User, Workspace
from accounts.services import create_account

PASSWORD = "correct horse battery staple"


def workspace_of(user: User) -> Workspace:
    """Return the user's first workspace (the personal one for owners)."""
    return Membership.objects.filter(user=user).order_by("created_at").first().workspace


def client_for(user: User) -> Client:
    """Return a test client logged in as `user`."""
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


@pytest.fixture
def alice(db) -> User:
    return create_account(email="alice@example.com", password=PASSWORD, name="Alice")


@pytest.fixture
def bob(alice: User) -> User:
    user = User.objects.create_user(email="bob@example.com", password=PASSWORD, name="Bob")
    Membership.objects.create(user=user, workspace=workspace_of(alice), role=Membership.Role.MEMBER)
    return user


@pytest.fixture
def charlie(db) -> User:
    return create_account(email="charlie@example.com", password=PASSWORD, name="Charlie")


@pytest.fixture
def alice_client(alice: User) -> Client:
    return client_for(alice)


@pytest.fixture
def bob_client(bob: User) -> Client:
    return client_for(bob)


@pytest.fixture
def charlie_client(charlie: User) -> Client:
    return client_for(charlie)


@pytest.fixture(scope="session")
def _double_server():
    from provider_double.server import ProviderDouble
    from providers import fal_queue, openai_images

    with ProviderDouble() as double:
        yield double
    # Close pooled clients now, not at interpreter exit when logging's streams are already closed.
    openai_images.close_clients()
    fal_queue.close_clients()


@pytest.fixture
def double(_double_server, settings):
    """The provider double on loopback, reset for each test, with the app's base URLs pointed at it."""
    _double_server.reset()
    settings.OPENAI_BASE_URL = _double_server.openai_base_url
    settings.FAL_QUEUE_URL = _double_server.fal_queue_url
    settings.FAL_PLATFORM_URL = _double_server.fal_platform_url
    yield _double_server
    _double_server.reset()

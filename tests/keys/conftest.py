"""Key-vault fixtures: the provider double on loopback, master keys, and a helper that stores keys."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest

from accounts.models import User, Workspace
from keys import services
from keys.models import ProviderKey
from provider_double import ProviderDouble
from providers import fal_queue, openai_images

OPENAI_KEY = "sk-proj-VaultTestKey0123456789abcdefghijklmnopqrsAb3d"
FAL_KEY = "3f8a1c2e-1111-2222-3333-444455556666:0123456789abcdef0123456789ab9f0e"

# Version 1 is the one pyproject.toml's test environment sets; version 2 is a second master key.
MASTER_V1 = base64.b64encode(bytes(range(32))).decode()
MASTER_V2 = base64.b64encode(bytes(range(100, 132))).decode()


@pytest.fixture(scope="session")
def running_double() -> Iterator[ProviderDouble]:
    with ProviderDouble() as double:
        yield double
    for module in (openai_images, fal_queue):
        close = getattr(module, "close_clients", None)
        if close is not None:
            close()


@pytest.fixture
def double(running_double: ProviderDouble, settings) -> Iterator[ProviderDouble]:
    """Return the provider double, with OPENAI_BASE_URL and FAL_PLATFORM_URL (usage keys) pointing at it."""
    running_double.reset()
    settings.OPENAI_BASE_URL = running_double.openai_base_url
    settings.FAL_PLATFORM_URL = running_double.fal_platform_url
    yield running_double
    running_double.reset()


@pytest.fixture
def unreachable_openai(settings) -> None:
    # Nothing listens on port 1: the connection is refused at once.
    settings.OPENAI_BASE_URL = "http://127.0.0.1:1/v1"


def make_key(
    workspace: Workspace,
    user: User,
    *,
    provider: str = "fal",
    secret: str = FAL_KEY,
    label: str = "Test key",
) -> ProviderKey:
    """Store a key through the service (a fal key needs no provider call)."""
    return services.add_key(workspace=workspace, user=user, provider=provider, label=label, secret=secret)


def store_key(
    workspace: Workspace,
    user: User | None,
    *,
    provider: str = "openai",
    secret: str = OPENAI_KEY,
    label: str = "Stored key",
    status: str = ProviderKey.Status.VALID,
) -> ProviderKey:
    """Store a key without asking its provider (for states the double cannot produce on add)."""
    key = ProviderKey(workspace=workspace, created_by=user, provider=provider, label=label, status=status)
    services._seal(key, secret)
    key.save()
    return key

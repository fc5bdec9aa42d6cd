"""Fake provider keys and the ways tests store them.

The keys are fake but shaped like real ones and recognisable ("TestKey"), so a search for them in
logs, pages and rows finds any copy; the provider double accepts any well-formed key, and a `__fault`
suffix (e.g. `OPENAI_KEY + "__invalid_key"`) makes every call with it fail that way.
"""

from __future__ import annotations

import base64

from accounts.models import User
from keys import services
from keys.models import ProviderKey
from providers import ProviderError
from tests.support.accounts import workspace_of

# Their hints (sk-proj-…Tk42, 3f8a…9f0e) are not the example the Add key form shows (sk-proj-…Ab3d), so a
# page that shows a hint shows the key's, not the example.
OPENAI_KEY = "sk-proj-VaultTestKey0123456789abcdefghijklmnopqrsTk42"
FAL_KEY = "3f8a1c2e-1111-2222-3333-444455556666:0123456789abcdef0123456789ab9f0e"

# Version 1 is the master key pyproject.toml's test environment sets; version 2 is a second one.
MASTER_V1 = base64.b64encode(bytes(range(32))).decode()
MASTER_V2 = base64.b64encode(bytes(range(100, 132))).decode()


def fake_key(provider: str) -> str:
    return OPENAI_KEY if provider == "openai" else FAL_KEY


def make_key(
    user: User, provider: str, secret: str | None = None, *, label: str | None = None
) -> ProviderKey:
    """Add a key to the user's workspace through the vault, as the Add key form does.

    An OpenAI key is checked with the provider (use the `double` fixture); a fal key needs no call.
    """
    return services.add_key(
        workspace=workspace_of(user),
        user=user,
        provider=provider,
        label=label or f"{provider} test key",
        secret=secret or fake_key(provider),
    )


def store_key(
    user: User,
    provider: str,
    secret: str | None = None,
    *,
    label: str = "Stored key",
    status: str = ProviderKey.Status.VALID,
) -> ProviderKey:
    """Store a key in the user's workspace without asking its provider, in any status.

    For states the double cannot produce on add (a valid key whose later calls fail, an unverified one).
    """
    key = ProviderKey(
        workspace=workspace_of(user), created_by=user, provider=provider, label=label, status=status
    )
    services.seal(key, secret or fake_key(provider))
    key.save()
    return key


def assert_clean(error: ProviderError, *keys: str) -> None:
    """Assert that nothing of the keys survives in the error's texts."""
    for text in (error.message, str(error), repr(error), error.user_message):
        assert "****" not in text
        assert "sk-" not in text
        for key in keys:
            # The key itself and its distinctive tail (what OpenAI's masked echo shows); a `__fault` suffix
            # is the double's, not part of the secret.
            assert key not in text
            assert key.partition("__")[0][-4:] not in text

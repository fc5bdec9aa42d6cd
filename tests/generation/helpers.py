"""Helpers for generation tests: keys through the real vault, generations through the real service."""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import connections

from accounts.models import User
from generation import catalog, services
from generation.models import Generation
from keys import services as vault
from keys.models import ProviderKey
from tests.conftest import workspace_of

OPENAI_KEY = "sk-proj-testkey0123456789abcdefghijklmnopqrstuvwxyzABCD"
FAL_KEY = "0f8e7d6c-5b4a-4392-8170-6e5d4c3b2a19:9a8b7c6d5e4f30211203f4e5d6c7b8a9"


def make_key(user: User, provider: str, secret: str | None = None) -> ProviderKey:
    """Store a key through the vault (the double validates OpenAI keys)."""
    secret = secret or (OPENAI_KEY if provider == "openai" else FAL_KEY)
    return vault.add_key(
        workspace=workspace_of(user),
        user=user,
        provider=provider,
        label=f"{provider} test key",
        secret=secret,
    )


def start(
    user: User,
    key: ProviderKey,
    model_id: str,
    *,
    size: str | None = None,
    quality: str = "",
    n: int = 1,
    prompt: str = "A friendly portrait of Ana, a barista",
) -> Generation:
    """Queue a generation through the real service (its task is enqueued on commit)."""
    model = catalog.load().get(model_id)
    return services.start_generation(
        workspace=workspace_of(user),
        user=user,
        provider_key=key,
        model=model,
        prompt=prompt,
        size=size or model.sizes[0],
        quality=quality or ("low" if model.provider == "openai" else ""),
        n=n,
    )


def run_in_threads(target: Callable[..., object], args_list: list[tuple[object, ...]]) -> None:
    """Run `target` once per argument tuple, each in its own thread, and wait for all of them.

    Each thread closes its database connections when done: on PostgreSQL they are borrowed from the
    process's pool, and a thread that ends without handing them back leaves the pool short for good.
    """

    def run(*args: object) -> None:
        try:
            target(*args)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=args) for args in args_list]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

"""Generations through the real service, and a way to run the same work in several threads at once."""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import connections

from accounts.models import User
from generation import catalog, services
from generation.models import Generation
from keys.models import ProviderKey
from tests.support.accounts import workspace_of


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

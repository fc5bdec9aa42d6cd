"""Providers: the only code that knows provider URLs, payloads, prices' units and error shapes.

Layout:
- `base`: requests, results, the one error type (`ProviderError`, whose `kind` says what happened and
  whether a retry makes sense) and `sanitize`; `redaction`: key masking for every text that leaves.
- `adapter`: the seam (`Adapter`, `Call`, `Outcome`, `Quote`); `decisions`: the retry and billing
  verdicts as pure tables.
- `openai_images`, `fal_queue`: the wire clients; every call takes the user's key explicitly.
- `adapters/`: one module per provider, each with an `ADAPTER`; this registry finds them.

This package imports no app: keys and generation import it (accounts ← keys ← generation).
"""

from __future__ import annotations

import functools
import importlib
import pkgutil

from providers import adapters as _adapters_package
from providers.adapter import Adapter, Call, Capability, NotSupported, Outcome, Quote
from providers.base import (
    RETRYABLE,
    ErrorKind,
    ImageRequest,
    KeyCheck,
    ProviderError,
    ProviderImage,
    ProviderResult,
    sanitize,
)

__all__ = [
    "RETRYABLE",
    "Adapter",
    "Call",
    "Capability",
    "ErrorKind",
    "ImageRequest",
    "KeyCheck",
    "NotSupported",
    "Outcome",
    "ProviderError",
    "ProviderImage",
    "ProviderResult",
    "Quote",
    "UnknownProvider",
    "all_adapters",
    "choices",
    "close_all",
    "get",
    "names",
    "sanitize",
]


class UnknownProvider(LookupError):
    """No adapter has this name."""


@functools.cache
def _registry() -> dict[str, Adapter]:
    """Find every `providers.adapters.<module>.ADAPTER`, in their `order`."""
    found: list[Adapter] = []
    for info in pkgutil.iter_modules(_adapters_package.__path__):
        module = importlib.import_module(f"{_adapters_package.__name__}.{info.name}")
        adapter = getattr(module, "ADAPTER", None)
        if isinstance(adapter, Adapter):
            found.append(adapter)
    found.sort(key=lambda adapter: (adapter.order, adapter.name))
    names = [adapter.name for adapter in found]
    if len(set(names)) != len(names):
        raise RuntimeError(f"two provider adapters share a name: {names}")
    return {adapter.name: adapter for adapter in found}


def get(name: str) -> Adapter:
    """Return the adapter for a provider name as stored in rows; raise UnknownProvider."""
    try:
        return _registry()[name]
    except KeyError:
        raise UnknownProvider(name) from None


def all_adapters() -> list[Adapter]:
    return list(_registry().values())


def names() -> list[str]:
    return list(_registry())


def choices() -> list[tuple[str, str]]:
    """Return (name, label) pairs for forms."""
    return [(adapter.name, adapter.label) for adapter in _registry().values()]


def close_all() -> None:
    """Close every adapter's pooled connections (worker shutdown, end of a test session)."""
    for adapter in _registry().values():
        adapter.close()

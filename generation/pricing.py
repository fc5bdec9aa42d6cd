"""Exact money: quotes before the click (each provider's adapter prices in its own units).

All amounts are integer nano-dollars (1 USD = 10**9): every catalog price is a whole number of
nano-dollars per token or per megapixel, so a cost is exact integer arithmetic, never a float. Costs
after the call come from the adapter too (`Adapter.cost`, from what the provider reported).
"""

from __future__ import annotations

from decimal import Decimal

import providers
from generation.catalog import Model, parse_size
from providers.adapter import Quote

NANO = 10**9

__all__ = ["NANO", "Quote", "format_usd", "quote", "to_usd"]


def quote(model: Model, *, size: str, quality: str | None, n: int, prompt: str) -> Quote:
    """Return the price before the click from the model's provider: exact, or a true upper bound."""
    width, height = parse_size(size)
    adapter = providers.get(model.provider)
    return adapter.quote(model, width=width, height=height, quality=quality, n=n, prompt=prompt)


def to_usd(amount_nanousd: int) -> Decimal:
    return Decimal(amount_nanousd) / NANO


def format_usd(amount_nanousd: int | None) -> str:
    """Return "$0.011095": exact (to the nano-dollar), at least cents, trailing zeros dropped past cents."""
    if amount_nanousd is None:
        return "unknown"
    value = to_usd(amount_nanousd).quantize(Decimal("0.000000001"))
    text = f"{value:f}".rstrip("0")
    whole, _, frac = text.partition(".")
    return f"${whole}.{frac.ljust(2, '0')}"

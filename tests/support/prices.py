"""The catalog's prices, for tests that are not about prices: a price edit in catalog.toml must not break them.

Tests about pricing itself (tests/generation/test_pricing.py) keep their literal expectations.
"""

from __future__ import annotations

from typing import Any

from generation import catalog, money, pricing

FLUX_MAX = "fal-ai/flux-2-max"


def unit_prices(model_id: str) -> dict[str, Any]:
    """Return the model's unit prices (nano-USD per token for OpenAI, per megapixel for fal)."""
    return catalog.load().get(model_id).price


def fal_image(model_id: str = FLUX_MAX, size: str = "1024x1024") -> int:
    """Return the exact price of one fal image of `size`, in nano-USD (fal's quote is exact)."""
    model = catalog.load().get(model_id)
    quote = pricing.quote(model, size=size, quality=None, n=1, prompt="")
    assert quote.exact, model_id
    return quote.amount_nanousd


def usd(amount_nanousd: int) -> str:
    """Return the amount as the pages show it ("$0.07")."""
    return money.format_usd(amount_nanousd)

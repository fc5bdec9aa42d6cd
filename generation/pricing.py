"""Quotes before the click: each provider's adapter prices in its own units.

All amounts are integer nano-dollars (1 USD = 10**9): every catalog price is a whole number of
nano-dollars per token or per megapixel, so a cost is exact integer arithmetic, never a float. Costs
after the call come from the adapter too (`Adapter.cost`, from what the provider reported); money is
converted and shown by `generation.money` alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import providers
from generation.catalog import Model, parse_size
from providers.adapter import Quote

__all__ = ["Quote", "quote"]


def quote(
    model: Model,
    *,
    size: str,
    quality: str | None,
    n: int,
    prompt: str,
    partial_images: int = 0,
    references: Sequence[tuple[int, int]] = (),
) -> Quote:
    """Return the price before the click from the model's provider: exact, or a true upper bound.

    `partial_images`: streamed previews asked for (generation.previews.partial_images), priced too.
    `references`: the reference images' sizes as they will be sent (`generation.references.send_size`).
    """
    width, height = parse_size(size)
    adapter = providers.get(model.provider)
    return adapter.quote(
        model,
        width=width,
        height=height,
        quality=quality,
        n=n,
        prompt=prompt,
        partial_images=partial_images,
        references=references,
    )

"""Exact money: costs from what the provider reports, quotes before the click.

All amounts are integer nano-dollars (1 USD = 10**9): every catalog price is a whole number of
nano-dollars per token or per megapixel, so a cost is exact integer arithmetic, never a float.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from generation.catalog import Model, parse_size

# Money is converted and shown by generation.money alone. Re-exported for the callers that still say
# `pricing.format_usd` (generation/views/generate.py); new code imports it from generation.money.
from generation.money import format_usd as format_usd

MEGAPIXEL = 1024 * 1024


@dataclass(frozen=True)
class Quote:
    amount_nanousd: int
    exact: bool  # fal: exact; OpenAI: an upper bound (billing follows the reported token usage)


def megapixels(width: int, height: int) -> int:
    """Return the billed megapixels of one image: pixels / 1024², rounded up."""
    return max(1, math.ceil(width * height / MEGAPIXEL))


def fal_image_cost(width: int, height: int, price: dict[str, Any]) -> int:
    """Return the cost of one fal image: the first megapixel, then each further one."""
    return price["first_megapixel"] + (megapixels(width, height) - 1) * price["extra_megapixel"]


def fal_cost(sizes: Iterable[tuple[int, int]], price: dict[str, Any]) -> int:
    return sum(fal_image_cost(w, h, price) for w, h in sizes)


def openai_cost(usage: dict[str, Any], price: dict[str, Any]) -> int | None:
    """Return the cost of an OpenAI image call from its `usage`, or None when usage is missing."""
    if not usage or "output_tokens" not in usage or "input_tokens" not in usage:
        return None
    input_tokens = int(usage["input_tokens"])
    details = usage.get("input_tokens_details") or {}
    image_tokens = int(details.get("image_tokens") or 0)
    text_tokens = int(details.get("text_tokens", input_tokens - image_tokens) or 0)
    cached = int(details.get("cached_tokens") or 0)
    # Cached tokens are counted inside text tokens: bill them at the cached price, the rest in full.
    cached = min(cached, text_tokens)
    return (
        (text_tokens - cached) * price["text_input"]
        + cached * price["cached_text_input"]
        + image_tokens * price["image_input"]
        + int(usage["output_tokens"]) * price["image_output"]
    )


def quote(model: Model, *, size: str, quality: str | None, n: int, prompt: str) -> Quote:
    """Return the price before the click: exact for fal, a true upper bound for OpenAI."""
    if model.provider == "fal":
        width, height = parse_size(size)
        return Quote(n * fal_image_cost(width, height, model.price), exact=True)
    # A token is at least one byte of UTF-8, so the prompt's byte length bounds its input tokens.
    input_bound = len(prompt.encode("utf-8")) * model.price["text_input"]
    output_bound = n * model.max_output_tokens(size, quality or "high") * model.price["image_output"]
    return Quote(input_bound + output_bound, exact=False)

"""What the double billed: one entry per request a provider would charge (or list), for its admin APIs.

The double's OpenAI and fal handlers add an entry for every request they bill, priced with the double's
own price tables (the provider's truth, kept apart from the app's catalog on purpose); tests add
requests made "outside" the app with `ProviderDouble.bill_outside`. The admin endpoints (OpenAI's costs
and image usage, fal's usage, request list and pricing) are computed from these entries only.

Accounts: every key belongs to one organisation (OpenAI) or account (fal), "default" unless a test
says otherwise (`ProviderDouble.set_account`); an admin key reads only its own account's entries.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from dataclasses import dataclass

# nano-dollars per token: (text input, image output). The double's copy of OpenAI's list prices.
OPENAI_PRICES = {
    "gpt-image-1": (5000, 40000),
    "gpt-image-1-mini": (2000, 8000),
    "gpt-image-1.5": (5000, 32000),
}
OPENAI_DEFAULT_PRICE = (5000, 30000)  # the gpt-image-2 family
# nano-dollars: (first megapixel, each further megapixel), per fal app. Changeable per test (price change).
FAL_PRICES = {
    "fal-ai/flux-2-max": (70_000_000, 30_000_000),
    "fal-ai/flux-2-pro": (30_000_000, 15_000_000),
    "fal-ai/flux-2-flex": (50_000_000, 50_000_000),
    "fal-ai/flux-2": (25_000_000, 25_000_000),
}
DEFAULT_ACCOUNT = "default"
DEFAULT_PROJECT = "proj_default"


# nano-dollars per image-input token (reference images of an edit).
OPENAI_IMAGE_INPUT_PRICES = {"gpt-image-1": 10000, "gpt-image-1-mini": 2500}
OPENAI_DEFAULT_IMAGE_INPUT_PRICE = 8000  # gpt-image-1.5 and the gpt-image-2 family


def openai_price(model: str) -> tuple[int, int]:
    return OPENAI_PRICES.get(model, OPENAI_DEFAULT_PRICE)


def openai_image_input_price(model: str) -> int:
    return OPENAI_IMAGE_INPUT_PRICES.get(model, OPENAI_DEFAULT_IMAGE_INPUT_PRICE)


def megapixels(width: int, height: int) -> int:
    return max(1, math.ceil(width * height / (1024 * 1024)))


def fal_amount(price: tuple[int, int], width: int, height: int, input_megapixels: int = 0) -> int:
    """Return fal's price of one request: output and input megapixels (an edit's references) together."""
    first, extra = price
    return first + (megapixels(width, height) + input_megapixels - 1) * extra


def api_key_id(key: str) -> str:
    """Return the id OpenAI's usage report gives a key (never the key): stable, not reversible."""
    return "key_" + hashlib.sha256(key.encode()).hexdigest()[:16]


def is_openai_admin(key: str) -> bool:
    return key.startswith("sk-admin-")


def is_fal_admin(key: str) -> bool:
    """Whether a fal key has the Admin scope. At fal the scope is chosen when the key is created; the
    double reads it from the key id: one starting with "admin" is admin-scoped."""
    return key.partition(":")[0].lower().startswith("admin")


@dataclass(frozen=True)
class Billed:
    """One request as the provider's books see it."""

    provider: str
    key: str
    account: str
    model: str
    width: int
    height: int
    images: int
    at: dt.datetime  # UTC, when it ended (and was billed)
    request_id: str
    input_nanousd: int = 0
    output_nanousd: int = 0
    project: str = DEFAULT_PROJECT
    status_code: int = 200  # fal lists refused and failed requests too; only a 2xx is billed
    unit_price_nanousd: int = 0  # fal: the first megapixel's price when it was billed
    outside: bool = False  # made with the key, but not by the app (tests)

    @property
    def amount_nanousd(self) -> int:
        return self.input_nanousd + self.output_nanousd if self.billed else 0

    @property
    def billed(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"

    @property
    def megapixels(self) -> int:
        return megapixels(self.width, self.height) * self.images

"""Costs and quotes against docs/providers.md's worked examples, and quotes as true upper bounds."""

from __future__ import annotations

import datetime as dt
import math

import pytest

import providers
from generation import catalog, money, pricing
from provider_double import openai_api

CATALOG = catalog.load()
OPENAI = providers.get("openai")
FAL = providers.get("fal")


def test_gpt_image_1_low_square_costs_the_documented_amount():
    usage = {
        "input_tokens": 42,
        "input_tokens_details": {"text_tokens": 42, "image_tokens": 0},
        "output_tokens": 272,
    }
    amount = OPENAI.cost(usage, CATALOG.get("gpt-image-1").price)
    assert amount == 11_090_000
    assert money.format_usd(amount) == "$0.01109"


@pytest.mark.parametrize(
    ("width", "height", "usd"),
    [(1024, 1024, "$0.07"), (1536, 1024, "$0.10"), (2048, 2048, "$0.16"), (768, 1024, "$0.07")],
)
def test_flux_2_max_bills_megapixels_rounded_up_per_image(width, height, usd):
    assert (
        money.format_usd(
            FAL.cost({"images": [{"width": width, "height": height}]}, CATALOG.get("fal-ai/flux-2-max").price)
        )
        == usd
    )


def test_fal_quotes_are_exact_and_count_every_image():
    quote = pricing.quote(CATALOG.get("fal-ai/flux-2-max"), size="1536x1024", quality=None, n=3, prompt="x")
    assert quote.exact
    assert quote.amount_nanousd == 3 * 100_000_000


def test_missing_usage_is_unknown_never_zero():
    assert OPENAI.cost({}, CATALOG.get("gpt-image-2").price) is None
    assert money.format_usd(None) == "unknown"


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        (11_095_000, "$0.011095"),  # 43 input + 272 output tokens of gpt-image-1: not $0.0111
        (1, "$0.000000001"),
        (70_000_000, "$0.07"),
        (1_500_000_000, "$1.50"),
        (0, "$0.00"),
    ],
)
def test_amounts_are_shown_exactly_to_the_nano_dollar(amount, shown):
    assert money.format_usd(amount) == shown


def test_cached_text_tokens_are_billed_at_the_cached_price():
    price = CATALOG.get("gpt-image-2").price
    usage = {
        "input_tokens": 100,
        "input_tokens_details": {"text_tokens": 100, "cached_tokens": 40},
        "output_tokens": 0,
    }
    assert OPENAI.cost(usage, price) == 60 * price["text_input"] + 40 * price["cached_text_input"]


def test_image_input_tokens_use_the_image_price():
    price = CATALOG.get("gpt-image-2").price
    usage = {
        "input_tokens": 30,
        "input_tokens_details": {"text_tokens": 10, "image_tokens": 20},
        "output_tokens": 5,
    }
    expected = 10 * price["text_input"] + 20 * price["image_input"] + 5 * price["image_output"]
    assert OPENAI.cost(usage, price) == expected


OPENAI_CASES = [
    (model, size, quality)
    for model in CATALOG.offered({"openai"})
    for size in model.sizes
    for quality in model.qualities
]


@pytest.mark.parametrize(("model", "size", "quality"), OPENAI_CASES, ids=lambda v: getattr(v, "id", v))
@pytest.mark.parametrize("n", [1, 4])
def test_the_openai_quote_is_never_below_the_actual_cost(model, size, quality, n):
    prompt = "A portrait of Ana, a café owner — friendly, warm light, 日本語 too. " * 20
    width, height = catalog.parse_size(size)
    # The double reports usage as OpenAI does for these parameters (docs/providers.md's token counts).
    usage = {
        "input_tokens": max(1, math.ceil(len(prompt) / 4)),
        "output_tokens": n * openai_api.output_tokens(model.id, width, height, quality),
    }
    actual = OPENAI.cost(usage, model.price)
    quote = pricing.quote(model, size=size, quality=quality, n=n, prompt=prompt)
    assert not quote.exact
    assert quote.amount_nanousd >= actual


# docs/providers.md's per-image prices at 1024x1024, in nano-dollars, where the catalog derives the token bound
# from the price (no token count is published for them). The prices are rounded to a tenth of a cent.
DERIVED_FROM_PRICES = [
    ("gpt-image-2", "low", 6_000_000),
    ("gpt-image-2", "medium", 53_000_000),
    ("gpt-image-1-mini", "low", 5_000_000),
    ("gpt-image-1-mini", "medium", 11_000_000),
    ("gpt-image-1-mini", "high", 36_000_000),
]


@pytest.mark.parametrize(("model_id", "quality", "published"), DERIVED_FROM_PRICES)
def test_the_quote_covers_every_price_that_rounds_to_the_published_one(model_id, quality, published):
    """The quote reserves budget before the call: at most one token below published + half a tenth of a cent."""
    model = CATALOG.get(model_id)
    quote = pricing.quote(model, size="1024x1024", quality=quality, n=1, prompt="")
    assert quote.amount_nanousd > published + 500_000 - model.price["image_output"]


def test_only_models_documented_with_custom_sizes_offer_them():
    """docs/providers.md: any WxH for gpt-image-2 and 2.5 only; the others take the three standard sizes."""
    standard = {"1024x1024", "1024x1536", "1536x1024"}
    for model in CATALOG.offered({"openai"}):
        if model.id != "gpt-image-2" and not model.id.startswith("gpt-image-2.5"):
            assert set(model.sizes) <= standard, model.id


def test_every_price_is_a_whole_number_of_nano_dollars():
    for model in CATALOG.models.values():
        for name, value in model.price.items():
            if name not in ("effective", "source"):
                assert isinstance(value, int) and value > 0, (model.id, name)


def test_retired_models_are_kept_but_not_offered():
    assert CATALOG.get("gpt-image-1").retired is not None
    assert "gpt-image-1" not in {m.id for m in CATALOG.offered()}


def test_models_with_a_shutdown_date_warn_before_and_after_it():
    model = CATALOG.get("gpt-image-1.5")
    assert "shuts down on 1 Dec 2026" in model.shutdown_warning(dt.date(2026, 11, 26))
    # After the announced date the model is still offered (the date is not confirmed), with a warning.
    after = model.shutdown_warning(dt.date(2026, 12, 2))
    assert "was scheduled to shut down on 1 Dec 2026" in after and "may stop working" in after
    assert "gpt-image-1.5" in {m.id for m in CATALOG.offered()}
    assert CATALOG.get("gpt-image-2").shutdown_warning(dt.date(2026, 12, 2)) is None


def test_a_model_the_provider_says_is_gone_is_not_offered():
    assert "gpt-image-1.5" not in {m.id for m in CATALOG.offered(unavailable={"gpt-image-1.5"})}


def test_defaults_per_provider():
    assert CATALOG.default_for("openai").id == "gpt-image-2"
    assert CATALOG.default_for("fal").id == "fal-ai/flux-2-max"

"""Money at the edges: nano-dollars to USD and back, exactly, in the forms pages and the CSV use."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from generation import money
from generation.forms import BudgetForm

amounts = st.integers(min_value=0, max_value=10**18)


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        (11_095_000, "$0.011095"),
        (11_090_000, "$0.01109"),
        (1, "$0.000000001"),
        (70_000_000, "$0.07"),
        (1_500_000_000, "$1.50"),
        (25_500_000_000, "$25.50"),
        (0, "$0.00"),
        (None, "unknown"),
    ],
)
def test_pages_show_exact_amounts_with_at_least_cents(amount, shown):
    assert money.format_usd(amount) == shown


@pytest.mark.parametrize(
    ("amount", "plain"),
    [(11_090_000, "0.011090000"), (1, "0.000000001"), (0, "0.000000000"), (None, "unknown")],
)
def test_the_csv_form_has_nine_decimals_and_no_dollar_sign(amount, plain):
    assert money.plain_usd(amount) == plain


@given(amounts)
def test_every_form_converts_back_to_the_same_nano_dollars(amount):
    assert money.from_usd(money.to_usd(amount)) == amount
    assert money.from_usd(money.plain_usd(amount)) == amount
    assert money.from_usd(money.format_usd(amount).removeprefix("$")) == amount


def test_to_usd_is_an_exact_decimal():
    assert money.to_usd(11_090_000) == Decimal("0.01109")
    assert money.to_usd(money.NANO) == 1


@pytest.mark.parametrize("value", ["0.0000000001", "1.0000000005", "abc", "", "NaN", "Infinity", "1e99999"])
def test_from_usd_refuses_what_is_not_a_whole_number_of_nano_dollars(value):
    with pytest.raises(ValueError, match=r"nano-dollar|not an amount"):
        money.from_usd(value)


@pytest.mark.parametrize(
    ("typed", "cap"), [("25.50", 25_500_000_000), ("0.01", 10_000_000), ("1000000", 10**15), ("", None)]
)
def test_the_budget_form_gives_the_cap_in_nano_dollars(typed, cap):
    form = BudgetForm({"monthly_cap_usd": typed})
    assert form.is_valid(), form.errors
    assert form.cap_nanousd() == cap

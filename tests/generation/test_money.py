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


@pytest.mark.parametrize(
    ("amount", "grouped", "plain"),
    [
        (12_499_349_795_000, "$12,499.349795", "$12499.349795"),
        (1_000 * money.NANO, "$1,000.00", "$1000.00"),
        (999_990_000_000, "$999.99", "$999.99"),
        (1_234_567_890_000_000_001, "$1,234,567,890.000000001", "$1234567890.000000001"),
        (0, "$0.00", "$0.00"),
    ],
)
def test_pages_group_the_dollars_by_thousands_unless_asked_not_to(amount, grouped, plain):
    assert money.format_usd(amount) == grouped
    assert money.format_usd(amount, group=False) == plain


def test_the_csv_form_is_never_grouped():
    assert money.plain_usd(12_499_349_795_000) == "12499.349795000"


@pytest.mark.parametrize(
    ("typed", "nanos"),
    [("12,499.349795", 12_499_349_795_000), ("1,000", 10**12), (" 1,234,567.5 ", 1_234_567_500_000_000)],
)
def test_an_amount_grouped_as_the_pages_show_it_reads_back(typed, nanos):
    assert money.from_usd(typed) == nanos


@pytest.mark.parametrize("typed", ["1,5", "12,49", "1,0000", ",100", "1,,000", "1.000,50"])
def test_a_comma_anywhere_else_is_refused_not_guessed(typed):
    with pytest.raises(ValueError, match="not an amount"):
        money.from_usd(typed)


F = money.FIGURE_SPACE


def test_a_column_pads_each_fraction_with_figure_spaces_to_its_widest():
    column = money.align_usd([370_205_000, 280_000_000, None, 12_499_349_795_000, 1])
    assert column == [
        f"$0.370205{F * 3}",
        f"$0.28{F * 7}",
        "unknown",
        f"$12,499.349795{F * 3}",
        "$0.000000001",
    ]
    # Every amount has the same number of characters after its decimal point: right-aligned, they line up.
    assert {len(shown.partition(".")[2]) for shown in column if shown != "unknown"} == {9}
    # Still exact: the padding is all that was added.
    assert [shown.rstrip(F) for shown in column] == [
        money.format_usd(a) for a in (370_205_000, 280_000_000, None, 12_499_349_795_000, 1)
    ]


def test_a_column_of_cents_needs_no_padding():
    assert money.align_usd([280_000_000, 1_500_000_000]) == ["$0.28", "$1.50"]
    assert money.align_usd([]) == []
    assert money.widest_fraction([None]) == 0


@given(st.lists(st.one_of(st.none(), amounts), max_size=8))
def test_an_aligned_column_reads_back_to_the_same_nano_dollars(column):
    shown = money.align_usd(column)
    widths = {len(text.partition(".")[2]) for text in shown if text != "unknown"}
    assert len(widths) <= 1
    for amount, text in zip(column, shown, strict=True):
        if amount is None:
            assert text == "unknown"
        else:
            assert money.from_usd(text.rstrip(F).removeprefix("$")) == amount


@pytest.mark.parametrize(
    ("count", "shown"), [(7024, "7,024"), (999, "999"), (1_000_000, "1,000,000"), (0, "0"), (None, "–")]
)
def test_token_counts_are_grouped(count, shown):
    from generation.templatetags.money import number

    assert number(count) == shown

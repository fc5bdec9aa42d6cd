"""Money at the edges: integer nano-dollars inside, USD only where a person or a file reads it.

Every amount the app stores or adds up is an integer number of nano-dollars (1 USD = 10**9), so sums are
exact. These are the only conversions to and from USD: `to_usd`/`from_usd` for forms (a Decimal either
way, never a float), `format_usd` for pages and messages, `plain_usd` for the CSV export.
"""

from __future__ import annotations

from decimal import Decimal

NANO = 10**9
_ONE_NANO = Decimal("0.000000001")


def to_usd(amount_nanousd: int) -> Decimal:
    """Return nano-dollars as an exact Decimal number of USD (11_090_000 → Decimal("0.01109"))."""
    return Decimal(amount_nanousd) / NANO


def from_usd(amount_usd: Decimal | str | int) -> int:
    """Return a USD amount ("25.50", Decimal("0.011090000"), 3) as nano-dollars, exactly.

    Raises ValueError for text that is not a number, and for an amount finer than a nano-dollar: no
    amount is ever rounded silently.
    """
    try:
        value = Decimal(amount_usd)
        if not value.is_finite():
            raise ArithmeticError
        # Raises InvalidOperation when the amount has more digits than Decimal's precision: never rounded.
        whole_nanos = value.quantize(_ONE_NANO)
    except ArithmeticError as exc:  # decimal.InvalidOperation, or not finite
        raise ValueError(f"not an amount of USD: {amount_usd!r}") from exc
    if whole_nanos != value:
        raise ValueError(f"finer than a nano-dollar: {amount_usd!r}")
    return int(whole_nanos.scaleb(9))


def format_usd(amount_nanousd: int | None) -> str:
    """Return "$0.011095": exact (to the nano-dollar), at least cents, trailing zeros dropped past cents.

    None (a charge the provider billed at an amount we could not read) is "unknown", never "$0.00".
    """
    if amount_nanousd is None:
        return "unknown"
    value = to_usd(amount_nanousd).quantize(_ONE_NANO)
    text = f"{value:f}".rstrip("0")
    whole, _, frac = text.partition(".")
    return f"${whole}.{frac.ljust(2, '0')}"


def plain_usd(amount_nanousd: int | None) -> str:
    """Return "0.011090000": always nine decimals and no sign of currency, what a spreadsheet sums exactly.

    The CSV's form: a column of these adds up to the page's total to the nano-dollar. None is "unknown".
    """
    if amount_nanousd is None:
        return "unknown"
    return f"{to_usd(amount_nanousd):.9f}"

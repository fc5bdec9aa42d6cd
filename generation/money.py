"""Money at the edges: integer nano-dollars inside, USD only where a person or a file reads it.

Every amount the app stores or adds up is an integer number of nano-dollars (1 USD = 10**9), so sums are
exact. These are the only conversions to and from USD: `to_usd`/`from_usd` for forms (a Decimal either
way, never a float), `format_usd` for pages and messages (digits grouped: "$12,499.349795"),
`align_usd` for a column of them, `plain_usd` for the CSV export (never grouped: a file is for machines).

Pages follow the language (Django's formats for it): "$12,499.35" in English, "$12.499,35" in Arabic
(Django's Arabic separators, Latin digits). Exact either way; the CSV never changes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal

from django.utils import formats
from django.utils.translation import gettext

NANO = 10**9
_ONE_NANO = Decimal("0.000000001")
# Pads a column's shorter fractions: as wide as a digit in every font with tabular figures, and HTML
# does not collapse it as it does ASCII spaces.
FIGURE_SPACE = "\u2007"
# An amount grouped as `format_usd` shows it ("12,499.35"); "1,5" and "12,49" are not, and stay refused.
_GROUPED = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?")


def to_usd(amount_nanousd: int) -> Decimal:
    """Return nano-dollars as an exact Decimal number of USD (11_090_000 → Decimal("0.01109"))."""
    return Decimal(amount_nanousd) / NANO


def from_usd(amount_usd: Decimal | str | int) -> int:
    """Return a USD amount ("25.50", Decimal("0.011090000"), 3) as nano-dollars, exactly.

    Digits grouped by thousands as the pages show them ("12,499.35") are read too, so an amount copied
    from a page reads back the same. Raises ValueError for text that is not a number (a comma anywhere
    else, as in "1,5", included), and for an amount finer than a nano-dollar: no amount is ever rounded
    silently.
    """
    if isinstance(amount_usd, str) and _GROUPED.fullmatch(amount_usd.strip()):
        amount_usd = amount_usd.replace(",", "")
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


def _parts(amount_nanousd: int) -> tuple[str, str]:
    """Return the whole dollars (with a sign if negative) and the fraction: at least cents, exact."""
    text = f"{to_usd(amount_nanousd).quantize(_ONE_NANO):f}".rstrip("0")
    whole, _, frac = text.partition(".")
    return whole, frac.ljust(2, "0")


def format_usd(amount_nanousd: int | None, *, group: bool = True, fraction_width: int = 0) -> str:
    """Return "$12,499.349795": exact (to the nano-dollar), at least cents, trailing zeros dropped past cents.

    `group=False` leaves out the thousands separators ("$12499.349795"). `fraction_width` pads a shorter
    fraction with figure spaces to that many places, so that a column's decimal points line up (see
    `align_usd`). None (a charge the provider billed at an amount we could not read) is "unknown", never
    "$0.00".
    """
    if amount_nanousd is None:
        return gettext("unknown")
    whole, frac = _parts(amount_nanousd)
    if group:
        sign, digits = ("-", whole[1:]) if whole.startswith("-") else ("", whole)
        whole = sign + group_digits(int(digits))
    return f"${whole}{formats.get_format('DECIMAL_SEPARATOR')}{frac}" + FIGURE_SPACE * (
        fraction_width - len(frac)
    )


def group_digits(number: int) -> str:
    """Return a whole number with its thousands grouped as the current language does ("7,024"; "7.024" in Arabic)."""
    return f"{number:,}".replace(",", str(formats.get_format("THOUSAND_SEPARATOR")))


def fraction_digits(amount_nanousd: int | None) -> int:
    """Return how many places `format_usd` shows after the decimal point (2 to 9; 0 for None)."""
    return 0 if amount_nanousd is None else len(_parts(amount_nanousd)[1])


def widest_fraction(amounts: Iterable[int | None]) -> int:
    """Return the widest fraction of a column of amounts: the width `align_usd` pads the others to."""
    return max((fraction_digits(amount) for amount in amounts), default=0)


def align_usd(amounts: Iterable[int | None], *, group: bool = True) -> list[str]:
    """Return a column of amounts, each fraction padded with figure spaces to the column's widest.

    Right-aligned in tabular figures, the decimal points line up: "$0.370205" above "$0.28" + 4 figure
    spaces. Amounts stay exact; an unknown amount is "unknown", unpadded.
    """
    column = list(amounts)
    width = widest_fraction(column)
    return [format_usd(amount, group=group, fraction_width=width) for amount in column]


def plain_usd(amount_nanousd: int | None) -> str:
    """Return "0.011090000": always nine decimals and no sign of currency, what a spreadsheet sums exactly.

    The CSV's form: a column of these adds up to the page's total to the nano-dollar. None is "unknown".
    """
    if amount_nanousd is None:
        return "unknown"
    return f"{to_usd(amount_nanousd):.9f}"

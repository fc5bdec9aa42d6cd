from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import template

from generation.money import format_usd, group_digits, widest_fraction

register = template.Library()


@register.filter
def usd(amount_nanousd: int | None, fraction_width: int | None = None) -> str:
    """Render nano-dollars as "$12,499.01109" ("unknown" for None).

    In a column, pass the column's width from `usd_column_width` (`{{ amount|usd:width }}`): the fraction is
    padded with figure spaces to it, and the decimal points line up in a right-aligned `.num` cell.
    """
    return format_usd(amount_nanousd, fraction_width=fraction_width or 0)


@register.simple_tag
def usd_column_width(items: Iterable[Any], path: str) -> int:
    """Return the widest fraction among the amounts at `path` ("record.amount_nanousd") of `items`.

    `{% usd_column_width page.rows "record.amount_nanousd" as width %}`, then `{{ …|usd:width }}` in the
    column's cells.
    """

    def amount(item: Any) -> int | None:
        for name in path.split("."):
            item = getattr(item, name)
        return item  # type: ignore[no-any-return]

    return widest_fraction(amount(item) for item in items)


@register.filter
def number(count: int | None) -> str:
    """Return a count with its thousands grouped ("7,024"); "–" when there is none."""
    if count is None:
        return "–"
    return group_digits(count)


@register.filter
def signed_usd(amount_nanousd: int | None) -> str:
    """Return a difference with its sign: "+$0.07", "−$0.07", "$0.00"; "–" when there is none."""
    if amount_nanousd is None:
        return "–"
    if amount_nanousd == 0:
        return format_usd(0)
    sign = "+" if amount_nanousd > 0 else "−"
    return f"{sign}{format_usd(abs(amount_nanousd))}"


@register.filter
def signed(number: int | None) -> str:
    """Return a count difference with its sign ("+3", "−1", "0"); "–" when there is none."""
    if number is None:
        return "–"
    return f"+{group_digits(number)}" if number > 0 else ("−" + group_digits(-number) if number < 0 else "0")

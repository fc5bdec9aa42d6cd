from __future__ import annotations

from django import template

from generation.money import format_usd

register = template.Library()


@register.filter
def usd(amount_nanousd: int | None) -> str:
    """Render nano-dollars as "$0.01109" ("unknown" for None)."""
    return format_usd(amount_nanousd)


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
    return f"+{number}" if number > 0 else ("−" + str(-number) if number < 0 else "0")

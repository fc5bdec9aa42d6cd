from __future__ import annotations

from django import template

from generation.money import format_usd

register = template.Library()


@register.filter
def usd(amount_nanousd: int | None) -> str:
    """Render nano-dollars as "$0.01109" ("unknown" for None)."""
    return format_usd(amount_nanousd)

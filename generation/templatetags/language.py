"""`{{ text|stored_text }}`: a message the worker stored in English, in the reader's language (providers/messages.py)."""

from __future__ import annotations

from django import template

from providers.messages import translate_stored

register = template.Library()


@register.filter
def stored_text(text: str | None) -> str:
    """Return stored English text with every known message in the current language."""
    return translate_stored(text or "")

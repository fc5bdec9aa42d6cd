"""`{{ text|stored_text }}`: a sentence stored in English, in the reader's language (generation/stored_text.py)."""

from __future__ import annotations

from django import template

from generation import stored_text as sentences

register = template.Library()


@register.filter(name="stored_text")
def stored_text(text: object) -> str:
    return sentences.translate(str(text or ""))

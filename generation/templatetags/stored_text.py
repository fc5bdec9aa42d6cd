"""`{{ text|stored_text }}`: a sentence stored in English, in the reader's language (generation/stored_text.py);
`{{ unit|price_unit }}`: the unit a provider's price report names ("megapixels"), in the reader's language."""

from __future__ import annotations

from django import template
from django.utils.translation import gettext

from generation import stored_text as sentences
from generation.reconciliation.texts import PRICE_UNITS

register = template.Library()


@register.filter(name="stored_text")
def stored_text(text: object) -> str:
    return sentences.translate(str(text or ""))


@register.filter(name="price_unit")
def price_unit(unit: object) -> str:
    """A unit the catalogue knows, translated (singular, after "per"); another as the provider wrote it."""
    text = str(unit or "")
    known = PRICE_UNITS.get(text.strip().lower())
    return gettext(known) if known else text

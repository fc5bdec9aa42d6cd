"""`{{ note|key_note }}`: a key's stored note in the reader's language (keys.services.shown)."""

from __future__ import annotations

from django import template

from keys import services

register = template.Library()


@register.filter(name="key_note")
def key_note(text: object) -> str:
    return services.shown(str(text or ""))

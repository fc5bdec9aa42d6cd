"""Template filter `bdi`: isolates a value of its own direction inside text of another (issue 18).

An email, a model name, a key hint, an amount or a persona name is Latin text that Arabic pages put in
right-to-left sentences and cells; without isolation the Unicode bidirectional algorithm moves its
neutral characters (brackets, dots, signs) to the wrong end ("(sk-…abcd" shows as "sk-…abcd)("). `<bdi>`
gives the value its own direction, taken from its first strong character, and leaves the text's words
and the element's text content as they are. Inside `{% blocktranslate with name=value|bdi %}` it isolates
the placeholder without changing the message id. Not for attributes (alt, aria-label, title): markup
there would be shown as text.
"""

from __future__ import annotations

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

register = template.Library()


@register.filter(is_safe=True)
def bdi(value: object) -> SafeString:
    """Return `value`, escaped unless already safe, inside <bdi>…</bdi>."""
    return format_html("<bdi>{}</bdi>", value)

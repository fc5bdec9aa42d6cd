"""Sentences stored in English and shown in the reader's language: the matcher, and the providers' sentences.

A generation's end, a charge's unknown amount and a key check are stored as plain English sentences, some
joined ("<the provider's error> <why it may have billed> <It was not sent again…>"), some carrying a
provider's name or a count (`{provider}`, `{n}`: one word each). They stay English in the database, the CSV
export and the logs. `translate` swaps every known sentence in such a text for its translation, keeping the
values it carries; text it does not know stays as stored. This package imports no Django, so the caller
passes its `gettext`; the sentences are marked with `gettext_noop` where they are written, which puts them in
the catalogue (README "Translations"). generation/stored_text.py and keys/services.py add their own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import cache

import providers
from providers import fal_platform, openai_admin, openai_images
from providers.adapters import fal, openai
from providers.base import USER_MESSAGES

FIELD = re.compile(r"\{(\w+)\}")


def provider_sentences() -> tuple[str, ...]:
    """Every sentence this package writes for a reader (errors, charge reasons, key checks, notes)."""
    adapters = providers.all_adapters()
    return (
        *USER_MESSAGES.values(),
        *openai.SENTENCES,
        *fal.SENTENCES,
        *openai_admin.SENTENCES,
        *fal_platform.SENTENCES,
        *openai_images.SENTENCES,
        *(adapter.interrupted_message for adapter in adapters),
        *(adapter.quote_note for adapter in adapters),
    )


@cache
def _patterns(sentences: tuple[str, ...]) -> list[tuple[str, re.Pattern[str]]]:
    """(sentence, the pattern that finds it), longest first so that no sentence hides inside another."""
    found = []
    for sentence in sorted(set(sentences), key=len, reverse=True):
        parts = FIELD.split(sentence)  # text, field, text, field, …, text
        regex = "".join(
            re.escape(part) if index % 2 == 0 else f"(?P<{part}>\\S+?)" for index, part in enumerate(parts)
        )
        found.append((sentence, re.compile(regex)))
    return found


def _filled(translated: str) -> Callable[[re.Match[str]], str]:
    """A replacement: the translated sentence with the values the stored one carried."""
    return lambda match: translated.format(**match.groupdict())


def translate(text: str, sentences: Iterable[str], gettext: Callable[[str], str]) -> str:
    """Return `text` with every one of `sentences` in it translated by `gettext`."""
    if not text:
        return text
    for sentence, pattern in _patterns(tuple(sentences)):
        if pattern.groups:
            text = pattern.sub(_filled(gettext(sentence)), text)
        elif sentence in text:
            text = text.replace(sentence, gettext(sentence))
    return text

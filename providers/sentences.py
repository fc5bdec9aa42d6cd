"""Sentences stored in English and shown in the reader's language: the matcher, and the providers' sentences.

A generation's end, a charge's unknown amount and a key check are stored as plain English sentences, some
joined ("<the provider's error> <why it may have billed> <It was not sent again…>"), some carrying a
provider's name or a count (`{provider}`, `{n}`: one word each). They stay English in the database, the CSV
export and the logs. `translate` swaps every known sentence in such a text for its translation, keeping the
values it carries; text it does not know stays as stored. This package imports no Django, so the caller
passes its `gettext`; the sentences are marked with `gettext_noop` where they are written, which puts them in
the catalogue (README "Translations"). generation/stored_text.py and keys/services.py add their own.

A sentence with a count (`Plural`: "{n} request …" / "{n} requests …") is found in either English form and
shown in the reader's plural form for that count (`ngettext`: Arabic has six), so a count is never forced
into English grammar. `{n}` is always a number; a `{…_list}` value may be a comma-separated list.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache

import providers
from providers import fal_platform, openai_admin, openai_images
from providers.adapters import fal, openai
from providers.base import USER_MESSAGES

FIELD = re.compile(r"\{(\w+)\}")
COUNT = "n"  # the field that chooses a Plural's form


@dataclass(frozen=True)
class Plural:
    """A stored sentence with a count `{n}`: its English singular and plural (the catalogue's msgids)."""

    one: str
    many: str

    def format(self, n: int, **values: object) -> str:
        """The English sentence for `n`, as stored."""
        return (self.one if n == 1 else self.many).format(n=n, **values)


def ngettext_lazy(one: str, many: str) -> Plural:
    """Mark a sentence with a count for translation without translating it (this package uses no Django).

    Named as Django's marker so that makemessages extracts both literals as one plural message; the
    sentence is stored in English (`Plural.format`) and `translate` shows it in the reader's plural form.
    """
    return Plural(one, many)


Sentence = str | Plural


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


# A value never ends inside a number: "$0.07." is "$0.07" before the sentence's full stop, not "$0".
WHOLE = r"(?![.,]\d)"


def _field(name: str) -> str:
    if name == COUNT:
        return f"(?P<{name}>\\d+)"
    if name.endswith("_list"):
        return f"(?P<{name}>\\S+?{WHOLE}(?:, \\S+?{WHOLE})*?)"
    return f"(?P<{name}>\\S+?{WHOLE})"


@cache
def _patterns(sentences: tuple[Sentence, ...]) -> list[tuple[str, Sentence, re.Pattern[str]]]:
    """(English text, its sentence, the pattern that finds it), longest first so that no sentence hides
    inside another; a Plural gives one for each of its English forms."""
    texts = {(text, s) for s in sentences for text in ((s.one, s.many) if isinstance(s, Plural) else (s,))}
    found = []
    for text, sentence in sorted(texts, key=lambda pair: len(pair[0]), reverse=True):
        parts = FIELD.split(text)  # text, field, text, field, …, text
        regex = "".join(
            re.escape(part) if index % 2 == 0 else _field(part) for index, part in enumerate(parts)
        )
        found.append((text, sentence, re.compile(regex)))
    return found


Gettext = Callable[[str], str]
Ngettext = Callable[[str, str, int], str]


def _filled(sentence: Sentence, gettext: Gettext, ngettext: Ngettext) -> Callable[[re.Match[str]], str]:
    """A replacement: the translated sentence (in the count's plural form) with the values it carried."""

    def fill(match: re.Match[str]) -> str:
        values = match.groupdict()
        if isinstance(sentence, Plural):
            return ngettext(sentence.one, sentence.many, int(values[COUNT])).format(**values)
        return gettext(sentence).format(**values)

    return fill


def _english_plural(one: str, many: str, n: int) -> str:
    return one if n == 1 else many


def translate(
    text: str, sentences: Iterable[Sentence], gettext: Gettext, ngettext: Ngettext = _english_plural
) -> str:
    """Return `text` with every one of `sentences` in it translated by `gettext` (a Plural by `ngettext`)."""
    if not text:
        return text
    for english, sentence, pattern in _patterns(tuple(sentences)):
        if pattern.groups:
            text = pattern.sub(_filled(sentence, gettext, ngettext), text)
        elif english in text:
            text = text.replace(english, gettext(english))
    return text

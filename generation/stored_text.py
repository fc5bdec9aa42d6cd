"""Sentences stored in English (a generation's end, why a charge's amount is unknown), shown translated.

The pipeline stores what happened as plain English sentences, sometimes several joined (a provider's
plain-words error, then why it may have billed, then "It was not sent again…"), some with a provider's
name or counts in them. They stay English in the database, the CSV export and the logs. `translate`
swaps every known sentence in such a text for its translation in the active language, keeping the values
it carries; text it does not know stays as stored. The sentences are marked with `gettext_noop` where they
are written, so the catalogue has them (README "Translations").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache

from django.utils.translation import get_language, gettext

import providers
from generation import pipeline
from providers.adapters import fal, openai
from providers.base import USER_MESSAGES

# {name}: a value the stored sentence carries (a provider's name, a count: one word), put back into the
# translation.
FIELD = re.compile(r"\{(\w+)\}")


def sentences() -> list[str]:
    """Every English sentence the app stores for a reader, as written in the code."""
    adapters = providers.all_adapters()
    return [
        pipeline.KEY_MISMATCH_MESSAGE,
        pipeline.KEY_DELETED_MESSAGE,
        pipeline.OUR_SIDE_MESSAGE,
        pipeline.NOTHING_CHARGED_MESSAGE,
        pipeline.UNREADABLE_CHARGE,
        pipeline.OUR_ERROR_CHARGE,
        pipeline.INTERRUPTED_CHARGE,
        pipeline.USAGE_KEY_MESSAGE,
        pipeline.CANCELLED_NOTHING_CHARGED,
        pipeline.CANCELLED_POSSIBLY_CHARGED,
        pipeline.CANCELLED_CHARGED,
        pipeline.TOO_LATE_TO_CANCEL,
        pipeline.CANCELLED_PARTLY,
        pipeline.STOPPED_WAITING_CHARGE,
        pipeline.LATE_ANSWER_MESSAGE,
        pipeline.LATE_REFUSAL_NOTE,
        pipeline.NOT_SENT_AGAIN,
        *USER_MESSAGES.values(),
        openai.UNANSWERED_REASON,
        fal.REFUSED_AFTER_START,
        fal.SUBMIT_UNANSWERED,
        fal.INTERRUPTED_SUBMIT,
        fal.NOT_CANCELLED,
        fal.CANCELLED_RUNNING,
        *(adapter.interrupted_message for adapter in adapters),
        *(adapter.quote_note for adapter in adapters),
    ]


@cache
def _patterns() -> list[tuple[str, re.Pattern[str]]]:
    """(sentence, a pattern that finds it in stored text), longest first so no sentence hides in another."""
    found = []
    for sentence in sorted(set(sentences()), key=len, reverse=True):
        parts = FIELD.split(sentence)  # text, field, text, field, …, text
        regex = "".join(
            re.escape(part) if index % 2 == 0 else f"(?P<{part}>\\S+?)" for index, part in enumerate(parts)
        )
        found.append((sentence, re.compile(regex)))
    return found


def _filled(translated: str) -> Callable[[re.Match[str]], str]:
    """A replacement: the translated sentence with the values the stored one carried."""
    return lambda match: translated.format(**match.groupdict())


def translate(text: str) -> str:
    """Return `text` with every known sentence in the active language (as stored in English)."""
    if not text or (get_language() or "en").startswith("en"):
        return text
    for sentence, pattern in _patterns():
        if pattern.groups:
            text = pattern.sub(_filled(gettext(sentence)), text)
        elif sentence in text:
            text = text.replace(sentence, gettext(sentence))
    return text

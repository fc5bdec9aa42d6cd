"""The sentences the pipeline stores in English (how a generation ended, why a charge's amount is unknown),
shown in the reader's language: providers/sentences.py matches them; this adds the pipeline's own."""

from __future__ import annotations

from django.utils.translation import get_language, gettext, ngettext

from generation import images, pipeline
from generation.reconciliation import texts as reconciliation
from providers.sentences import Sentence, provider_sentences
from providers.sentences import translate as translate_sentences


def sentences() -> tuple[Sentence, ...]:
    """Every English sentence a generation's or a reconciliation's page may show as stored."""
    return (
        pipeline.KEY_MISMATCH_MESSAGE,
        pipeline.KEY_DELETED_MESSAGE,
        pipeline.OUR_SIDE_MESSAGE,
        pipeline.STORAGE_FAILED_MESSAGE,
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
        pipeline.IMAGES_MADE,
        pipeline.TRY_AGAIN,
        *images.SENTENCES,
        *reconciliation.SENTENCES,
        *provider_sentences(),
    )


def translate(text: str) -> str:
    """Return `text` with every known sentence in the active language (as stored in English)."""
    if (get_language() or "en").startswith("en"):
        return text
    return translate_sentences(text, sentences(), gettext, ngettext)

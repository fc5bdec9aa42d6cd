"""What a reconciliation writes for a reader: line reasons, key-match evidence, a run's summary and failure.

Stored in English (ReconciliationLine.reason, Reconciliation.message and key_matches, KeyMatch.evidence,
CostRecord.resolution_note, which the CSV export keeps as is) and shown in the reader's language by
generation/stored_text.py: a sentence with a count is a `Plural`, shown in the reader's plural form for that
count. Each value is one word (a count, an amount, a provider's name), `{amounts_list}` a list.
"""

from __future__ import annotations

from django.utils.translation import gettext_noop

from providers.sentences import Plural, ngettext_lazy

# Key matching (OpenAI): Match.evidence, shown beside the key and on its count lines while unmatched.
CHOSEN_BY_OWNER = gettext_noop("Chosen by the workspace owner.")
KEPT = gettext_noop("Kept from an earlier run.")
NOTHING_TO_MATCH = gettext_noop("No charged requests in this period to match by.")
ONLY_FIT = ngettext_lazy(
    "The only key id whose requests cover ours on the {n} day we used this key.",
    "The only key id whose requests cover ours on each of the {n} days we used this key.",
)
STILL_FITS = gettext_noop("Kept from an earlier run: still fits.")
SEVERAL_FIT = gettext_noop("Not matched: several key ids fit. Choose it below.")
NONE_FITS = gettext_noop("Not matched: no key id in OpenAI's report covers our requests. Choose it below.")
DELETED_KEY = gettext_noop("deleted key")

# OpenAI's counts per key and day, and money per day and model.
OUTSIDE_WITH_KEY = ngettext_lazy(
    "{n} request made with this key outside AniAvatar.", "{n} requests made with this key outside AniAvatar."
)
POSSIBLE_ROOM = ngettext_lazy(
    "{n} possibly charged record: OpenAI's count leaves room for {billed} of them to have been billed.",
    "{n} possibly charged records: OpenAI's count leaves room for {billed} of them to have been billed.",
)
FEWER_AT_OPENAI = gettext_noop(
    "OpenAI counted fewer requests than we charged: a request near midnight UTC counted on the next day by "
    "one side."
)
OUTSIDE_WITH_OUR_KEYS = ngettext_lazy(
    "{n} request made with our keys outside AniAvatar.", "{n} requests made with our keys outside AniAvatar."
)
OTHER_KEYS = ngettext_lazy(
    "{n} request by other keys of the same OpenAI project.",
    "{n} requests by other keys of the same OpenAI project.",
)
UNKNOWN_ROOM = ngettext_lazy(
    "{n} record of unknown amount, counted $0 here (OpenAI's counts leave room for {billed} of them to have "
    "been billed).",
    "{n} records of unknown amount, counted $0 here (OpenAI's counts leave room for {billed} of them to have "
    "been billed).",
)
BILLED_MORE = gettext_noop(
    "Same requests, different money: OpenAI billed {amount} more than the catalog's prices give (a price "
    "change, or a price the catalog does not know)."
)
BILLED_LESS = gettext_noop(
    "Same requests, different money: OpenAI billed {amount} less than the catalog's prices give (a price "
    "change, or a price the catalog does not know)."
)

# fal.ai's request list: a resolution's note (parts joined by "; ") and its request line.
REQUEST_LIST = gettext_noop("fal.ai's request list:")
COMPLETED = ngettext_lazy(
    "{n} request completed at fal (billed, priced at the catalog's price)",
    "{n} requests completed at fal (billed, priced at the catalog's price)",
)
SERVER_ERROR = ngettext_lazy(
    "{n} request failed at fal with a server error (never billed)",
    "{n} requests failed at fal with a server error (never billed)",
)
NEVER_RAN = ngettext_lazy(
    "{n} request fal has no record of (never ran)", "{n} requests fal has no record of (never ran)"
)
RESOLVED_BILLED = gettext_noop("Resolved: billed {amount}.")
RESOLVED_NOT_BILLED = gettext_noop("Resolved: not billed {amount}.")

# fal.ai's money per day and endpoint.
PRICE_CHANGE = gettext_noop(
    "A price change: fal billed {amounts_list} per megapixel on this day; the catalog says {catalog}."
)
FAL_OUTSIDE = ngettext_lazy(
    "{n} request fal ran for this account that AniAvatar did not make (the same account used outside "
    "AniAvatar).",
    "{n} requests fal ran for this account that AniAvatar did not make (the same account used outside "
    "AniAvatar).",
)
NO_ID = ngettext_lazy(
    "{n} possibly charged request sent without an answer (no request id): fal may have run it; it would show "
    "as a request AniAvatar did not make, so its record is kept unknown.",
    "{n} possibly charged requests sent without an answer (no request id): fal may have run them; they would "
    "show as requests AniAvatar did not make, so their records are kept unknown.",
)
STILL_UNKNOWN = ngettext_lazy(
    "{n} record still of unknown amount (counted $0 here).",
    "{n} records still of unknown amount (counted $0 here).",
)
RESOLVED_FROM_LIST = ngettext_lazy(
    "{n} possibly charged record resolved from fal's request list.",
    "{n} possibly charged records resolved from fal's request list.",
)
NOT_COVERED = gettext_noop("fal's request list does not cover this day: compared per day and endpoint only.")
NOT_EXPLAINED = gettext_noop("Not explained by fal's lists: compare with fal's dashboard for this day.")

# A run's summary (Reconciliation.message), its parts joined by spaces.
SUMMARY_DAYS = ngettext_lazy(
    "{n} UTC day: ours {ours}, theirs {theirs}.", "{n} UTC days: ours {ours}, theirs {theirs}."
)
SUMMARY_UNKNOWN = ngettext_lazy("{n} record of unknown amount.", "{n} records of unknown amount.")
SUMMARY_OUTSIDE = ngettext_lazy("{n} request made outside AniAvatar.", "{n} requests made outside AniAvatar.")
SUMMARY_RESOLVED = ngettext_lazy("{n} unknown amount resolved.", "{n} unknown amounts resolved.")
SUMMARY_SKIPPED = ngettext_lazy(
    "{n} report entry could not be read.", "{n} report entries could not be read."
)
OTHER_SPEND = gettext_noop("{amount} of other spend in the organisation was not compared.")

# Why a run failed (Reconciliation.message); a provider's refusal is followed by its own sentence.
UNFINISHED = gettext_noop("The reconciliation stopped before it finished (its worker stopped). Run it again.")
KEY_DELETED = gettext_noop("The usage key was deleted before the reconciliation ran.")
OUR_ERROR = gettext_noop("Something went wrong on our side while reconciling. Run it again.")
NO_REPORT = gettext_noop("{provider} did not give its report:")

# The unit a provider prices in, as its pricing report names it (fal: "megapixels"), for "per …".
PRICE_UNITS = {
    "": gettext_noop("unit"),
    "megapixels": gettext_noop("megapixel"),
    "megapixel": gettext_noop("megapixel"),
    "images": gettext_noop("image"),
    "image": gettext_noop("image"),
}

SENTENCES: tuple[str | Plural, ...] = (
    CHOSEN_BY_OWNER,
    KEPT,
    NOTHING_TO_MATCH,
    ONLY_FIT,
    STILL_FITS,
    SEVERAL_FIT,
    NONE_FITS,
    DELETED_KEY,
    OUTSIDE_WITH_KEY,
    POSSIBLE_ROOM,
    FEWER_AT_OPENAI,
    OUTSIDE_WITH_OUR_KEYS,
    OTHER_KEYS,
    UNKNOWN_ROOM,
    BILLED_MORE,
    BILLED_LESS,
    REQUEST_LIST,
    COMPLETED,
    SERVER_ERROR,
    NEVER_RAN,
    RESOLVED_BILLED,
    RESOLVED_NOT_BILLED,
    PRICE_CHANGE,
    FAL_OUTSIDE,
    NO_ID,
    STILL_UNKNOWN,
    RESOLVED_FROM_LIST,
    NOT_COVERED,
    NOT_EXPLAINED,
    SUMMARY_DAYS,
    SUMMARY_UNKNOWN,
    SUMMARY_OUTSIDE,
    SUMMARY_RESOLVED,
    SUMMARY_SKIPPED,
    OTHER_SPEND,
    UNFINISHED,
    KEY_DELETED,
    OUR_ERROR,
    NO_REPORT,
)

"""One normalisation for email addresses: which spellings are the same account.

People type the same address in many ways: capitals, full-width letters from an East Asian keyboard, the
Kelvin sign instead of K, the long s. Lookups and uniqueness compare `email_key(address)`, Unicode's
NFKC_Casefold of the whole address; the address itself is stored as it was typed at sign-up (lower-cased,
as it always was), and mail goes there, because "ß" and "ss" may be two different mailboxes.

Every form that takes an address (login, sign-up, password reset) passes it through `canonical_email`
first, so django-allauth, whose own comparisons are exact matches of lower-cased text, sees one spelling
per account everywhere: in its lookups, its uniqueness check and the login lockout's key. Nothing else
normalises addresses.
"""

from __future__ import annotations

import unicodedata

from django.contrib.auth import get_user_model


def as_typed(address: str) -> str:
    """Return the address a person meant: NFKC (full-width letters become ASCII), trimmed.

    Applied to what forms receive before they validate it (Django's address check is ASCII-only before
    the @): "ｋｉｍ@example.com" is kim@example.com typed on a full-width keyboard. Case and "ß" stay.
    """
    return unicodedata.normalize("NFKC", address).strip()


def email_key(address: str) -> str:
    """Return the form of `address` that lookups and uniqueness compare (NFKC, case fold, NFKC).

    Case folding maps "ſ" (long s) to "s" and "K" (Kelvin) to "k"; NFKC maps full-width letters to ASCII;
    the final NFKC is what Unicode's NFKC_Casefold adds for the few characters folding denormalises.
    The dotless "ı" stays "ı": it is a letter of its own, not a spelling of "i", so "ısis@…" is another
    address (PostgreSQL's UPPER() maps both to "I", which is why lookups never use it).
    """
    folded = unicodedata.normalize("NFKC", address.strip()).casefold()
    return unicodedata.normalize("NFKC", folded)


def canonical_email(typed: str) -> str:
    """Return the stored address of the account `typed` names, or `typed` (stripped) when none does.

    An account stored with exactly this address wins (it may be a reported collision, whose key is empty);
    otherwise the account with the same key.
    """
    typed = typed.strip()
    users = get_user_model()._default_manager
    if users.filter(email=typed.lower()).exists():
        return typed.lower()
    stored = users.filter(email_key=email_key(typed)).values_list("email", flat=True)
    return next(iter(stored), typed)

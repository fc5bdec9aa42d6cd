"""Accounts whose addresses are one address under accounts/emails.py's normalisation.

Before email keys existed, "strasse@…" and "straße@…", or "dana@…" and "ｄａｎａ@…", could both sign up.
They are never merged (they may be two people): the oldest account keeps the key, each later one keeps
an empty key and logs in only with its address exactly as stored, and they are reported here (by the
migration that added the keys, and by `manage.py report_email_collisions`) for an operator to resolve.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from accounts.emails import email_key


@dataclass(frozen=True)
class Collision:
    key: str
    kept: str  # the oldest account's address: it has the key
    without_key: str  # a later account's address


def assign_keys(users: Iterable[Any], save: Any) -> Iterator[Collision]:
    """Give each user (oldest first) its email key unless an older one has it; yield the collisions.

    `users` have `email` and `email_key`; `save(user)` stores one. Works on historical models too.
    """
    owners: dict[str, str] = {}
    for user in users:
        key = email_key(user.email)
        if key in owners:
            if user.email_key is not None:
                user.email_key = None
                save(user)
            yield Collision(key=key, kept=owners[key], without_key=user.email)
            continue
        owners[key] = user.email
        if user.email_key != key:
            user.email_key = key
            save(user)


def describe(collision: Collision) -> str:
    return (
        f"{collision.without_key!r} is the same address as the older account {collision.kept!r} once "
        f"normalised ({collision.key!r}); it logs in only as typed exactly. Change one of them."
    )

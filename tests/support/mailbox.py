"""Reading what the app mailed (django.core.mail.outbox): codes and links."""

from __future__ import annotations

import re

from django.core import mail


def to(address: str) -> list[mail.EmailMessage]:
    return [message for message in mail.outbox if address in message.to]


def code_in(message: mail.EmailMessage) -> str:
    """The verification code allauth mails (like "BSVM-SHJP", on a line of its own)."""
    found = re.search(r"^\s*([A-Z0-9]{4}-[A-Z0-9]{4})\s*$", message.body, re.MULTILINE)
    assert found, f"no code in: {message.body!r}"
    return found.group(1)


def link_in(message: mail.EmailMessage) -> str:
    """The path of the first link to this site in the message."""
    found = re.search(r"https?://[^/\s]+(/\S+)", message.body)
    assert found, f"no link in: {message.body!r}"
    return found.group(1)

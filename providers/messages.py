"""Messages stored in English, shown in the viewer's language (docs/decisions.md D35).

The worker writes what happened to a generation, a charge or a key into the database (error messages,
why an amount is unknown, a key's status) while no one is looking, so it cannot know the reader's
language; the row may also be read by several people in different languages, by the CSV export and by
code that looks for a sentence in it (reconciliation). So rows keep the English text, as before, and
pages translate it when they show it: `translate_stored(text)` (the `|stored_text` template filter)
finds every known message in the text, whole sentences or templates with values in them
("{made} of {n} images were made."), and replaces each with the current language's translation, its
values (themselves translated) put back. What it does not know (a provider's own words) stays as
stored. Old rows read the same way: they hold the same English.

Every such message is marked where it is defined (`gettext_noop`, so `makemessages` collects it) and
declared with `stored()`. Here, in the lowest layer, because the provider's errors are most of them and
every app may declare its own.
"""

from __future__ import annotations

import functools
import re

from django.utils.translation import gettext

# "{name}" (str.format) or "%(name)s" / "%(name)d" (the % operator).
_PLACEHOLDER = re.compile(r"\{(\w+)\}|%\((\w+)\)[sd]")


_KNOWN: list[str] = []


def stored(*messages: str) -> tuple[str, ...]:
    """Declare messages that may be stored in English and shown later; return them.

    `MESSAGES = stored(A, B, …)` in each module that defines some (each also marked with `gettext_noop`,
    so `makemessages` collects it). Django imports every such module with the URLconf, before a page
    shows one; a message declared later (a lazy import) makes the next call compile the pattern again.
    """
    _KNOWN.extend(m for m in messages if m not in _KNOWN)
    return messages


def _pattern(template: str, index: int) -> str:
    """Return a regular expression matching `template` with any values in its placeholders."""
    parts, position = [], 0
    for match in _PLACEHOLDER.finditer(template):
        parts.append(re.escape(template[position : match.start()]))
        name = match.group(1) or match.group(2)
        group = f"t{index}_{name}"
        if match.start() == 0:
            # A value that opens the message is one word ("fal.ai", "3"), so that the text before it
            # (another sentence) is never taken for it.
            parts.append(rf"(?P<{group}>\S+)")
        elif match.end() == len(template):
            parts.append(f"(?P<{group}>.+)")  # the last value runs to the end of the text
        else:
            parts.append(f"(?P<{group}>.+?)")  # a value runs to the next piece of the template's own text
        position = match.end()
    parts.append(re.escape(template[position:]))
    return "".join(parts)


def _longest_text(template: str) -> str:
    """Return the template's longest piece of its own text: a text without it cannot hold the message."""
    return max(_PLACEHOLDER.split(template)[::3], key=len)


@functools.cache
def _templates(count: int) -> tuple[tuple[str, str], ...]:
    """Return the first `count` declared messages, the longest first ("… Try again later." before "Try
    again."), each with its longest piece of text."""
    ordered = sorted(_KNOWN[:count], key=len, reverse=True)
    return tuple((template, _longest_text(template)) for template in ordered)


@functools.lru_cache(maxsize=512)
def _compiled(count: int, candidates: tuple[int, ...]) -> re.Pattern[str]:
    """Return one pattern of the candidate messages (by their index in `_templates(count)`)."""
    templates = _templates(count)
    alternatives = (f"(?P<t{index}>{_pattern(templates[index][0], index)})" for index in candidates)
    return re.compile("|".join(alternatives), re.DOTALL)


def _fill(template: str, values: dict[str, str]) -> str:
    translated = gettext(template)
    try:
        if "%(" in template:
            numbers = {k: int(v) if v.isdigit() else v for k, v in values.items()}
            return translated % numbers
        return translated.format(**values)
    except (KeyError, ValueError, TypeError, IndexError):
        # A translation whose placeholders do not match the English: the English, filled in.
        return template % values if "%(" in template else template.format(**values)


def translate_stored(text: str) -> str:
    """Return stored English text in the current language: each known message translated, the rest as is."""
    if not text:
        return text
    templates = _templates(len(_KNOWN))
    # Only the messages whose own text appears: a few substring tests, then a pattern of one to three
    # alternatives instead of all of them tried at every position (0.36 ms → 0.02 ms for three messages).
    candidates = tuple(index for index, (_t, piece) in enumerate(templates) if piece in text)
    if not candidates:
        return text
    pattern = _compiled(len(_KNOWN), candidates)

    def replace(match: re.Match[str]) -> str:
        index = int((match.lastgroup or "t0")[1:])  # the outermost group that matched: "t12"
        prefix = f"t{index}_"
        values = {
            name.removeprefix(prefix): translate_stored(value)
            for name, value in match.groupdict().items()
            if name.startswith(prefix) and value is not None
        }
        return _fill(templates[index][0], values)

    return pattern.sub(replace, text)

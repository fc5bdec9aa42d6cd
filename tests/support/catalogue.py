"""A small Arabic catalogue made for one test (our real one is written separately and may change).

`arabic(settings, tmp_path, {english: arabic})` compiles the messages with Babel (as the install does) into
a folder that becomes LOCALE_PATHS for the test; Django drops its cached catalogues when the setting
changes, and again when the test ends.
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo


def arabic(settings, folder: Path, messages: dict[str, str]) -> None:
    catalog = Catalog(locale="ar", domain="django")
    for english, translated in messages.items():
        catalog.add(english, translated)
    target = folder / "ar" / "LC_MESSAGES"
    target.mkdir(parents=True, exist_ok=True)
    with open(target / "django.mo", "wb") as file:
        write_mo(file, catalog)
    settings.LOCALE_PATHS = [folder]

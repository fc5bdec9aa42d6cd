"""Arabic date formats: Django's own (django/conf/locale/ar/formats.py) for dates and numbers, with Latin
digits as Django writes them; only the date-time, which Django leaves unset for Arabic, is ours, so that
it says its zone as the English one does ("3 ديسمبر، 2026، 05:39 UTC"). See aniavatar/formats/en.
"""

DATETIME_FORMAT = "j F، Y، H:i T"
SHORT_DATETIME_FORMAT = DATETIME_FORMAT

"""The app's date formats (FORMAT_MODULE_PATH): one for a date, one for a date-time, with its zone.

"3 Dec 2026" and "3 Dec 2026, 05:39 UTC". Templates use `|date` (a date) and `|date:"DATETIME_FORMAT"`
(a date-time); Python code uses `generation.dates.show_day` / `show_moment`. Times are shown in the
viewer's time zone (accounts.middleware.LanguageAndTimeZoneMiddleware), and say which one it is ("T").
"""

DATE_FORMAT = "j M Y"
SHORT_DATE_FORMAT = DATE_FORMAT
DATETIME_FORMAT = "j M Y, H:i T"
SHORT_DATETIME_FORMAT = DATETIME_FORMAT

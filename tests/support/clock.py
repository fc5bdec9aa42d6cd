"""A fixed instant for tests whose pages count "this month": the `frozen_now` fixture stops the app's clock there.

Mid-month and mid-day in UTC, so that an hour or a day either side stays in the same month. It lies in
the past: sessions and cookies made before the clock stopped are still valid after.
"""

from __future__ import annotations

import datetime as dt

NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)

"""A fixed instant for tests whose pages count "this month": the `frozen_now` fixture stops the app's clock there.

Mid-month and mid-day in UTC, so that an hour or a day either side stays in the same month. It lies in
the past: sessions and cookies made before the clock stopped are still valid after.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace

import pytest

NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)


def time_module(**replaced: Callable[[], float]) -> SimpleNamespace:
    """Return a stand-in for the `time` module with some functions replaced (e.g. `time=lambda: …`).

    Set it as one module's `time` attribute to move that module's clock alone, not the whole process's.
    """
    names = {name: getattr(time, name) for name in dir(time) if not name.startswith("_")}
    return SimpleNamespace(**{**names, **replaced})


@contextlib.contextmanager
def later(monkeypatch: pytest.MonkeyPatch, **delta: float) -> Iterator[None]:
    """Run the block as if `delta` (timedelta's keywords) had passed for django-allauth's rate limits.

    Its limits read `time.time()` in one module; this moves that clock only, so the windows pass
    without waiting and without touching the rest of the process.
    """
    from allauth.core.internal import ratelimit

    offset = dt.timedelta(**delta).total_seconds()
    real = time.time
    with monkeypatch.context() as patch:
        patch.setattr(ratelimit, "time", time_module(time=lambda: real() + offset))
        yield

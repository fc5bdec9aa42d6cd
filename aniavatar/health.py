"""Liveness and readiness probes for load balancers and orchestrators.

A probe comes over plain HTTP to the container's own address (compose's healthcheck asks
127.0.0.1:8000), which is neither an allowed host nor HTTPS: through the whole stack it would get a 400
or a redirect, never a 200. SECURE_REDIRECT_EXEMPT spares it the redirect, and ProbeMiddleware answers
it before CommonMiddleware checks the host; the security headers are still added on the way out.

/readyz is anonymous, so anyone can ask it as often as they like: each process checks the database and
the broker at most once per READINESS_CACHE_SECONDS (5) and answers from that result in between, ready
or not. A dependency that stops is reported within the window; a flood of probes costs each process
one check per window instead of a database and a broker connection per request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from aniavatar.celery import app as celery_app

logger = logging.getLogger(__name__)


@require_safe
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Answer while the process lives; touches nothing else."""
    return JsonResponse({"status": "ok"})


def _database_ready() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        logger.warning("readiness: database unreachable", exc_info=True)
        return False


def _broker_ready() -> bool:
    try:
        with celery_app.connection_for_write(url=settings.CELERY_BROKER_URL) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True
    except Exception:
        logger.warning("readiness: broker unreachable", exc_info=True)
        return False


class Readiness:
    """This process's last readiness check, reused for READINESS_CACHE_SECONDS (0: check every time).

    `clock` gives monotonic seconds (tests pass their own). One check runs at a time: probes that arrive
    while it runs wait for its answer instead of opening connections of their own.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._checked_at: float | None = None
        self._checks: dict[str, bool] = {}

    def checks(self) -> dict[str, bool]:
        """Return {"database": ok, "broker": ok}, checked now or at most a window ago."""
        with self._lock:
            now = self.clock()
            age = None if self._checked_at is None else now - self._checked_at
            if age is None or not 0 <= age < settings.READINESS_CACHE_SECONDS:
                self._checks = {"database": _database_ready(), "broker": _broker_ready()}
                self._checked_at = now
            return dict(self._checks)

    def clear(self) -> None:
        """Forget the last check (tests)."""
        with self._lock:
            self._checked_at, self._checks = None, {}


READINESS = Readiness()


@require_safe
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """Report whether the database and the broker answer; 503 if either does not (see the docstring)."""
    checks = READINESS.checks()
    ready = all(checks.values())
    body = {
        "status": "ready" if ready else "not ready",
        **{k: "ok" if v else "down" for k, v in checks.items()},
    }
    return JsonResponse(body, status=200 if ready else 503)


class ProbeMiddleware:
    """Answer /healthz and /readyz whatever the Host header and scheme (see the module docstring)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.probes = {"/healthz": healthz, "/readyz": readyz}

    def __call__(self, request: HttpRequest) -> HttpResponse:
        probe = self.probes.get(request.path_info)
        return probe(request) if probe is not None else self.get_response(request)

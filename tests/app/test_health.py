from __future__ import annotations

import pytest
from django.db import OperationalError

from aniavatar import health

pytestmark = pytest.mark.django_db


def test_healthz_answers_while_the_process_lives(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_reports_database_and_broker(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "ready", "database": "ok", "broker": "ok"}


def test_readyz_reports_a_stopped_broker_as_not_ready(client, settings):
    # Nothing listens on port 1: the broker is "stopped".
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["broker"] == "down"
    assert response.json()["database"] == "ok"


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_answer_a_container_healthcheck_in_production(client, settings, path):
    """compose asks http://127.0.0.1:8000/readyz: not an allowed host, not HTTPS; a 400 or 301 is 'unhealthy'."""
    settings.ALLOWED_HOSTS = ["avatars.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    response = client.get(path, HTTP_HOST="127.0.0.1:8000")
    assert response.status_code == 200, response.content
    page = client.get("/", HTTP_HOST="127.0.0.1:8000")
    assert page.status_code == 400  # every other page still checks the host


# /readyz under load (issue 15, finding 7): every anonymous request used to open a database and a broker
# connection. Each process now checks at most once per READINESS_CACHE_SECONDS and answers from that.


class FakeClock:
    """Monotonic seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(health.READINESS, "clock", fake)
    return fake


@pytest.fixture(autouse=True)
def _fresh_readiness():
    """No test sees another's cached answer."""
    clear = getattr(getattr(health, "READINESS", None), "clear", lambda: None)
    clear()
    yield
    clear()


@pytest.fixture
def checks(monkeypatch) -> dict[str, int]:
    """Count the real database and broker checks."""
    counts = {"database": 0, "broker": 0}
    for name, check in [("database", health._database_ready), ("broker", health._broker_ready)]:

        def counted(check=check, name=name) -> bool:
            counts[name] += 1
            return check()

        monkeypatch.setattr(health, f"_{name}_ready", counted)
    return counts


def test_fifty_requests_within_the_window_make_one_database_and_broker_check(client, settings, clock, checks):
    settings.READINESS_CACHE_SECONDS = 5
    for _ in range(50):
        clock.now += 0.09  # 50 requests over 4.5 seconds
        response = client.get("/readyz")
        assert response.status_code == 200, response.content
        assert response.json() == {"status": "ready", "database": "ok", "broker": "ok"}
    assert checks == {"database": 1, "broker": 1}


def test_a_stopped_broker_is_reported_once_the_window_has_passed(client, settings, clock, checks):
    settings.READINESS_CACHE_SECONDS = 5
    assert client.get("/readyz").status_code == 200
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # the broker stops
    clock.now += 4.9
    assert client.get("/readyz").status_code == 200  # the answer of 4.9 seconds ago
    clock.now += 0.1
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "not ready", "database": "ok", "broker": "down"}
    assert checks == {"database": 2, "broker": 2}


def test_a_stopped_database_is_reported_once_the_window_has_passed(client, settings, clock, monkeypatch):
    settings.READINESS_CACHE_SECONDS = 5
    assert client.get("/readyz").status_code == 200

    def refused(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(health.connection, "cursor", refused)  # the database stops
    clock.now += 5
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "not ready", "database": "down", "broker": "ok"}


def test_not_ready_is_kept_for_the_window_too_and_recovery_follows_it(client, settings, clock, checks):
    """A dependency that is down is not asked again by every probe either."""
    settings.READINESS_CACHE_SECONDS = 5
    stopped, running = "redis://127.0.0.1:1/0", settings.CELERY_BROKER_URL
    settings.CELERY_BROKER_URL = stopped
    for _ in range(20):
        assert client.get("/readyz").status_code == 503
    settings.CELERY_BROKER_URL = running
    clock.now += 5
    assert client.get("/readyz").status_code == 200
    assert checks == {"database": 2, "broker": 2}


def test_a_window_of_zero_checks_every_request(client, settings, clock, checks):
    settings.READINESS_CACHE_SECONDS = 0
    for _ in range(3):
        assert client.get("/readyz").status_code == 200
    assert checks == {"database": 3, "broker": 3}

from __future__ import annotations

import pytest

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

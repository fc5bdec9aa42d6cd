"""The security baseline: headers on every page, and a production configuration that passes --deploy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# The security baseline as deployed: real Argon2 hashes (tests/conftest.py gives most tests a fast one).
pytestmark = [pytest.mark.django_db, pytest.mark.argon2]

ROOT = Path(__file__).resolve().parents[2]
PAGES = ["/", "/accounts/signup/", "/accounts/login/", "/accounts/password_reset/", "/healthz"]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_sends_csp_and_security_headers(client, path):
    response = client.get(path)
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


def test_signed_in_pages_send_them_too(alice_client):
    response = alice_client.get("/")
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]


def test_pages_have_no_inline_scripts_or_styles(alice_client):
    html = alice_client.get("/").content.decode()
    assert "<style" not in html
    assert " style=" not in html
    for tag in html.split("<script")[1:]:
        assert "src=" in tag.split(">")[0], "inline <script> found"


def _production_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DEBUG", "SECURE_", "PYTEST"))}
    env.update(
        DEBUG="false",
        SECRET_KEY="x" * 20 + "a-long-random-production-secret-key-with-entropy-1234567890",
        ALLOWED_HOSTS="avatars.example.com",
        ANIAVATAR_MASTER_KEYS="1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
    )
    env.update(extra)
    return env


def test_check_deploy_passes_in_production_settings():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=_production_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ANIAVATAR_MASTER_KEYS"])
def test_production_refuses_to_start_without_a_secret(missing):
    env = _production_env()
    del env[missing]
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert f"{missing} must be set" in result.stderr

"""How DATABASE_URL, DATABASE_POOL_SIZE, WORKER_FINISH_SLOTS and the worker's threads are read (a fresh process each)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOW = "import json; from django.conf import settings; print(json.dumps(settings.DATABASES['default'], default=str))"


def _run(script: str, **env: str) -> subprocess.CompletedProcess[str]:
    ours = {
        "DATABASE_URL",
        "DATABASE_POOL_SIZE",
        "DATABASE_CONN_MAX_AGE",
        "WORKER_FINISH_SLOTS",
        "CELERY_WORKER_CONCURRENCY",
    }
    environ = {k: v for k, v in os.environ.items() if k not in ours}
    environ.update(DJANGO_SETTINGS_MODULE="aniavatar.settings", DEBUG="true", **env)
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {script}"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _databases(**env: str) -> dict:
    result = _run(SHOW, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_postgresql_gets_a_connection_pool_per_process():
    db = _databases(DATABASE_URL="postgres://app@db:5432/app?application_name=web")
    assert db["OPTIONS"]["pool"] == {"min_size": 1, "max_size": 10, "timeout": 30}
    assert db["OPTIONS"]["application_name"] == "web"  # the URL's own options are kept
    assert db["CONN_MAX_AGE"] == 0  # Django refuses persistent connections with a pool
    assert db["CONN_HEALTH_CHECKS"] is True  # the pool checks a connection before handing it out


@pytest.mark.parametrize(("size", "pooled"), [("25", True), ("0", False)])
def test_the_pool_size_is_configurable_and_zero_turns_it_off(size, pooled):
    db = _databases(DATABASE_URL="postgres://app@db:5432/app", DATABASE_POOL_SIZE=size)
    assert ("pool" in db["OPTIONS"]) is pooled
    if pooled:
        assert db["OPTIONS"]["pool"]["max_size"] == 25
    else:
        assert db["CONN_MAX_AGE"] == 60  # a persistent connection per thread instead


def test_sqlite_keeps_a_persistent_connection_and_no_pool(tmp_path):
    db = _databases(DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    assert "pool" not in db["OPTIONS"]
    assert db["CONN_MAX_AGE"] == 60


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DATABASE_POOL_SIZE", "-1", "DATABASE_POOL_SIZE must be 0 (no pool) or more."),
        ("WORKER_FINISH_SLOTS", "0", "WORKER_FINISH_SLOTS must be at least 1."),
    ],
)
def test_sizes_that_cannot_work_are_refused_at_start(name, value, message):
    # A worker with no CPU slot would take every answer and never finish one.
    result = _run("pass", DATABASE_URL="postgres://app@db:5432/app", **{name: value})
    assert result.returncode != 0
    assert message in result.stderr


CONCURRENCY = "from aniavatar.celery import app; print(app.conf.worker_concurrency)"


@pytest.mark.parametrize(
    ("url", "threads"),
    [("postgres://app@db:5432/app", "64"), ("sqlite:///{tmp}/db.sqlite3", "8")],
)
def test_a_worker_holds_64_generations_on_postgresql_and_8_on_sqlite(url, threads, tmp_path):
    # PostgreSQL: a waiting thread holds no connection, so 64 share the pool; SQLite has one writer.
    result = _run(CONCURRENCY, DATABASE_URL=url.format(tmp=tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == threads


def test_the_worker_threads_are_configurable_and_at_least_one():
    assert _run(CONCURRENCY, CELERY_WORKER_CONCURRENCY="200").stdout.split()[-1] == "200"
    refused = _run(CONCURRENCY, CELERY_WORKER_CONCURRENCY="0")
    assert refused.returncode != 0 and "CELERY_WORKER_CONCURRENCY must be at least 1" in refused.stderr

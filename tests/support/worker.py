"""Start a real Celery worker process (threads pool) on the test database and the configured broker.

`app_env` is the environment such a process gets (a web process started by a test uses it too).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connection

from aniavatar.celery import app

ROOT = Path(__file__).resolve().parents[2]


def database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or ""
    auth = f"{user}:{db['PASSWORD']}@" if db.get("PASSWORD") else (f"{user}@" if user else "")
    return f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


def app_env(queue: str, **extra_env: str) -> dict[str, str]:
    """Return the environment of an app process (worker or web) on this test's database and settings."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "CELERY_QUEUE": queue,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "OPENAI_BASE_URL": settings.OPENAI_BASE_URL,
        "FAL_QUEUE_URL": settings.FAL_QUEUE_URL,
        "FAL_PLATFORM_URL": settings.FAL_PLATFORM_URL,
        "PROVIDER_TIMEOUT_SECONDS": str(settings.PROVIDER_TIMEOUT_SECONDS),
        "LOG_LEVEL": "DEBUG",
        **extra_env,
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    return env


class Worker:
    """A worker subprocess; `kill()` is kill -9, `start()` starts it again on the same queue."""

    def __init__(self, queue: str, env: dict[str, str], log_path: Path) -> None:
        self.queue, self.env, self.log_path = queue, env, log_path
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        # The log is appended to across restarts: only a "ready." written after this start counts.
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "aniavatar",
                "worker",
                "--pool",
                "threads",
                "--concurrency",
                self.env.get("CELERY_WORKER_CONCURRENCY", "4"),
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-Q",
                self.queue,
                "-n",
                f"test-{self.queue}@%h",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if b"ready." in self.log_path.read_bytes()[offset:]:
                return
            if self.process.poll() is not None:
                raise RuntimeError("worker exited:\n" + self.log_path.read_text()[-3000:])
            time.sleep(0.1)
        raise RuntimeError("worker did not start:\n" + self.log_path.read_text()[-3000:])

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        """Stop the worker when its test is done with it: kill -9.

        Celery's warm shutdown (SIGTERM) takes about 4 s to be noticed by the filesystem transport's
        consumer loop, and each test waits for what it started before leaving the worker. Nothing is
        lost: the log is written line by line (stderr), and what a killed worker left on the broker
        goes with its queue (`celery_worker`).
        """
        self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def celery_worker(tmp_path: Path, **extra_env: str) -> Iterator[Worker]:
    """Run a worker on a queue of its own (so test runs sharing a broker never mix messages)."""
    queue = f"test-{uuid.uuid4().hex[:12]}"
    env = app_env(queue, **extra_env)
    original_queue = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    worker = Worker(queue, env, tmp_path / f"worker-{queue}.log")
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()
        app.conf.task_default_queue = original_queue
        # Leave nothing behind on a shared broker (the filesystem transport has no queue to delete).
        with app.connection_for_write() as conn, contextlib.suppress(Exception):
            conn.default_channel.queue_delete(queue)
        forget_queue(queue)


def forget_queue(queue: str) -> None:
    """Drop what Redis keeps of a queue after its worker is gone: bindings and unacknowledged messages.

    A killed worker's messages stay in the unacked hash and would be redelivered an hour later.
    """
    if not settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
        return
    import redis

    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    try:
        client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
        for tag, raw in client.hgetall("unacked").items():
            with contextlib.suppress(ValueError, TypeError):
                _message, _exchange, routing_key = json.loads(raw)
                if routing_key == queue:
                    client.hdel("unacked", tag)
                    client.zrem("unacked_index", tag)
    finally:
        client.close()

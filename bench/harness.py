"""The benchmarks' world: a database and broker of their own, processes on loopback, figures as JSON lines.

`World.prepare()` runs before Django is set up: it picks the database and broker, points every setting at
a temporary folder and a fresh database (PostgreSQL `aniavatar_bench`, dropped and created again, or a
SQLite file), and only then lets Django read the environment. Child processes (the provider double, a
Celery worker, gunicorn) inherit that environment, run in sessions of their own and are stopped, with
their children, however the run ends.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
# Another database name or Redis database number with BENCH_DATABASE / BENCH_REDIS_DB (two benches at once).
BENCH_DATABASE = os.environ.get("BENCH_DATABASE", "aniavatar_bench")
BENCH_REDIS_DB = int(os.environ.get("BENCH_REDIS_DB", "14"))  # the test suite uses 15 (.ci/run)
if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", BENCH_DATABASE):
    raise SystemExit(f"BENCH_DATABASE must be a plain PostgreSQL name, not {BENCH_DATABASE!r}")
PASSWORD = "bench passphrase 42"  # noqa: S105 (the bench's own throwaway accounts)


def log(message: str) -> None:
    """Print progress on stderr, so stdout holds only figures and the summary."""
    print(f"bench: {message}", file=sys.stderr, flush=True)


def percentile(values: Sequence[float], p: float) -> float:
    """Return the p-th percentile (0–100), linearly interpolated between the closest ranks."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


# Figures


@dataclass
class Report:
    """Figures as they are measured: one JSON line each on stdout, and a table at the end."""

    figures: list[dict[str, Any]] = field(default_factory=list)

    def add(
        self, bench: str, figure: str, value: float, *, target: float | None = None, at_least: bool = False
    ) -> None:
        """Print one figure; `ok` compares it with its target (≤, or ≥ when `at_least`)."""
        ok = None if target is None else bool(value >= target if at_least else value <= target)
        entry = {
            "bench": bench,
            "figure": figure,
            "value": round(float(value), 3),
            "target": target,
            "ok": ok,
        }
        if at_least:
            entry["at_least"] = True
        self.figures.append(entry)
        print(json.dumps(entry), flush=True)

    def summary(self, context: str) -> str:
        """Return a readable table of every figure."""
        lines = [f"Summary ({context})"]
        for entry in self.figures:
            target = ""
            if entry["target"] is not None:
                target = ("≥ " if entry.get("at_least") else "≤ ") + f"{entry['target']:g}"
            verdict = {True: "ok", False: "MISSED", None: ""}[entry["ok"]]
            lines.append(
                f"  {entry['bench']:<12} {entry['figure']:<32} {entry['value']:>12,.3f}  {target:<10} {verdict}"
            )
        return "\n".join(lines)


# Processes


def free_port() -> int:
    """Return a loopback port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def descendants(pid: int) -> list[int]:
    """Return `pid` and every process below it."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for children in Path(f"/proc/{current}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                todo.extend(int(child) for child in children.read_text().split())
    return found


def memory_mib(pid: int, key: str = "VmRSS") -> float:
    """Return a /proc/<pid>/status memory figure (VmRSS, VmHWM) in MiB, or 0 if the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_seconds(pid: int) -> float:
    """Return the CPU time (user + system) a process and its children have used, in seconds."""
    total = 0.0
    for p in descendants(pid):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{p}/stat").read_text().rpartition(")")[2].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def tree_rss_mib(pid: int) -> float:
    """Return the resident memory of a process and its children, in MiB."""
    return sum(memory_mib(p) for p in descendants(pid))


class Processes:
    """Child processes in sessions of their own, stopped (SIGTERM, then SIGKILL) with their children."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        with (self.logs / f"{name}.log").open("ab") as out:
            process = subprocess.Popen(
                args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.running.append(process)
        return process

    def log_tail(self, name: str, chars: int = 3000) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def wait_until(
        self, name: str, process: subprocess.Popen[bytes], ready: Callable[[], bool], timeout: float = 60
    ) -> None:
        """Wait until `ready()`; raise with the log's tail if the process dies or the time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited ({process.returncode}):\n{self.log_tail(name)}")
            time.sleep(0.05)
        raise RuntimeError(f"{name} was not ready after {timeout:.0f} s:\n{self.log_tail(name)}")

    def stop(self, process: subprocess.Popen[bytes], timeout: float = 15) -> None:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        if process in self.running:
            self.running.remove(process)

    def stop_all(self) -> None:
        for process in reversed(list(self.running)):
            self.stop(process, timeout=5)


# HTTP on loopback


def http_get(url: str, *, cookie: str = "", timeout: float = 30, **headers: str) -> tuple[int, bytes]:
    """Return (status, body as sent, still compressed if it was) of a GET; no redirects are followed."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    if cookie:
        headers["Cookie"] = cookie
    request = urllib.request.Request(url, headers={k.replace("_", "-"): v for k, v in headers.items()})
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


# The world


def _with_path(url: str, path: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


@dataclass
class World:
    """Where the benchmarks run: settings in the environment, a temporary folder, child processes."""

    tmp: Path
    postgres: bool
    redis: bool
    database_url: str
    queue: str
    double_port: int
    processes: Processes
    keep: bool = False

    @classmethod
    def prepare(cls, *, keep: bool = False) -> World:
        """Choose the database and broker, set the environment, then set Django up on it."""
        tmp = Path(tempfile.mkdtemp(prefix="aniavatar-bench-"))
        (tmp / "logs").mkdir()
        given_db = os.environ.get("DATABASE_URL", "")
        postgres = given_db.startswith(("postgres://", "postgresql://"))
        database_url = (
            _with_path(given_db, f"/{BENCH_DATABASE}") if postgres else f"sqlite:///{tmp / 'bench.sqlite3'}"
        )
        given_broker = os.environ.get("CELERY_BROKER_URL", "")
        redis = given_broker.startswith(("redis://", "rediss://"))
        # The bench's own Redis database and queue: nothing it sends can reach another worker.
        broker_url = _with_path(given_broker, f"/{BENCH_REDIS_DB}") if redis else "filesystem://"
        queue = f"bench-{secrets.token_hex(6)}"
        double_port = free_port()
        os.environ.update(
            {
                "DJANGO_SETTINGS_MODULE": "aniavatar.settings",
                "DEBUG": "false",
                "SECRET_KEY": "bench-" + secrets.token_urlsafe(40),
                "ANIAVATAR_MASTER_KEYS": "1:" + base64.b64encode(os.urandom(32)).decode(),
                "ANIAVATAR_FINGERPRINT_KEY": "bench-" + secrets.token_urlsafe(20),
                "ALLOWED_HOSTS": "127.0.0.1,localhost",
                "SECURE_SSL_REDIRECT": "false",
                "STATIC_MANIFEST": "false",
                "ANIAVATAR_VAR_DIR": str(tmp / "var"),
                "MEDIA_ROOT": str(tmp / "media"),
                "DATABASE_URL": database_url,
                "CELERY_BROKER_URL": broker_url,
                "CELERY_QUEUE": queue,
                "CELERY_TASK_ALWAYS_EAGER": "false",
                "OPENAI_BASE_URL": f"http://127.0.0.1:{double_port}/v1",
                "FAL_QUEUE_URL": f"http://127.0.0.1:{double_port}/fal",
                "PROVIDER_TIMEOUT_SECONDS": "60",
            }
        )
        world = cls(tmp, postgres, redis, database_url, queue, double_port, Processes(tmp / "logs"), keep)
        import django

        django.setup()
        import logging

        # This process only drives; the worker and web processes keep the default INFO logging.
        logging.getLogger().setLevel(logging.WARNING)
        for name in ("django", "celery", "kombu"):
            logging.getLogger(name).setLevel(logging.WARNING)
        return world

    @property
    def description(self) -> str:
        db = f"PostgreSQL ({BENCH_DATABASE})" if self.postgres else "SQLite"
        broker = f"Redis (db {BENCH_REDIS_DB})" if self.redis else "the filesystem broker"
        return f"{db} + {broker}"

    def env(self, role: str, **extra: str) -> dict[str, str]:
        """Return the environment of a child process; `role` names its PostgreSQL connections."""
        env = {**os.environ, **extra}
        env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        if self.postgres:
            env["DATABASE_URL"] = f"{self.database_url}?application_name=bench-{role}"
        return env

    def migrate(self) -> None:
        """Create the bench database afresh (PostgreSQL: dropped first) and migrate it."""
        from django.core.management import call_command

        if self.postgres:
            _fresh_postgres(self.database_url)
        log(f"migrating the bench database ({self.description})")
        call_command("migrate", verbosity=0, interactive=False)

    def close(self) -> None:
        """Stop every process, drop the queue, and remove the temporary folder (unless kept)."""
        self.processes.stop_all()
        if self.redis:
            import redis
            from django.conf import settings

            # The queue and kombu's bindings of it: nothing of a bench run stays in Redis.
            client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
            with contextlib.suppress(redis.RedisError), client:
                keys = (self.queue, f"_kombu.binding.{self.queue}", f"_kombu.binding_permanent.{self.queue}")
                client.delete(*keys)
        from django.db import connections

        connections.close_all()
        if self.keep:
            log(f"kept {self.tmp}" + (f" and the database {BENCH_DATABASE}" if self.postgres else ""))
            return
        shutil.rmtree(self.tmp, ignore_errors=True)
        if self.postgres:
            import psycopg

            with contextlib.suppress(psycopg.Error):
                _drop_postgres(self.database_url)

    # Processes

    @contextlib.contextmanager
    def double(
        self,
        *,
        latency: float,
        images: str = "drawings",
        spread: tuple[float, float] | None = None,
        partial_at: Sequence[float] = (),
    ) -> Iterator[Double]:
        """Run the provider double (bench.double: images rendered once, per-request timings).

        With `spread` (low, high) each answer takes from low to high seconds instead of `latency`; a
        streamed call sends its partial images at the `partial_at` fractions of the latency.
        """
        timings = self.tmp / f"double-timings-{secrets.token_hex(3)}.txt"
        args = [sys.executable, "-m", "bench.double", "--port", str(self.double_port), "--images", images]
        args += ["--latency", str(latency), "--timings", str(timings)]
        if spread is not None:
            args += ["--spread", str(spread[0]), str(spread[1])]
        if partial_at:
            args += ["--partials", ",".join(str(at) for at in partial_at)]
        process = self.processes.start("double", args, self.env("double"))
        try:
            self.processes.wait_until("double", process, lambda: _accepts(self.double_port), timeout=30)
            yield Double(timings)
        finally:
            self.processes.stop(process)

    @contextlib.contextmanager
    def worker(self, *, concurrency: int | None) -> Iterator[subprocess.Popen[bytes]]:
        """Run a Celery worker (threads pool) on the bench queue, as `make run` and compose do.

        `concurrency` None: the settings' default (CELERY_WORKER_CONCURRENCY), as compose runs it.
        """
        name = f"worker-{concurrency or 'default'}"
        args = [sys.executable, "-m", "celery", "-A", "aniavatar", "worker", "--pool", "threads"]
        args += ["--concurrency", str(concurrency)] if concurrency else []
        args += ["--loglevel", "INFO", "-Q", self.queue]
        args += ["--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"{self.queue}@%h"]
        # As the Dockerfile sets it: two malloc arenas instead of one per allocating thread.
        process = self.processes.start(
            name, args, self.env("worker", MALLOC_ARENA_MAX="2", MALLOC_MMAP_THRESHOLD_="131072")
        )
        try:
            self.processes.wait_until(name, process, lambda: "ready." in self.processes.log_tail(name, 20000))
            yield process
        finally:
            self.processes.stop(process)

    def collectstatic(self) -> None:
        """Hash and compress the static files, as the Dockerfile does at build time."""
        static_root = self.tmp / "static"
        if static_root.exists():
            return
        log("collectstatic (hashed, compressed static files, as in production)")
        env = self.env("build", STATIC_MANIFEST="true", STATIC_ROOT=str(static_root))
        args = [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"]
        subprocess.run(args, cwd=ROOT, env=env, check=True, capture_output=True, timeout=300)

    @contextlib.contextmanager
    def web(self, *, workers: int, access_log: Path) -> Iterator[Web]:
        """Run gunicorn as the Dockerfile does (sync workers, compressed static files, DEBUG off).

        Its access log gives each request's time spent in the worker.
        """
        self.collectstatic()
        port = free_port()
        args = [sys.executable, "-m", "gunicorn", "aniavatar.wsgi", "--bind", f"127.0.0.1:{port}"]
        args += ["--workers", str(workers), "--access-logfile", str(access_log)]
        # Method, path, status, microseconds spent in the worker (server-side time), bytes.
        args += ["--access-logformat", "%(m)s %(U)s %(s)s %(D)s %(B)s"]
        name = f"web-{port}"
        env = self.env("web", STATIC_MANIFEST="true", STATIC_ROOT=str(self.tmp / "static"))
        process = self.processes.start(name, args, env)
        web = Web(f"http://127.0.0.1:{port}", process, access_log)
        try:
            self.processes.wait_until(name, process, web.healthy, timeout=60)
            yield web
        finally:
            self.processes.stop(process)


def _drop_postgres(url: str) -> None:
    """Drop the bench's own database on the server of `url`, if it exists."""
    import psycopg

    # Connected to the maintenance database: the bench database is the only one touched.
    with psycopg.connect(_with_path(url, "/postgres"), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)")


def _fresh_postgres(url: str) -> None:
    """Drop and create the bench's own database on the server of `url`."""
    import psycopg

    _drop_postgres(url)
    with psycopg.connect(_with_path(url, "/postgres"), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {BENCH_DATABASE}")


def _accepts(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Double:
    timings_path: Path

    def provider_ms(self) -> dict[str, float]:
        """Return {x-request-id: milliseconds the double spent answering, its latency included}."""
        if not self.timings_path.exists():
            return {}
        return {request_id: ms for request_id, (ms, _) in self.provider_calls().items()}

    def provider_calls(self) -> dict[str, tuple[float, float]]:
        """Return {x-request-id: (milliseconds spent answering, Unix time the request arrived)}."""
        if not self.timings_path.exists():
            return {}
        found = {}
        for line in self.timings_path.read_text().splitlines():
            request_id, ms, arrived = line.split()
            found[request_id] = (float(ms), float(arrived))
        return found


@dataclass
class Web:
    url: str
    process: subprocess.Popen[bytes]
    access_log: Path

    def healthy(self) -> bool:
        with contextlib.suppress(OSError):
            return http_get(self.url + "/healthz", timeout=2)[0] == 200
        return False

    def worker_pids(self) -> list[int]:
        return [pid for pid in descendants(self.process.pid) if pid != self.process.pid]

    def log_offset(self) -> int:
        return self.access_log.stat().st_size if self.access_log.exists() else 0

    def server_times_ms(self, path: str, since: int) -> tuple[list[float], int]:
        """Return the server-side times of GETs of `path` logged after `since`, and how many were not 200."""
        times, bad = [], 0
        with self.access_log.open("rb") as f:
            f.seek(since)
            for raw in f.read().decode(errors="replace").splitlines():
                parts = raw.split()
                if len(parts) < 4 or parts[0] != "GET" or parts[1] != path:
                    continue
                if parts[2] != "200":
                    bad += 1
                times.append(int(parts[3]) / 1000)
        return times, bad

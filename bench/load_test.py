"""Load test: N simulated users go through the whole product for a while; every request must succeed.

    python bench/load_test.py [--users 10] [--duration 60] [--ramp 5] [--latency 1] [--keep]

Starts everything on free loopback ports with production-like settings (DEBUG off): gunicorn
(`aniavatar.wsgi -w 2 --threads 4`), one Celery worker (threads pool) and the provider double
(`python -m provider_double --latency 1`), on a temporary SQLite database and the filesystem broker, or on
DATABASE_URL / CELERY_BROKER_URL when they are set (a queue of its own, so a shared broker is safe). Each
user signs up and adds an OpenAI key (checked against the double) once, then until the duration is up:
creates a persona, generates, polls the status fragment until the generation is final, and opens the usage
history and the dashboard. CSRF tokens come from the forms, cookies stay in each user's client.

Prints one JSON line per figure on stdout (requests, errors, p50 / p95 latency per page), then a table;
progress goes to stderr. Exits 1 if any request failed or any generation did not succeed. Bounded in users
and time; stops its processes (and their children) however it ends, and removes its temporary folder
unless --keep.
"""

from __future__ import annotations

import argparse
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
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
FINAL = {"succeeded", "failed", "canceled"}
POLL_SECONDS = 1.0  # as the page's htmx polling (every second while a generation runs)
GENERATION_DEADLINE = 60.0


def log(message: str) -> None:
    print(f"load: {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], p: float) -> float:
    """Return the p-th percentile (0–100), interpolated between the closest ranks."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# The servers


@dataclass
class Stack:
    """The app's processes on loopback, in sessions of their own so that each stops with its children."""

    folder: Path
    env: dict[str, str]
    base_url: str = ""
    processes: list[subprocess.Popen] = field(default_factory=list)

    def spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        out = (self.folder / f"{name}.log").open("ab")
        process = subprocess.Popen(
            args, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.processes.append(process)
        return process

    def run(self, args: list[str]) -> None:
        subprocess.run(args, cwd=ROOT, env=self.env, check=True, stdout=subprocess.DEVNULL)

    def stop(self) -> None:
        for process in reversed(self.processes):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for process in self.processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)

    def tail(self, name: str) -> str:
        path = self.folder / f"{name}.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""


def _wait_until(check, what: str, stack: Stack, name: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, httpx.HTTPError):
            if check():
                return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not start:\n{stack.tail(name)}")


@contextlib.contextmanager
def running_stack(*, latency: float, keep: bool) -> Iterator[Stack]:
    """Start the double, migrate, start a worker and gunicorn; stop them all afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="aniavatar-load-"))
    double_port, web_port = free_port(), free_port()
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ANIAVATAR_MASTER_KEYS": "1:" + base64.b64encode(os.urandom(32)).decode(),
        "ANIAVATAR_VAR_DIR": str(folder / "var"),
        "MEDIA_ROOT": str(folder / "media"),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "STATIC_MANIFEST": "false",
        "LOG_LEVEL": "INFO",  # the worker says "ready." at INFO
        "CELERY_QUEUE": f"load-{uuid.uuid4().hex[:12]}",
        "OPENAI_BASE_URL": f"http://127.0.0.1:{double_port}/v1",
        "FAL_QUEUE_URL": f"http://127.0.0.1:{double_port}/fal",
        "PROVIDER_TIMEOUT_SECONDS": "30",
        "PYTHONUNBUFFERED": "1",
        # Sign-up mails a code: each email is a file the simulated users read theirs from.
        "EMAIL_FILE_PATH": str(folder / "mail"),
        # Every simulated user comes from 127.0.0.1: as behind a proxy, each says its own address
        # (X-Forwarded-For), so the per-client limits count each user, not all of them as one.
        "TRUSTED_PROXY_COUNT": "1",
    }
    env.setdefault("DATABASE_URL", f"sqlite:///{folder / 'load.sqlite3'}")
    stack = Stack(folder, env, base_url=f"http://127.0.0.1:{web_port}")
    log(
        f"working in {folder} (database {env['DATABASE_URL'].split(':')[0]}, "
        f"broker {env.get('CELERY_BROKER_URL', 'filesystem://').split(':')[0]})"
    )
    try:
        stack.spawn(
            "double",
            [
                PYTHON,
                "-m",
                "provider_double",
                "--host",
                "127.0.0.1",
                "--port",
                str(double_port),
                "--latency",
                str(latency),
            ],
        )
        stack.run([PYTHON, "manage.py", "migrate", "--noinput"])
        stack.spawn(
            "worker",
            [
                PYTHON,
                "-m",
                "celery",
                "-A",
                "aniavatar",
                "worker",
                "--pool",
                "threads",
                "--concurrency",
                "16",
                "-Q",
                env["CELERY_QUEUE"],
                "-n",
                f"{env['CELERY_QUEUE']}@%h",
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
        )
        stack.spawn(
            "gunicorn",
            [
                PYTHON,
                "-m",
                "gunicorn",
                "aniavatar.wsgi",
                "-w",
                "2",
                "--threads",
                "4",
                "-b",
                f"127.0.0.1:{web_port}",
                "--timeout",
                "60",
                "--graceful-timeout",
                "5",
            ],
        )
        _wait_until(
            lambda: httpx.get(f"http://127.0.0.1:{double_port}/v1/models").status_code == 401,
            "the provider double",
            stack,
            "double",
        )
        _wait_until(lambda: b"ready." in (folder / "worker.log").read_bytes(), "the worker", stack, "worker")
        _wait_until(
            lambda: httpx.get(f"{stack.base_url}/healthz").status_code == 200, "gunicorn", stack, "gunicorn"
        )
        log(
            f"gunicorn on {stack.base_url}, worker on queue {env['CELERY_QUEUE']}, double on port {double_port}"
        )
        yield stack
    finally:
        stack.stop()
        _forget_queue(env.get("CELERY_BROKER_URL", ""), env["CELERY_QUEUE"])
        if keep:
            log(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


def _forget_queue(broker_url: str, queue: str) -> None:
    """Leave nothing on a shared Redis (the filesystem broker's folder goes with the temporary folder)."""
    if not broker_url.startswith(("redis://", "rediss://")):
        return
    import redis

    client = redis.Redis.from_url(broker_url)
    client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
    client.close()


# The users


@dataclass
class Results:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    journeys: int = 0
    generations: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, page: str, seconds: float, error: str | None = None) -> None:
        with self.lock:
            self.latencies[page].append(seconds)
            if error:
                self.errors.append(f"{page}: {error}")


class JourneyFailed(Exception):
    pass


class User:
    """One simulated person with a browser's cookie jar."""

    def __init__(self, base_url: str, results: Results, number: int, mail: Path) -> None:
        self.results, self.number, self.mail = results, number, mail
        self.client = httpx.Client(base_url=base_url, timeout=30, follow_redirects=False)
        self.address = f"10.{number // 65536 % 256}.{number // 256 % 256}.{number % 256}"

    def _cookies(self) -> str:
        # Production settings mark the session and CSRF cookies Secure, which a client sends over HTTPS
        # only; this is loopback HTTP, so hand them back as a browser behind a TLS proxy would.
        return "; ".join(f"{c.name}={c.value}" for c in self.client.cookies.jar)

    def send(
        self, method: str, path: str, page: str, *, data: dict | None = None, expect=(200,)
    ) -> httpx.Response:
        started = time.perf_counter()
        try:
            headers = {"Cookie": self._cookies(), "X-Forwarded-For": self.address}
            response = self.client.request(method, path, data=data, headers=headers)
        except httpx.HTTPError as exc:
            self.results.record(page, time.perf_counter() - started, f"{type(exc).__name__}: {exc}")
            raise JourneyFailed(page) from None
        error = None if response.status_code in expect else f"HTTP {response.status_code}"
        self.results.record(page, time.perf_counter() - started, error)
        if error:
            raise JourneyFailed(page)
        return response

    def form(self, path: str, page: str) -> str:
        """Open a page with a form and return its CSRF token."""
        html = self.send("GET", path, page).text
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
        if not match:
            self.results.record(page, 0, "no CSRF token in the form")
            raise JourneyFailed(page)
        self.last_html = html
        return match[1]

    def sign_up(self) -> None:
        """Sign up and add an OpenAI key, as a new user does once."""
        email = f"load-{self.number}-{uuid.uuid4().hex[:8]}@example.com"
        password = f"load test passphrase {secrets.token_hex(4)}"
        token = self.form("/accounts/signup/", "GET /accounts/signup/")
        self.send(
            "POST",
            "/accounts/signup/",
            "POST /accounts/signup/",
            expect=(302,),
            data={"csrfmiddlewaretoken": token, "email": email, "password1": password, "password2": password},
        )
        token = self.form("/accounts/confirm-email/", "GET /accounts/confirm-email/")
        self.send(
            "POST",
            "/accounts/confirm-email/",
            "POST /accounts/confirm-email/",
            expect=(302,),
            data={"csrfmiddlewaretoken": token, "code": self.emailed_code(email)},
        )
        self.send("GET", "/", "GET / (dashboard)")

        token = self.form("/keys/", "GET /keys/")
        self.send(
            "POST",
            "/keys/add/",
            "POST /keys/add/",
            expect=(302,),
            data={
                "csrfmiddlewaretoken": token,
                "provider": "openai",
                "label": "Load test",
                "api_key": f"sk-proj-load{secrets.token_urlsafe(30)}",
            },
        )

    def emailed_code(self, email: str) -> str:
        """The sign-up code mailed to `email` (the server writes each email to a file)."""
        for message in sorted(self.mail.glob("*.log"), key=lambda path: path.stat().st_mtime, reverse=True):
            text = message.read_text(errors="replace")
            found = re.search(r"^\s*([A-Z0-9]{4}-[A-Z0-9]{4})\s*$", text, re.MULTILINE)
            if email in text and found:
                return found[1]
        self.results.record("sign-up code", 0, "no code mailed")
        raise JourneyFailed("sign-up code")

    def journey(self, iteration: int) -> None:
        """Create a persona, generate, poll the status until final, open the history."""
        token = self.form("/personas/new/", "GET /personas/new/")
        response = self.send(
            "POST",
            "/personas/new/",
            "POST /personas/new/",
            expect=(302,),
            data={
                "csrfmiddlewaretoken": token,
                "name": f"Persona {iteration}",
                "role": "barista",
                "art_style": "photo",
            },
        )
        persona = response.headers["location"].rstrip("/").split("/")[-1]

        token = self.form(f"/generate/?persona={persona}", "GET /generate/")
        key = re.search(r'name="provider_key"[^>]*>\s*<option value="(\d+)"', self.last_html)
        response = self.send(
            "POST",
            "/generate/",
            "POST /generate/",
            expect=(302,),
            data={
                "csrfmiddlewaretoken": token,
                "persona": persona,
                "model": "gpt-image-2",
                "prompt": f"A friendly portrait of persona {iteration}",
                "provider_key": key[1] if key else "",
                "size": "1024x1024",
                "quality": "low",
                "background": "auto",
                "n": "1",
            },
        )
        detail = response.headers["location"]
        self.send("GET", detail, "GET /generations/<code>/")
        deadline = time.monotonic() + GENERATION_DEADLINE
        while True:
            html = self.send("GET", f"{detail}status/", "GET /generations/<code>/status/").text
            status = re.search(r'data-status="(\w+)"', html)
            if status and status[1] in FINAL:
                with self.results.lock:
                    self.results.generations[status[1]] += 1
                if status[1] != "succeeded":
                    self.results.record("generation", 0, f"generation {detail} {status[1]}")
                break
            if time.monotonic() > deadline:
                self.results.record(
                    "generation", 0, f"generation {detail} not final after {GENERATION_DEADLINE}s"
                )
                break
            time.sleep(POLL_SECONDS)
        self.send("GET", "/usage/", "GET /usage/")
        self.send("GET", "/", "GET / (dashboard)")
        with self.results.lock:
            self.results.journeys += 1

    def run(self, start: float, until: float) -> None:
        """Sign up once, then make avatars until the time is up."""
        time.sleep(max(0.0, start - time.monotonic()))
        signed_up, iteration = False, 0
        while time.monotonic() < until:
            try:
                if not signed_up:
                    self.client.cookies.clear()
                    self.sign_up()
                    signed_up = True
                self.journey(iteration)
            except JourneyFailed:
                time.sleep(1)  # recorded already; do not hammer a failing server
            iteration += 1
        self.client.close()


# The report


def report(results: Results, *, users: int, elapsed: float) -> int:
    figures = []

    def figure(name: str, value: float, unit: str) -> None:
        entry = {"bench": "load", "figure": name, "value": round(value, 1), "unit": unit}
        figures.append(entry)
        print(json.dumps(entry), flush=True)

    requests = sum(len(v) for page, v in results.latencies.items() if page != "generation")
    figure("users", users, "")
    figure("seconds", elapsed, "s")
    figure("requests", requests, "")
    figure("requests per second", requests / elapsed if elapsed else 0, "req/s")
    figure("errors", len(results.errors), "")
    figure("journeys completed", results.journeys, "")
    figure("generations succeeded", results.generations["succeeded"], "")
    rows = []
    for page, values in sorted(results.latencies.items()):
        if page == "generation":
            continue
        p50, p95 = percentile(values, 50) * 1000, percentile(values, 95) * 1000
        figure(f"{page} p50", p50, "ms")
        figure(f"{page} p95", p95, "ms")
        rows.append((page, len(values), p50, p95))
    print(
        f"\nLoad test: {users} users for {elapsed:.0f} s, {requests} requests, {len(results.errors)} errors, "
        f"{results.journeys} journeys, {results.generations['succeeded']} generations succeeded"
    )
    print(f"  {'page':<36} {'requests':>8} {'p50 ms':>8} {'p95 ms':>8}")
    for page, count, p50, p95 in rows:
        print(f"  {page:<36} {count:>8} {p50:>8.1f} {p95:>8.1f}")
    for error in results.errors[:20]:
        print(f"  ERROR {error}")
    return 1 if results.errors or not results.journeys else 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/load_test.py", description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=10, help="simulated users (default 10, at most 200)")
    parser.add_argument(
        "--duration", type=float, default=60, help="seconds of load (default 60, at most 3600)"
    )
    parser.add_argument("--ramp", type=float, default=5, help="seconds over which users arrive (default 5)")
    parser.add_argument("--latency", type=float, default=1.0, help="seconds the double takes per image")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, database)")
    args = parser.parse_args(argv)
    if not 1 <= args.users <= 200 or not 1 <= args.duration <= 3600 or not 0 <= args.ramp < args.duration:
        parser.error("--users must be 1–200, --duration 1–3600 seconds, --ramp less than --duration")
    signal.signal(signal.SIGTERM, _interrupt)
    results = Results()
    with running_stack(latency=args.latency, keep=args.keep) as stack:
        log(f"{args.users} users for {args.duration:g} s, arriving over {args.ramp:g} s")
        started = time.monotonic()
        until = started + args.duration
        threads = [
            # Users arrive one after another over the ramp-up, not all in the same instant.
            threading.Thread(
                target=User(stack.base_url, results, n, stack.folder / "mail").run,
                args=(started + args.ramp * n / args.users, until),
                daemon=True,
            )
            for n in range(args.users)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            # A journey in progress may finish after the duration (its generation is polled to the end).
            thread.join(args.duration + GENERATION_DEADLINE + 60)
        elapsed = time.monotonic() - started
        if results.errors:
            log("errors; the server logs say:\n" + stack.tail("gunicorn") + stack.tail("worker"))
    return report(results, users=args.users, elapsed=elapsed)


if __name__ == "__main__":
    sys.exit(main())

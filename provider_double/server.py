"""A loopback HTTP double of the OpenAI Images API and fal.ai's queue API, with scripted faults.

Tests start it in-process on port 0; `python -m provider_double` runs it for an offline demo. It never
talks to a real provider. Its request log keeps the raw Authorization headers on purpose: it is the
positive control for secret-canary tests (the key must reach the provider and nothing else).

Faults (`FAULTS`) are chosen by a key ending in `__<fault>` (every request with that key) or scripted per
provider with `script()` / `POST /_double/script` (consumed by the next image requests, in order).
See `openai_api` and `fal_api` for which endpoint each fault fires on.

It also keeps the provider's books (`ledger`): every request it bills, at its own prices, plus requests
made "outside" the app (`bill_outside`), and serves the admin endpoints that report them (OpenAI's
costs and image usage in `openai_admin`, fal's Platform API in `fal_platform`). `clock` stamps what it
bills (tests set it, so that nothing depends on the wall clock); `set_fal_price` changes a price.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import secrets
import socket
import struct
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from . import fal_api, fal_platform, openai_admin, openai_api
from .ledger import DEFAULT_ACCOUNT, DEFAULT_PROJECT, FAL_PRICES, Billed, fal_amount, openai_price
from .wire import FAULTS, PROVIDERS, Incoming, LoggedRequest, Reply, json_reply, key_fault

logger = logging.getLogger(__name__)

DEFAULT_PARTIAL_AT = (0.3, 0.6, 0.9)

Handler = Callable[["ProviderDouble", Incoming], Reply]


class ProviderDouble:
    """Serve the provider double on a background thread."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, *, latency: float = 0.0, hang_seconds: float = 30.0
    ) -> None:
        self.host = host
        self.port = port
        self.latency = latency
        self.hang_seconds = hang_seconds
        # When a streamed OpenAI call sends its partial images, as fractions of its latency (the first
        # `partial_images` of them; see openai_api.stream_events).
        self.partial_at: tuple[float, ...] = DEFAULT_PARTIAL_AT
        self._initial = (latency, hang_seconds)
        self.lock = threading.RLock()
        self.fal_jobs: dict[str, fal_api.FalJob] = {}
        self.cdn_files: dict[str, tuple[bytes, str]] = {}
        self._log: list[LoggedRequest] = []
        self._counts: Counter[str] = Counter()
        self._scripts: dict[str, deque[str]] = {provider: deque() for provider in PROVIDERS}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self.stopping = threading.Event()
        self.clock: Callable[[], dt.datetime] = _utc_now
        self._ledger: list[Billed] = []
        self.accounts: dict[str, str] = {}
        self.projects: dict[str, str] = {}
        self.fal_prices: dict[str, tuple[int, int]] = dict(FAL_PRICES)
        self.deleted_payloads: set[str] = set()

    # Lifecycle

    def start(self) -> ProviderDouble:
        """Bind the port and serve on a daemon thread."""
        server = ThreadingHTTPServer((self.host, self.port), _make_handler(self))
        server.daemon_threads = True
        self._server = server
        self.port = server.server_address[1]
        self.stopping.clear()
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="provider-double", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and drop open connections, waking any request held by `slow` or latency."""
        if self._server is None:
            return
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        with self.lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None

    def __enter__(self) -> ProviderDouble:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # Addresses

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in {"", "0.0.0.0"} else self.host  # noqa: S104 (display only)
        return f"http://{host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def fal_queue_url(self) -> str:
        return f"{self.url}/fal"

    @property
    def fal_platform_url(self) -> str:
        return f"{self.url}/fal-platform/v1"

    # The books

    def now(self) -> dt.datetime:
        return self.clock().astimezone(dt.UTC)

    def account_of(self, key: str) -> str:
        with self.lock:
            return self.accounts.get(key, DEFAULT_ACCOUNT)

    def set_account(self, key: str, account: str, *, project: str | None = None) -> None:
        """Put a key in another organisation (OpenAI) or account (fal), optionally in an OpenAI project."""
        with self.lock:
            self.accounts[key] = account
            if project is not None:
                self.projects[key] = project

    def project_of(self, key: str) -> str:
        with self.lock:
            return self.projects.get(key, DEFAULT_PROJECT)

    def set_fal_price(self, app: str, *, first_megapixel: int, extra_megapixel: int) -> None:
        """Change what fal charges for an app from now on (nano-dollars per megapixel)."""
        with self.lock:
            self.fal_prices[app] = (first_megapixel, extra_megapixel)

    def fal_price(self, app: str) -> tuple[int, int]:
        with self.lock:
            return self.fal_prices.get(app, (0, 0))

    def bill(self, entry: Billed) -> None:
        with self.lock:
            self._ledger.append(entry)

    def bill_outside(
        self,
        provider: str,
        key: str,
        model: str,
        *,
        size: str = "1024x1024",
        images: int = 1,
        when: dt.datetime | None = None,
        output_tokens: int = 272,
        input_tokens: int = 20,
    ) -> Billed:
        """Bill a request made with `key` but not through the app (another tool, a script)."""
        width, height = (int(part) for part in size.split("x"))
        at = (when or self.now()).astimezone(dt.UTC)
        if provider == "openai":
            text_price, output_price = openai_price(model)
            entry = Billed(
                "openai", key, self.account_of(key), model, width, height, images, at,
                request_id=f"req_{secrets.token_hex(16)}",
                input_nanousd=input_tokens * text_price,
                output_nanousd=output_tokens * images * output_price,
                project=self.project_of(key), outside=True,
            )  # fmt: skip
        elif provider == "fal":
            price = self.fal_price(model)
            entry = Billed(
                "fal", key, self.account_of(key), model, width, height, 1, at,
                request_id=fal_api.new_request_id(), output_nanousd=fal_amount(price, width, height),
                unit_price_nanousd=price[0], outside=True,
            )  # fmt: skip
        else:
            raise ValueError(f"unknown provider {provider!r}")
        self.bill(entry)
        return entry

    def billed(self, provider: str, account: str | None = None) -> list[Billed]:
        """Return the provider's books (fal: every request that ran, billed or not), oldest first."""
        with self.lock:
            entries = [e for e in self._ledger if e.provider == provider]
            jobs = list(self.fal_jobs.values()) if provider == "fal" else []
        entries += [entry for job in jobs if (entry := fal_api.as_billed(job)) is not None]
        if account is not None:
            entries = [e for e in entries if e.account == account]
        return sorted(entries, key=lambda e: e.at)

    # Scripting

    def script(self, provider: str, faults: Iterable[str]) -> None:
        """Queue faults for the next image requests to the provider ("openai" or "fal")."""
        faults = list(faults)
        if provider not in PROVIDERS:
            raise ValueError(f"unknown provider {provider!r}; expected one of {sorted(PROVIDERS)}")
        unknown = [f for f in faults if f not in FAULTS and f != "ok"]
        if unknown:
            raise ValueError(f"unknown faults {unknown}; expected some of {sorted(FAULTS)}")
        with self.lock:
            self._scripts[provider].extend(faults)

    def take_fault(self, provider: str, api_key: str) -> str | None:
        """Return the fault for this image request: the key's own, else the next scripted one."""
        fault = key_fault(api_key)
        if fault is not None:
            return fault
        with self.lock:
            queue = self._scripts[provider]
            fault = queue.popleft() if queue else None
        # "ok" lets a script say "succeed this time" between faults.
        return None if fault == "ok" else fault

    def reset(self) -> None:
        """Forget requests, counters, scripts, queued jobs and files; restore the initial timings."""
        with self.lock:
            self._log.clear()
            self._counts.clear()
            for queue in self._scripts.values():
                queue.clear()
            self.fal_jobs.clear()
            self.cdn_files.clear()
            self.latency, self.hang_seconds = self._initial
            self.partial_at = DEFAULT_PARTIAL_AT
            self.clock = _utc_now
            self._ledger.clear()
            self.accounts.clear()
            self.projects.clear()
            self.fal_prices = dict(FAL_PRICES)
            self.deleted_payloads.clear()

    # The request log

    def record(self, entry: LoggedRequest) -> None:
        """Append a request to the log."""
        with self.lock:
            self._log.append(entry)
            self._counts[entry.endpoint] += 1

    def requests(self, endpoint: str | None = None) -> list[LoggedRequest]:
        """Return the logged requests, optionally only those of one endpoint."""
        with self.lock:
            return [r for r in self._log if endpoint is None or r.endpoint == endpoint]

    def count(self, endpoint: str) -> int:
        """Return how many requests reached an endpoint, e.g. "openai.generate" or "fal.submit"."""
        with self.lock:
            return self._counts[endpoint]

    def counts(self) -> dict[str, int]:
        """Return all per-endpoint counters."""
        with self.lock:
            return dict(self._counts)

    def received_credentials(self) -> set[str]:
        """Return every key received as `Authorization: Bearer <k>` or `Authorization: Key <k>`."""
        keys = set()
        for entry in self.requests():
            scheme, _, key = entry.headers.get("authorization", "").partition(" ")
            if scheme.lower() in {"bearer", "key"} and key.strip():
                keys.add(key.strip())
        return keys

    def track(self, conn: socket.socket, *, add: bool) -> None:
        """Remember open connections so stop() can close them."""
        with self.lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _control(double: ProviderDouble, req: Incoming) -> Reply:
    """Answer the /_double/* endpoints used to drive a double in another process."""
    action = req.path.removeprefix("/_double/").strip("/")
    if req.method == "GET" and action == "requests":
        log = [r.as_dict() for r in double.requests()]
        return json_reply(200, {"requests": log, "counts": double.counts()})
    if req.method != "POST":
        return json_reply(405, {"detail": "Method not allowed."})
    try:
        body = req.json() if req.body else {}
        if action == "reset":
            double.reset()
        elif action == "script":
            double.script(body["provider"], body["faults"])
        elif action == "latency":
            double.latency = float(body["seconds"])
        elif action == "hang":
            double.hang_seconds = float(body["seconds"])
        elif action == "partials":
            double.partial_at = _fractions(body["at"])
        else:
            return json_reply(404, {"detail": f"Unknown control endpoint {action!r}."})
    except (ValueError, KeyError, TypeError) as exc:
        return json_reply(400, {"detail": str(exc)})
    return json_reply(
        200,
        {
            "ok": True,
            "latency": double.latency,
            "hang_seconds": double.hang_seconds,
            "partial_at": list(double.partial_at),
        },
    )


def _fractions(values: Any) -> tuple[float, ...]:
    """Return when partial images are sent, as increasing fractions of the latency in [0, 1]."""
    fractions = tuple(float(v) for v in values)
    if len(fractions) > 3 or any(not 0 <= f <= 1 for f in fractions) or list(fractions) != sorted(fractions):
        raise ValueError("partials: up to 3 increasing fractions of the latency, each between 0 and 1")
    return fractions


def _not_found(double: ProviderDouble, req: Incoming) -> Reply:
    return json_reply(404, {"detail": "Not found."})


OPENAI_ROUTES: dict[tuple[str, str], tuple[str, Handler]] = {
    ("/v1/models", "GET"): ("openai.models", openai_api.list_models),
    ("/v1/images/generations", "POST"): ("openai.generate", openai_api.generate),
    ("/v1/images/edits", "POST"): ("openai.edit", openai_api.edit),
}


def route(req: Incoming) -> tuple[str, Handler]:
    """Return the endpoint name (for counters) and the handler for a request."""
    path, method = req.path, req.method
    if path.startswith("/_double/"):
        return "control", _control
    if (path, method) in OPENAI_ROUTES:
        return OPENAI_ROUTES[path, method]
    if path.startswith("/cdn/") and method == "GET":
        return "cdn", fal_api.cdn
    if path.startswith("/v1/organization/"):
        return openai_admin.route(path, method)
    if path.startswith("/fal-platform/v1/"):
        return fal_platform.route(path, method)
    match = fal_api.REQUEST_PATH.match(path)
    if match:
        tail = match["tail"] or ""
        if tail == "/status" and method == "GET":
            return "fal.status", fal_api.status
        if tail == "/cancel" and method == "PUT":
            return "fal.cancel", fal_api.cancel
        if not tail and method == "GET":
            return "fal.result", fal_api.result
    elif path.startswith("/fal/") and method == "POST":
        return "fal.submit", fal_api.submit
    return "unknown", _not_found


def _make_handler(double: ProviderDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the SDKs' pools expect
        server_version = "provider-double/1"
        timeout = 60  # close idle keep-alive connections eventually

        def setup(self) -> None:
            super().setup()
            # Headers and body go out in separate writes; without this, Nagle + delayed ACK add ~40 ms each.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            double.track(self.connection, add=True)

        def finish(self) -> None:
            double.track(self.connection, add=False)
            with contextlib.suppress(OSError):
                super().finish()

        def _serve(self) -> None:
            received = time.monotonic()
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            headers = {name.lower(): value for name, value in self.headers.items()}
            host = headers.get("host") or double.url.removeprefix("http://")
            req = Incoming(self.command, parts.path, parts.query, headers, body, host)
            endpoint, handler = route(req)
            try:
                parsed: Any = req.json() if body else None
            except ValueError:
                parsed = None
            double.record(LoggedRequest(self.command, parts.path, endpoint, headers, parsed))
            try:
                reply = handler(double, req)
            except Exception:
                logger.exception("provider double failed on %s %s", self.command, parts.path)
                reply = json_reply(500, {"detail": "The provider double crashed."})
            if reply.reset:
                self._reset()
                return
            if reply.events is not None:
                self._stream(reply, received)
                return
            if reply.delay > 0 and double.stopping.wait(reply.delay):
                self.close_connection = True
                return
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(reply.body)

        def _stream(self, reply: Reply, started: float) -> None:
            """Send server-sent events as chunks, each at its moment after `started`; end or reset the stream."""
            self.send_response(reply.status)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Cache-Control", "no-cache")
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.flush()
            for at, make in reply.events or []:
                chunk = make()  # drawn while waiting for its moment, not on top of it
                wait = at - (time.monotonic() - started)
                if wait > 0 and double.stopping.wait(wait):
                    self.close_connection = True
                    return
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            if reply.break_stream:
                self._reset()
                return
            self.wfile.write(b"0\r\n\r\n")

        def _reset(self) -> None:
            # SO_LINGER with a zero timeout makes close() send RST instead of FIN: a "connection reset".
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def do_PUT(self) -> None:
            self._serve()

        def do_DELETE(self) -> None:
            self._serve()

        def handle_one_request(self) -> None:
            try:
                super().handle_one_request()
            except (ConnectionError, OSError):
                # The client gave up (deadline passed) or the connection was reset on purpose.
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("provider double: " + format, *args)

    return Handler

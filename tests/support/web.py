"""Start a real web process (gunicorn, as the Dockerfile runs it) on the test database, and talk to it.

`web_process(env, log_path)` serves the app on a free loopback port until the block ends;
`WebSession` is a signed-in visitor of such a process: its session cookie comes from the shared
database (`tests.support.accounts.sign_in`), its CSRF token from the page it posts, as a browser's would.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Web:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def web_process(env: dict[str, str], log_path: Path, *, workers: int = 1) -> Iterator[Web]:
    """Run gunicorn (sync workers) with `env` on a free loopback port; stop it (and its workers) after."""
    port = _free_port()
    args = [sys.executable, "-m", "gunicorn", "aniavatar.wsgi", "--bind", f"127.0.0.1:{port}"]
    args += ["--workers", str(workers), "--access-logfile", "-"]
    with log_path.open("ab") as out:
        process = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    web = Web(f"http://127.0.0.1:{port}", process, log_path)
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{web.url}/healthz", timeout=2).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the web process did not start:\n" + web.log()[-3000:])
            time.sleep(0.1)
        yield web
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


@dataclass
class WebSession:
    """A signed-in visitor of one web process (cookies kept by hand: the test server is plain HTTP)."""

    web: Web
    session_id: str
    cookies: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.cookies.setdefault("sessionid", self.session_id)
        self.client = httpx.Client(base_url=self.web.url, timeout=30, follow_redirects=False)

    def _cookie_header(self) -> dict[str, str]:
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}

    def _keep(self, response: httpx.Response) -> httpx.Response:
        for name, value in response.cookies.items():
            self.cookies[name] = value
        return response

    def get(self, path: str) -> httpx.Response:
        return self._keep(self.client.get(path, headers=self._cookie_header()))

    def post_form(self, path: str, data: dict[str, str]) -> httpx.Response:
        """GET the form's page for its CSRF token, then POST `data` to it, as a browser submits a form."""
        page = self.get(path)
        match = CSRF_INPUT.search(page.text)
        assert page.status_code == 200 and match, (page.status_code, page.text[:500])
        headers = {**self._cookie_header(), "Referer": f"{self.web.url}{path}"}
        response = self.client.post(path, data={**data, "csrfmiddlewaretoken": match[1]}, headers=headers)
        return self._keep(response)

    def close(self) -> None:
        self.client.close()

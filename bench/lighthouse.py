"""Lighthouse (mobile) on the main pages: `make lighthouse`, or `python bench/lighthouse.py [--out DIR]`.

Starts the app on a loopback port with production-like settings (DEBUG off, gunicorn) in a temporary
folder: the provider double (for the demo's keys), `manage.py seed_demo` (demo@example.com, keys, two
personas), then a succeeded generation with two images, a failed one and a cost, made with the tests'
factories. Runs Lighthouse 12 with its default (mobile) settings on each page, signed out for the public
ones and with the demo account's session cookie (`--extra-headers`) for the others, prints a table of the
accessibility, best-practices and SEO scores and every audit that did not pass, and stops everything.

Needs Node 20 and Chromium (CHROME_PATH, default /usr/bin/chromium). Lighthouse comes from
`npx --yes lighthouse@12.2.3`, or from LIGHTHOUSE=/path/to/node_modules/.bin/lighthouse after
`npm i -E lighthouse@12.2.3` in a folder of your choice. The figures go in the README, not in CI.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
LIGHTHOUSE = shlex.split(os.environ.get("LIGHTHOUSE", "npx --yes lighthouse@12.2.3"))
CATEGORIES = ("accessibility", "best-practices", "seo")
PUBLIC = {"Landing": "/", "Log in": "/accounts/login/", "Sign up": "/accounts/signup/"}
PUBLIC["Password reset"] = "/accounts/password/reset/"
BY_DESIGN = ("seo: is-crawlable ", "seo: meta-description ")  # what a noindex page fails on purpose

# Run in `manage.py shell`: the demo's data for the generation and gallery pages, and a session cookie.
SEED = """
import json
from accounts.models import User
from generation.models import Generation, Persona
from tests.support.accounts import client_for, workspace_of
from tests.support.factories import make_cost, make_generation, make_image, png_bytes
user = User.objects.get(email="demo@example.com")
workspace = workspace_of(user)
persona = Persona.objects.for_workspace(workspace).order_by("name").first()
done = make_generation(workspace, user, persona=persona, n=2)
image = make_image(done, 0, data=png_bytes(512, 512, (180, 120, 90)))
make_image(done, 1, data=png_bytes(512, 512, (90, 120, 180)))
make_cost(done)
make_generation(workspace, user, persona=persona, status=Generation.Status.FAILED,
                error_kind="content_policy", error_message="The provider refused the prompt.")
session = client_for(user).cookies["sessionid"].value
print(json.dumps({"persona": str(persona.code), "generation": str(done.code), "image": str(image.code),
                  "session": session}))
"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, status: int, what: str) -> None:
    for _ in range(120):
        try:
            if httpx.get(url).status_code == status:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{what} did not start ({url})")


def lighthouse(url: str, report: Path, cookie: str | None) -> dict[str, object]:
    command = [
        *LIGHTHOUSE,
        url,
        "--only-categories=" + ",".join(CATEGORIES),
        "--output=json",
        f"--output-path={report}",
        "--chrome-flags=--headless --no-sandbox",
        "--quiet",
    ]
    if cookie:
        command.append("--extra-headers=" + json.dumps({"Cookie": cookie}))
    env = {**os.environ, "CHROME_PATH": os.environ.get("CHROME_PATH", "/usr/bin/chromium")}
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    return json.loads(report.read_text())


def summary(result: dict) -> tuple[dict[str, int], list[str]]:
    scores = {name: round(result["categories"][name]["score"] * 100) for name in CATEGORIES}
    failed = []
    for name in CATEGORIES:
        for ref in result["categories"][name]["auditRefs"]:
            audit = result["audits"][ref["id"]]
            if ref["weight"] and audit["score"] is not None and audit["score"] < 1:
                failed.append(f"{name}: {ref['id']} ({audit['title']})")
    return scores, failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, help="keep the JSON reports here (default: a temporary folder)")
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="aniavatar-lighthouse-"))
    out = args.out or folder / "reports"
    out.mkdir(parents=True, exist_ok=True)
    double_port, web_port = free_port(), free_port()
    base = f"http://127.0.0.1:{web_port}"
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ANIAVATAR_MASTER_KEYS": "1:" + base64.b64encode(os.urandom(32)).decode(),
        "ANIAVATAR_VAR_DIR": str(folder / "var"),
        "MEDIA_ROOT": str(folder / "media"),
        "DATABASE_URL": f"sqlite:///{folder / 'lighthouse.sqlite3'}",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "STATIC_MANIFEST": "false",
        "OPENAI_BASE_URL": f"http://127.0.0.1:{double_port}/v1",
        "FAL_QUEUE_URL": f"http://127.0.0.1:{double_port}/fal",
        "FAL_PLATFORM_URL": f"http://127.0.0.1:{double_port}/fal-platform/v1",
    }
    env.pop("CELERY_BROKER_URL", None)
    processes: list[subprocess.Popen] = []
    try:

        def start(command: list[str]) -> None:
            processes.append(
                subprocess.Popen(
                    command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
            )

        def run(command: list[str]) -> None:
            subprocess.run(
                command, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )

        double = [PYTHON, "-m", "provider_double", "--host", "127.0.0.1", "--port", str(double_port)]
        start(double)
        run([PYTHON, "manage.py", "migrate", "--noinput"])
        wait_for(f"http://127.0.0.1:{double_port}/v1/models", 401, "the provider double")
        run([PYTHON, "manage.py", "seed_demo"])
        seeded = subprocess.run(
            [PYTHON, "manage.py", "shell", "-c", SEED],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        data = json.loads(seeded.stdout.strip().splitlines()[-1])
        gunicorn = [PYTHON, "-m", "gunicorn", "aniavatar.wsgi", "-w", "2", "-b", f"127.0.0.1:{web_port}"]
        start(gunicorn)
        wait_for(f"{base}/healthz", 200, "gunicorn")
        signed_in = {
            "Dashboard": "/",
            "Personas": "/personas/",
            "Persona": f"/personas/{data['persona']}/",
            "Generate": "/generate/",
            "Generation": f"/generations/{data['generation']}/",
            "Gallery": "/gallery/",
            "Gallery image": f"/gallery/{data['image']}/",
            "Usage": "/usage/",
            "API keys": "/keys/",
            "Workspace": "/workspace/",
            "Two-factor": "/accounts/2fa/",
        }
        cookie = f"sessionid={data['session']}"
        rows, problems = [], []
        pages = [(name, path, None) for name, path in PUBLIC.items()]
        pages += [(name, path, cookie) for name, path in signed_in.items()]
        for number, (name, path, session) in enumerate(pages):
            log(f"lighthouse {name} ({path}){' signed in' if session else ''}")
            result = lighthouse(base + path, out / f"{number:02d}.json", session)
            if result.get("runtimeError"):
                raise RuntimeError(f"{name}: {result['runtimeError']}")
            if session and "/accounts/login/" in result["finalDisplayedUrl"]:
                raise RuntimeError(f"{name}: the session cookie did not sign in")
            scores, failed = summary(result)
            # Pages marked noindex (signed-in pages, password reset) fail two SEO audits on purpose.
            noindex = result["audits"]["is-crawlable"]["score"] == 0
            rows.append((name, scores, noindex))
            problems += [f"{name}: {line}" for line in failed if not (noindex and line.startswith(BY_DESIGN))]
        print("| Page | Accessibility | Best practices | SEO |")
        print("| --- | --- | --- | --- |")
        for name, scores, noindex in rows:
            seo = f"{scores['seo']} (noindex)" if noindex else scores["seo"]
            print(f"| {name} | {scores['accessibility']} | {scores['best-practices']} | {seo} |")
        print(
            "\n".join(["", "Audits that did not pass:", *problems]) if problems else "\nEvery audit passed."
        )
        print("(On noindex pages the SEO audits is-crawlable and meta-description fail by design.)")
        if args.out:
            log(f"reports in {out}")
        return 0
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

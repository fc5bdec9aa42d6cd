"""Pages at scale under gunicorn: one workspace with years of history, loaded on loopback.

`seed()` gives one agency workspace 100,000 succeeded generations with their cost records (one every
15 minutes, so almost three years, three members, twenty personas, OpenAI and fal models) and images
for the newest 10,000 of them. Image rows share eight real files: photographs at 1024×1024 with the
app's own thumbnails, so the gallery's weight is that of real avatars.

`pages`: each page is loaded by wrk (or a small threaded client when wrk is missing) for a few seconds
with a signed-in session against gunicorn; its server-side p50/p95 come from gunicorn's access log
(time spent in the worker), its throughput is compared with /healthz on the same server, and the first
gallery page is weighed with everything it loads.

`csv`: the usage export streamed from a gunicorn worker of its own, for about 10,000 rows and then
100,000: time to first byte, total time, and the worker's peak memory after each.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import http.client
import io
import json
import re
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.harness import PASSWORD, Report, Web, World, cpu_seconds, http_get, log, memory_mib, percentile

STEP = dt.timedelta(minutes=15)
BATCH = 5000
# (provider, model, size, per-image cost in nano-dollars), one generation in ten each.
MIX = [
    ("openai", "gpt-image-2", 1024, 8_370_000),
    ("openai", "gpt-image-2", 1024, 8_370_000),
    ("openai", "gpt-image-2", 1024, 8_370_000),
    ("openai", "gpt-image-2", 1536, 12_120_000),
    ("openai", "gpt-image-1.5", 1024, 9_000_000),
    ("openai", "gpt-image-1-mini", 1024, 2_200_000),
    ("openai", "gpt-image-2.5-flare", 1024, 11_000_000),
    ("fal", "fal-ai/flux-2-max", 1024, 70_000_000),
    ("fal", "fal-ai/flux-2-pro", 1024, 30_000_000),
    ("fal", "fal-ai/flux-2-pro", 1536, 60_000_000),
]


@dataclass
class Seeded:
    user: Any
    workspace: Any
    costs: int
    images: int
    newest: dt.datetime

    def day_of_record(self, index: int) -> dt.date:
        """Return the UTC date of the index-th newest record."""
        return (self.newest - index * STEP).astimezone(dt.UTC).date()


def _image_files(workspace: Any, count: int = 8) -> list[tuple[str, str, int, str]]:
    """Store `count` different photographs and their thumbnails; return (file, thumbnail, size, sha256)."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from PIL import Image, ImageOps

    from bench.double import photo
    from generation.images import make_thumbnail

    base = Image.open(io.BytesIO(photo(1024, 1024)))
    files = []
    for k in range(count):
        # Mirrored, zoomed and colour-shifted variants: different bytes, the same kind of picture.
        picture = ImageOps.mirror(base) if k % 2 else base
        zoom = 1 + 0.05 * (k // 2)
        side = round(1024 / zoom)
        left = (1024 - side) // 2
        picture = picture.crop((left, left, left + side, left + side)).resize((1024, 1024))
        picture = Image.blend(picture, Image.new("RGB", (1024, 1024), (40 * k % 255, 90, 160)), 0.06 * k)
        out = io.BytesIO()
        picture.save(out, "PNG")
        data = out.getvalue()
        prefix = f"images/{workspace.code}/bench-{k}"
        name = default_storage.save(f"{prefix}.png", ContentFile(data))
        thumb = default_storage.save(f"{prefix}.thumb.webp", ContentFile(make_thumbnail(data)))
        files.append((name, thumb, len(data), hashlib.sha256(data).hexdigest()))
    return files


def seed(*, costs: int = 100_000, images: int = 10_000) -> Seeded:
    """Create the agency workspace and its history (bulk inserts, then ANALYZE)."""
    import uuid

    from django.db import connection
    from django.db.models import OuterRef, Subquery
    from django.utils import timezone

    from accounts.models import Membership, User
    from accounts.services import create_account
    from bench.pipeline import workspace_of
    from generation.models import CostRecord, GeneratedImage, Generation, Persona
    from generation.services import build_prompt
    from generation.usage.roll_ups import rebuild_roll_ups

    started = time.monotonic()
    owner = create_account(email="agency@bench.example", password=PASSWORD, name="Agency")
    workspace = workspace_of(owner)
    members = [owner]
    for name in ("dana", "eli"):
        user = User.objects.create_user(email=f"{name}@bench.example", password=None, name=name.title())
        Membership.objects.create(user=user, workspace=workspace, role=Membership.Role.MEMBER)
        members.append(user)
    personas = Persona.objects.bulk_create(
        Persona(
            workspace=workspace,
            created_by=owner,
            name=f"Persona {i}",
            role="product manager at a mid-size retailer",
            age_range=Persona.AgeRange.ADULT,
            appearance="short dark hair, glasses, warm smile",
            art_style=Persona.ArtStyle.PHOTO,
        )
        for i in range(20)
    )
    prompts = [build_prompt(p) for p in personas]
    files = _image_files(workspace)
    newest = timezone.now() - dt.timedelta(minutes=1)
    log(f"pages: seeding {costs} generations with cost records and {images} images")
    for first in range(0, costs, BATCH):
        generations = []
        for i in range(first, min(first + BATCH, costs)):
            provider, model, side, cost = MIX[i % len(MIX)]
            created = newest - i * STEP
            generations.append(
                Generation(
                    workspace=workspace,
                    created_by=members[i % 3],
                    persona=personas[i % 20],
                    persona_name=personas[i % 20].name,
                    provider=provider,
                    model=model,
                    prompt=prompts[i % 20],
                    width=side,
                    height=1024,
                    quality="low" if provider == "openai" else "",
                    output_format="png" if provider == "openai" else "jpeg",
                    status=Generation.Status.SUCCEEDED,
                    quote_nanousd=cost + cost // 10,
                    quote_exact=provider == "fal",
                    created_at=created,
                    started_at=created + dt.timedelta(seconds=1),
                    finished_at=created + dt.timedelta(seconds=25),
                    attempts=1,
                )
            )
        Generation.objects.bulk_create(generations)
        records, rows = [], []
        for offset, generation in enumerate(generations):
            i = first + offset
            if generation.provider == "openai":
                usage = {"input_tokens": 61, "output_tokens": 196, "total_tokens": 257}
                prices = {"text_input": 5000, "image_input": 8000, "image_output": 30000}
            else:
                usage = {"images": [{"width": generation.width, "height": 1024, "megapixels": 1}]}
                prices = {"first_megapixel": 70_000_000, "extra_megapixel": 30_000_000}
            records.append(
                CostRecord(
                    workspace=workspace,
                    created_by=generation.created_by,
                    generation=generation,
                    provider=generation.provider,
                    model=generation.model,
                    usage=usage,
                    unit_prices=prices,
                    price_version="2026-11-26",
                    amount_nanousd=MIX[i % len(MIX)][3],
                    provider_request_ids=[f"req_{uuid.uuid4().hex}"],
                    images=1,
                    created_at=generation.created_at,
                )
            )
            if i < images:
                name, thumb, size, sha = files[i % len(files)]
                rows.append(
                    GeneratedImage(
                        code=uuid.uuid4(),
                        workspace=workspace,
                        generation=generation,
                        index=0,
                        file=name,
                        thumbnail=thumb,
                        width=generation.width,
                        height=1024,
                        content_type="image/png",
                        size_bytes=size,
                        sha256=sha,
                    )
                )
        CostRecord.objects.bulk_create(records)
        GeneratedImage.objects.bulk_create(rows)
    # The monthly roll-ups the pipeline keeps as it writes each record, built in one pass here.
    rebuild_roll_ups(workspace)
    # created_at is auto_now_add on images: give each its generation's time, as the pipeline would.
    GeneratedImage.objects.filter(workspace=workspace).update(
        created_at=Subquery(Generation.objects.filter(pk=OuterRef("generation_id")).values("created_at")[:1])
    )
    with connection.cursor() as cursor:
        # What autovacuum does soon after bulk inserts on PostgreSQL: statistics, and the visibility map
        # that index-only scans need. (VACUUM on SQLite would only rewrite the file.)
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")
    log(f"pages: seeded in {time.monotonic() - started:.1f} s")
    return Seeded(owner, workspace, costs, images, newest)


def session_cookie(user: Any) -> str:
    """Return a Cookie header for a signed-in session of `user` (stored in the bench database)."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


# Load


WRK_SCRIPT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests": %d, "duration_us": %d, "bad": %d, "p50_us": %d, "p95_us": %d}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout + e.status,
    latency:percentile(50), latency:percentile(95)))
end
"""


@dataclass
class Load:
    requests: int
    seconds: float
    bad: int
    client_p50_ms: float
    client_p95_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def _wrk() -> str | None:
    """Return wrk's path, installing Debian's package when possible."""
    if shutil.which("wrk") is None and shutil.which("apt-get") is not None:
        log("installing wrk (apt-get install -y wrk)")
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], capture_output=True, check=False)
    return shutil.which("wrk")


def load(url: str, *, cookie: str, seconds: float, connections: int) -> Load:
    """Keep `connections` requests in flight for `seconds`; wrk when available, else Python threads."""
    wrk = _wrk()
    if wrk is None:
        return _python_load(url, cookie=cookie, seconds=seconds, connections=connections)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT)
    try:
        args = [
            wrk,
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            script.name,
        ]
        args += ["-H", f"Cookie: {cookie}", url]
        out = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 30, check=True).stdout
    finally:
        Path(script.name).unlink()
    result = json.loads([line for line in out.splitlines() if line.startswith("{")][-1])
    return Load(
        requests=result["requests"],
        seconds=result["duration_us"] / 1e6,
        bad=result["bad"],
        client_p50_ms=result["p50_us"] / 1000,
        client_p95_ms=result["p95_us"] / 1000,
    )


def _python_load(url: str, *, cookie: str, seconds: float, connections: int) -> Load:
    parts = urlsplit(url)
    latencies: list[float] = []
    bad = [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client() -> None:
        while time.perf_counter() < deadline:
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
            started = time.perf_counter()
            try:
                conn.request("GET", parts.path, headers={"Cookie": cookie})
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
            except OSError:
                ok = False
            finally:
                conn.close()
            with lock:
                latencies.append((time.perf_counter() - started) * 1000)
                bad[0] += not ok

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return Load(len(latencies), elapsed, bad[0], percentile(latencies, 50), percentile(latencies, 95))


# Pages


PAGES = [("trivial", "/healthz"), ("dashboard", "/"), ("usage", "/usage/"), ("gallery", "/gallery/")]


class _Assets(HTMLParser):
    """Collect what a browser would fetch for a page: stylesheets, icons, scripts and images."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "link" and found.get("rel") in {"stylesheet", "icon"} and found.get("href"):
            self.urls.append(found["href"] or "")
        elif tag in {"script", "img"} and found.get("src"):
            self.urls.append(found["src"] or "")


def run_pages(world: World, report: Report, seeded: Seeded, *, seconds: float = 8, workers: int = 3) -> None:
    """Measure each page twice against gunicorn with the Dockerfile's 3 workers.

    Latency: one request at a time, so p50/p95 are what the page itself costs, not a queue. Throughput:
    `workers` requests in flight, the server saturated, compared with /healthz under the same load.
    """
    cookie = session_cookie(seeded.user)
    with world.web(workers=workers, access_log=world.tmp / "access-pages.log") as web:
        rps: dict[str, float] = {}
        for name, path in PAGES:
            status, body = http_get(web.url + path, cookie=cookie)
            if status != 200:
                raise RuntimeError(f"{path} answered {status}, not 200: {body[:300]!r}")
            for _ in range(10):  # warm every worker's caches and connection
                http_get(web.url + path, cookie=cookie)
            log(
                f"pages: {path}, one request at a time for {seconds / 2:g} s, then {workers} for {seconds:g} s"
            )
            since = web.log_offset()
            single = load(web.url + path, cookie=cookie, seconds=seconds / 2, connections=1)
            times, bad = web.server_times_ms(path, since)
            since, cpu_before = web.log_offset(), cpu_seconds(web.process.pid)
            saturated = load(web.url + path, cookie=cookie, seconds=seconds, connections=workers)
            cpu = cpu_seconds(web.process.pid) - cpu_before
            loaded_times, loaded_bad = web.server_times_ms(path, since)
            rps[name] = saturated.rps
            target = None if name == "trivial" else 100
            report.add("pages", f"{name}_p50_ms", percentile(times, 50))
            report.add("pages", f"{name}_p95_ms", percentile(times, 95), target=target)
            report.add("pages", f"{name}_saturated_p95_ms", percentile(loaded_times, 95))
            report.add("pages", f"{name}_rps", saturated.rps)
            # CPU of the gunicorn workers per request (the database's own is not counted).
            report.add("pages", f"{name}_web_cpu_ms_per_request", cpu * 1000 / max(1, len(loaded_times)))
            if name != "trivial":
                ratio_target = 0.5 if name == "dashboard" else None
                report.add(
                    "pages",
                    f"{name}_rps_ratio",
                    saturated.rps / rps["trivial"],
                    target=ratio_target,
                    at_least=True,
                )
            errors = bad + single.bad + loaded_bad + saturated.bad
            report.add("pages", f"{name}_errors", errors, target=0)
        _weigh_gallery(web, report, cookie)


# What browsers send: the server may answer with compressed files where it has them.
BROWSER = {"Accept_Encoding": "gzip, deflate, br"}


def _weigh_gallery(web: Web, report: Report, cookie: str) -> None:
    """Weigh the first gallery page as a browser with an empty cache loads it (bytes on the wire)."""
    _, html = http_get(web.url + "/gallery/", cookie=cookie, **BROWSER)
    assets = _Assets()
    assets.feed(html.decode())
    urls = list(dict.fromkeys(assets.urls))
    thumbnails = [u for u in urls if re.search(r"/images/[^/]+/thumb/", u)]
    sizes = {}
    for url in urls:
        code, body = http_get(web.url + url, cookie=cookie, **BROWSER)
        if code != 200:
            raise RuntimeError(f"{url} on the gallery page answered {code}")
        sizes[url] = len(body)
    thumbs_kb = sum(sizes[u] for u in thumbnails) / 1024
    other_kb = sum(size for u, size in sizes.items() if u not in thumbnails) / 1024
    report.add("pages", "gallery_thumbnails", len(thumbnails))
    report.add("pages", "gallery_html_kb", len(html) / 1024)
    report.add("pages", "gallery_css_js_icons_kb", other_kb)
    report.add("pages", "gallery_thumbnails_kb", thumbs_kb)
    report.add("pages", "gallery_weight_kb", len(html) / 1024 + other_kb + thumbs_kb, target=400)


# CSV


def _download(web: Web, path: str, cookie: str) -> tuple[float, float, int, int]:
    """Return (time to first byte, total seconds, data rows, bytes) of a streamed GET."""
    parts = urlsplit(web.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=300)
    started = time.perf_counter()
    conn.request("GET", path, headers={"Cookie": cookie})
    response = conn.getresponse()
    if response.status != 200:
        raise RuntimeError(f"{path} answered {response.status}")
    first = response.read(1)
    ttfb = time.perf_counter() - started
    lines, size = first.count(b"\n"), len(first)
    while chunk := response.read(256 * 1024):
        lines += chunk.count(b"\n")
        size += len(chunk)
    total = time.perf_counter() - started
    conn.close()
    return ttfb, total, lines - 1, size


def run_csv(world: World, report: Report, seeded: Seeded) -> None:
    """Stream the export at about a tenth of the history, then all of it, from one gunicorn worker."""
    cookie = session_cookie(seeded.user)
    tenth = seeded.costs // 10
    with world.web(workers=1, access_log=world.tmp / "access-csv.log") as web:
        (pid,) = web.worker_pids()
        today = seeded.newest.astimezone(dt.UTC).date()
        _download(web, f"/usage.csv?from={today}", cookie)  # warm the code path on a few rows
        baseline = memory_mib(pid, "VmHWM")
        report.add("csv", "worker_peak_rss_before_mib", baseline)
        peaks = {}
        for label, query in (("small", f"?from={seeded.day_of_record(tenth)}"), ("full", "")):
            log(f"csv: exporting the {label} history")
            ttfb, total, rows, size = _download(web, "/usage.csv" + query, cookie)
            peaks[label] = memory_mib(pid, "VmHWM")
            report.add("csv", f"{label}_rows", rows)
            report.add("csv", f"{label}_ttfb_ms", ttfb * 1000)
            report.add("csv", f"{label}_total_s", total)
            report.add("csv", f"{label}_mib", size / 2**20)
            report.add("csv", f"{label}_worker_peak_rss_mib", peaks[label])
        # The peak may not grow with rows: ten times the rows, at most a few MiB more.
        report.add("csv", "peak_rss_growth_mib", peaks["full"] - peaks["small"], target=10)

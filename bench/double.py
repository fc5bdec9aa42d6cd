"""The provider double as the benchmarks run it: `python -m bench.double --port P --latency S --timings F`.

Two changes to `python -m provider_double`, both so that the figures measure our overhead:
- Each image is rendered once and then served from memory: the double's own CPU (a 1024×1024 PNG takes
  it tens of milliseconds) would otherwise compete with the worker on this 2-core machine, where a
  real provider's does not. With `--images photos` the image is a real photograph (bench/portrait.jpg,
  Grace Hopper, a public-domain US Navy portrait) scaled to the requested size: a 1024×1024 PNG of
  1.25 MB, as real providers return, instead of the double's flat drawing of 22 KB.
- `--spread LOW HIGH` draws each OpenAI request's latency from LOW to HIGH seconds (uniformly, seeded),
  as real providers' answers spread out, instead of the same `--latency` for all.
- Each OpenAI image request appends "<x-request-id> <ms> <arrived>" to the timings file: the time the
  double spent answering, its latency included, so a benchmark can subtract the provider's time from a
  generation's, and the Unix time the request arrived, so it can tell the time before the call from after.
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import threading
import time
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from bench.harness import Report, log
from provider_double import openai_api, server
from provider_double.avatar import render_avatar
from provider_double.server import ProviderDouble

if TYPE_CHECKING:
    from provider_double.wire import Incoming, Reply

PORTRAIT = Path(__file__).with_name("portrait.jpg")


def photo(width: int, height: int, output_format: str = "png") -> bytes:
    """Return the portrait cropped to the aspect ratio and scaled to width × height, encoded."""
    with Image.open(PORTRAIT) as source:
        picture = source.convert("RGB")
    scale = max(width / picture.width, height / picture.height)
    resized = picture.resize(
        (round(picture.width * scale), round(picture.height * scale)), Image.Resampling.LANCZOS
    )
    left, top = (resized.width - width) // 2, (resized.height - height) // 2
    cropped = resized.crop((left, top, left + width, top + height))
    out = io.BytesIO()
    cropped.save(out, {"jpeg": "JPEG", "webp": "WEBP"}.get(output_format, "PNG"))
    return out.getvalue()


def _render_photo(
    prompt: str,
    width: int,
    height: int,
    output_format: str = "png",
    *,
    variant: int = 0,
    transparent: bool = False,
) -> bytes:
    return photo(width, height, output_format)


def rendered_once(render: Callable[..., bytes]) -> Callable[..., bytes]:
    """Return `render` with its results kept; a burst of identical requests renders once."""
    cache: dict[tuple[object, ...], bytes] = {}
    lock = threading.Lock()

    def cached(
        prompt: str,
        width: int,
        height: int,
        output_format: str = "png",
        *,
        variant: int = 0,
        transparent: bool = False,
    ) -> bytes:
        key = (prompt, width, height, output_format, variant, transparent)
        with lock:
            if key not in cache:
                cache[key] = render(
                    prompt, width, height, output_format, variant=variant, transparent=transparent
                )
            return cache[key]

    return cached


def run_render(report: Report, *, n: int = 20) -> None:
    """Measure the double's drawing of one 1024×1024 avatar (it answers every test's generation)."""
    render_avatar("warm up", 64, 64)
    log(f"double: {n} avatars drawn at 1024×1024")
    times = []
    for index in range(n):
        started = time.perf_counter()
        render_avatar(f"A designer in a green jumper, number {index}", 1024, 1024)
        times.append((time.perf_counter() - started) * 1000)
    report.add("double", "render_1024_ms_p50", statistics.median(times), target=100)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.double", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--timings", type=Path, required=True)
    parser.add_argument("--images", choices=("drawings", "photos"), default="drawings")
    parser.add_argument("--spread", type=float, nargs=2, metavar=("LOW", "HIGH"))
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument(
        "--partials",
        default="",
        help="when streamed partial images are sent: fractions of the latency, e.g. 0.3,0.6",
    )
    args = parser.parse_args(argv)
    spread = random.Random(args.seed)

    lock = threading.Lock()
    timings = args.timings.open("a", buffering=1)
    generate = openai_api.generate

    def timed_generate(double: ProviderDouble, req: Incoming) -> Reply:
        arrived, started = time.time(), time.perf_counter()
        reply = generate(double, req)
        if args.spread and reply.status == 200:
            with lock:
                reply.delay = spread.uniform(*args.spread)
        ms = (time.perf_counter() - started + reply.delay) * 1000
        with lock:
            timings.write(f"{reply.headers.get('x-request-id', '-')} {ms:.3f} {arrived:.6f}\n")
        return reply

    openai_api.render_avatar = rendered_once(_render_photo if args.images == "photos" else render_avatar)
    openai_api.generate = timed_generate
    server.OPENAI_ROUTES["/v1/images/generations", "POST"] = ("openai.generate", timed_generate)
    # A burst of 200 connections at once: the listen backlog of 5 would drop most SYNs and add 1 s retries.
    ThreadingHTTPServer.request_queue_size = 1024
    double = ProviderDouble("127.0.0.1", args.port, latency=args.latency)
    if args.partials:
        double.partial_at = tuple(float(part) for part in args.partials.split(","))
    double.start()
    latency = f"{args.spread[0]:g}–{args.spread[1]:g}" if args.spread else f"{args.latency:g}"
    print(f"bench double on {double.url}: {args.images}, latency {latency} s", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        double.stop()


if __name__ == "__main__":
    main()

"""Run the benchmarks: `python -m bench` (all of them) or `python -m bench pipeline pages …`.

Figures go to stdout as JSON lines ({"bench", "figure", "value", "target", "ok"}) and a table at the
end; progress goes to stderr. PostgreSQL and Redis are used when DATABASE_URL and CELERY_BROKER_URL
point at them (the bench works in a database `aniavatar_bench` that it drops and creates, and in Redis
database 14); otherwise SQLite and the filesystem broker in a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

from bench.harness import Report, World, log

BENCHMARKS = ("pipeline", "concurrency", "team", "pages", "csv", "vault", "double", "previews", "references")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "names", nargs="*", metavar="name", help=f"any of {', '.join(BENCHMARKS)} (default: all)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="a tenth of the work: to check the harness, not for figures"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, media)")
    args = parser.parse_args(argv)
    names = args.names or list(BENCHMARKS)
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    # SIGTERM (a timeout, `kill`) unwinds like Ctrl-C, so the child processes are stopped too.
    signal.signal(signal.SIGTERM, _interrupt)

    scale = 10 if args.quick else 1
    world = World.prepare(keep=args.keep)
    report = Report()
    started = time.monotonic()
    try:
        if set(names) - {"vault", "double", "references"}:
            world.migrate()
        if "pipeline" in names:
            from bench.pipeline import run_pipeline

            run_pipeline(world, report, n=200 // scale, images="drawings")
            run_pipeline(world, report, n=200 // scale, images="photos")
        if "concurrency" in names:
            from bench.pipeline import run_concurrency

            run_concurrency(
                world, report, n=200 // scale, concurrency=50 // scale, runs=1 if args.quick else 3
            )
        if "team" in names:
            from bench.pipeline import run_team

            run_team(world, report, n=200 // scale, concurrency=200 // scale, runs=1 if args.quick else 2)
        if "pages" in names or "csv" in names:
            from bench.pages import run_csv, run_pages, seed

            seeded = seed(costs=100_000 // scale, images=10_000 // scale)
            if "pages" in names:
                run_pages(world, report, seeded, seconds=8 / scale**0.5)
            if "csv" in names:
                run_csv(world, report, seeded)
        if "vault" in names:
            from bench.vault import run_vault

            run_vault(report, n=20_000 // scale)
        if "double" in names:
            from bench.double import run_render

            run_render(report, n=max(1, 20 // scale))
        if "previews" in names:
            from bench.previews import run_previews

            # Quick: one run of a 2 s call after the warm-up, to check the harness (not for figures).
            run_previews(world, report, runs=1 if args.quick else 10, latency=2.0 if args.quick else 20.0)
        if "references" in names:
            from bench.references import run_references

            run_references(report, megapixels=40 // scale)
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        world.close()
    load = os.getloadavg()
    context = (
        f"{world.description}, {os.cpu_count()} cores, {time.monotonic() - started:.0f} s, "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}{', QUICK: not for figures' if args.quick else ''}"
    )
    print(report.summary(context), flush=True)
    missed = [f for f in report.figures if f["ok"] is False]
    if missed:
        print(f"{len(missed)} figure(s) missed their targets.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

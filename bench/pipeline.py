"""Generations through the real path: service → broker → Celery worker (threads) → provider double → final.

`pipeline`: one generation at a time with the double answering at once, so each one's created_at →
finished_at, minus the time the double spent answering, is our overhead: the service's commit and
enqueue, the broker, the worker's claim, key decryption and audit, the HTTP round trip, image checks,
the thumbnail, the files, and the final transaction.

`concurrency`: 200 generations submitted at once to one worker process with 50 threads while the double
takes 2 s per image: the makespan against the ideal ceil(200 / 50) × 2 s (the median of three such
bursts), with the worker's memory and the database connections sampled throughout.

`team`: issue 20's worker sized for a team. 200 generations in flight in one worker process (200
threads), each answer a 1 MP photograph arriving after 15–25 s (seeded, spread as real providers' are):
the makespan against the ideal, the last answer's arrival plus one generation's own finishing time (its
answer → final measured alone, before the bursts), the worker's peak RSS and the connections.
"""

from __future__ import annotations

import contextlib
import math
import statistics
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from bench.harness import (
    BENCH_DATABASE,
    PASSWORD,
    Report,
    World,
    cpu_seconds,
    descendants,
    log,
    memory_mib,
    percentile,
    tree_rss_mib,
)

MODEL = "gpt-image-2"  # the default model, at its default size: 1024×1024
CONNECTIONS = (
    "SELECT count(*), count(*) FILTER (WHERE application_name = 'bench-worker') "
    "FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
)
PROMPT = "A photo-realistic portrait photograph of a person, for a user persona named Ana."


def workspace_of(user: object) -> object:
    """Return the user's personal workspace."""
    from accounts.models import Membership

    return Membership.objects.select_related("workspace").filter(user=user).earliest("created_at").workspace


def account(email: str) -> tuple[object, object]:
    """Return a new owner and an OpenAI key stored through the vault (the double accepts it)."""
    from accounts.services import create_account
    from keys import services as vault

    user = create_account(email=email, password=PASSWORD, name="Bench")
    key = vault.add_key(
        workspace=workspace_of(user),
        user=user,
        provider="openai",
        label="bench key",
        secret="sk-proj-bench" + "0123456789abcdefghijklmnopqrstuvwxyzABCDEF",
    )
    return user, key


def _start(user: object, key: object) -> object:
    from generation import catalog, services

    model = catalog.load().get(MODEL)
    return services.start_generation(
        workspace=workspace_of(user),
        user=user,
        provider_key=key,
        model=model,
        prompt=PROMPT,
        size="1024x1024",
        quality="low",
    )


def _wait_final(pks: list[int], timeout: float, poll: float) -> None:
    from generation.models import Generation

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = Generation.objects.filter(pk__in=pks, status__in=Generation.FINAL).count()
        if done == len(pks):
            return
        time.sleep(poll)
    raise RuntimeError(f"{len(pks) - done} of {len(pks)} generations were not final after {timeout:.0f} s")


def run_pipeline(
    world: World, report: Report, *, n: int = 200, warmup: int = 5, images: str = "drawings"
) -> None:
    """Measure per-generation overhead, one generation at a time, with the provider answering at once."""
    from generation.models import Generation

    prefix = "" if images == "drawings" else "photo_"
    with world.double(latency=0, images=images) as double, world.worker(concurrency=8) as worker:
        user, key = account(f"pipeline-{images}@bench.example")
        service_ms, pks = [], []
        log(f"pipeline: {warmup} warm-up and {n} measured generations, one at a time ({images})")
        for i in range(warmup + n):
            if i == warmup:
                cpu_before = cpu_seconds(worker.pid)
            started = time.perf_counter()
            generation = _start(user, key)
            elapsed = (time.perf_counter() - started) * 1000
            # finished_at is stamped by the worker, so polling slowly changes no figure, only spares the CPU.
            _wait_final([generation.pk], timeout=60, poll=0.02)
            if i >= warmup:
                service_ms.append(elapsed)
                pks.append(generation.pk)
        worker_cpu = cpu_seconds(worker.pid) - cpu_before
        provider = double.provider_ms()

    rows = list(
        Generation.objects.filter(pk__in=pks).values_list(
            "status", "created_at", "started_at", "finished_at", "provider_requests"
        )
    )
    failed = sum(1 for status, *_ in rows if status != Generation.Status.SUCCEEDED)
    end_to_end, overhead, queued, provider_times = [], [], [], []
    for _status, created, started, finished, requests in rows:
        total = (finished - created).total_seconds() * 1000
        answered = sum(provider.get(r.get("request_id", ""), 0.0) for r in requests or [])
        end_to_end.append(total)
        overhead.append(total - answered)
        provider_times.append(answered)
        queued.append((started - created).total_seconds() * 1000)
    report.add("pipeline", f"{prefix}generations", len(rows))
    report.add("pipeline", f"{prefix}failed", failed, target=0)
    report.add("pipeline", f"{prefix}overhead_p50_ms", percentile(overhead, 50), target=50)
    report.add("pipeline", f"{prefix}overhead_p95_ms", percentile(overhead, 95), target=150)
    report.add("pipeline", f"{prefix}end_to_end_p50_ms", percentile(end_to_end, 50))
    report.add("pipeline", f"{prefix}provider_p50_ms", percentile(provider_times, 50))
    report.add("pipeline", f"{prefix}queued_to_running_p50_ms", percentile(queued, 50))
    report.add("pipeline", f"{prefix}service_call_p50_ms", percentile(service_ms, 50))
    # CPU the worker process spent per generation: what the overhead would be with a core to itself.
    report.add("pipeline", f"{prefix}worker_cpu_ms_per_generation", worker_cpu * 1000 / n)


@dataclass
class Sampler:
    """Sample the worker's memory and the database's connections every `interval` seconds."""

    world: World
    worker_pid: int
    interval: float = 0.05
    peak_rss_mib: float = 0.0
    peak_connections: int = 0
    peak_worker_connections: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> Sampler:
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        with contextlib.ExitStack() as stack:
            conn = None
            if self.world.postgres:
                import psycopg

                conn = stack.enter_context(psycopg.connect(self.world.database_url, autocommit=True))
            # The threads pool is one process: list it (and any children) once, not on every sample.
            # Walking /proc every 50 ms cost most of a core's tenth, taken from the worker it measures.
            pids = descendants(self.worker_pid)
            while not self._stop.is_set():
                self.peak_rss_mib = max(self.peak_rss_mib, sum(memory_mib(pid) for pid in pids))
                if conn is not None:
                    # Every connection to the bench database but this one (the driver holds one too).
                    total, worker = conn.execute(CONNECTIONS, (BENCH_DATABASE,)).fetchone()
                    self.peak_connections = max(self.peak_connections, total)
                    self.peak_worker_connections = max(self.peak_worker_connections, worker)
                self._stop.wait(self.interval)


def run_concurrency(
    world: World,
    report: Report,
    *,
    n: int = 200,
    concurrency: int = 50,
    latency: float = 2.0,
    runs: int = 3,
) -> None:
    """Measure makespan, worker memory and database connections with `concurrency` calls in flight.

    `runs` bursts one after another on the same worker; the makespan reported is their median (one
    run on this shared 2-core machine varies by ±5 %), with the fastest and slowest beside it.
    """
    from django.db import transaction
    from django.utils import timezone

    from generation.models import Generation

    ratios, rows = [], []
    with world.double(latency=latency) as double, world.worker(concurrency=concurrency) as worker:
        user, key = account("concurrency@bench.example")
        # One generation first: the double renders its image, the worker opens its connections.
        warm = _start(user, key)
        _wait_final([warm.pk], timeout=60, poll=0.05)
        idle_rss = tree_rss_mib(worker.pid)
        ideal = math.ceil(n / concurrency) * latency
        with Sampler(world, worker.pid) as sampler:
            cpu_before = cpu_seconds(worker.pid)
            for run in range(1, runs + 1):
                log(
                    f"concurrency: run {run} of {runs}: {n} generations, {concurrency} threads, {latency:g} s each"
                )
                # All n are created in one transaction, so their tasks are published together when it
                # commits: a burst, as from many web processes at once.
                with transaction.atomic():
                    burst_pks = [_start(user, key).pk for _ in range(n)]
                    burst = timezone.now()
                _wait_final(burst_pks, timeout=60 + 4 * latency * math.ceil(n / concurrency), poll=0.1)
                burst_rows = list(
                    Generation.objects.filter(pk__in=burst_pks).values_list(
                        "status", "started_at", "finished_at", "provider_requests"
                    )
                )
                ratios.append((max(r[2] for r in burst_rows) - burst).total_seconds() / ideal)
                rows += burst_rows
            worker_cpu = cpu_seconds(worker.pid) - cpu_before
        calls = double.provider_calls()

    failed = sum(1 for status, *_ in rows if status != Generation.Status.SUCCEEDED)
    # Where the time beyond the provider's goes: claimed → request at the double, answer → final.
    before, after = [], []
    for _, started, finished, requests in rows:
        ms, arrived = calls.get((requests or [{}])[0].get("request_id", ""), (None, None))
        if ms is not None:
            before.append((arrived - started.timestamp()) * 1000)
            after.append((finished.timestamp() - arrived) * 1000 - ms)
    ratio = statistics.median(ratios)
    report.add("concurrency", "generations", len(rows))
    report.add("concurrency", "failed", failed, target=0)
    report.add("concurrency", "runs", runs)
    report.add("concurrency", "ideal_s", ideal)
    report.add("concurrency", "makespan_s", ratio * ideal)
    report.add("concurrency", "makespan_ratio", ratio, target=1.15)
    report.add("concurrency", "makespan_ratio_fastest", min(ratios))
    report.add("concurrency", "makespan_ratio_slowest", max(ratios))
    report.add("concurrency", "worker_cpu_ms_per_generation", worker_cpu * 1000 / len(rows))
    report.add("concurrency", "claimed_to_call_p50_ms", percentile(before, 50))
    report.add("concurrency", "claimed_to_call_p95_ms", percentile(before, 95))
    report.add("concurrency", "answer_to_final_p50_ms", percentile(after, 50))
    report.add("concurrency", "answer_to_final_p95_ms", percentile(after, 95))
    report.add("concurrency", "worker_idle_rss_mib", idle_rss)
    report.add("concurrency", "worker_peak_rss_mib", sampler.peak_rss_mib, target=300)
    if world.postgres:
        report.add("concurrency", "peak_pg_connections", sampler.peak_connections)
        report.add("concurrency", "peak_pg_connections_worker", sampler.peak_worker_connections)


TEAM_SPREAD = (15.0, 25.0)  # seconds a provider takes to answer, drawn per request


def _answer_to_final_ms(rows: list[tuple[Any, ...]], calls: dict[str, tuple[float, float]]) -> list[float]:
    """Return each row's time from its answer's arrival to its final state (rows: status, started, finished, requests)."""
    after = []
    for _, _started, finished, requests in rows:
        ms, arrived = calls.get((requests or [{}])[0].get("request_id", ""), (None, None))
        if ms is not None and arrived is not None:
            after.append((finished.timestamp() - arrived) * 1000 - ms)
    return after


def run_team(
    world: World,
    report: Report,
    *,
    n: int = 200,
    concurrency: int = 200,
    spread: tuple[float, float] = TEAM_SPREAD,
    runs: int = 2,
    alone: int = 10,
) -> None:
    """Measure `n` photograph generations in flight at once in one worker of `concurrency` threads."""
    from django.db import transaction
    from django.utils import timezone

    from generation.models import Generation

    fields = ("status", "started_at", "finished_at", "provider_requests")
    with world.worker(concurrency=concurrency) as worker:
        user, key = account("team@bench.example")
        # One generation's own finishing time: answer → final with nothing else running (photographs,
        # the double answering at once), the median of `alone` one after another.
        with world.double(latency=0, images="photos") as double:
            pks = []
            for _ in range(alone + 1):
                generation = _start(user, key)
                _wait_final([generation.pk], timeout=60, poll=0.02)
                pks.append(generation.pk)
            rows = list(Generation.objects.filter(pk__in=pks[1:]).values_list(*fields))
            finish_alone_ms = statistics.median(_answer_to_final_ms(rows, double.provider_calls()))
        idle_rss = tree_rss_mib(worker.pid)
        ratios, ideals, makespans, dispatch, rows = [], [], [], [], []
        with (
            world.double(latency=0, images="photos", spread=spread) as double,
            Sampler(world, worker.pid) as sampler,
        ):
            cpu_before = cpu_seconds(worker.pid)
            for run in range(1, runs + 1):
                log(
                    f"team: run {run} of {runs}: {n} photographs in flight, {concurrency} threads, {spread[0]:g}–{spread[1]:g} s each"
                )
                with transaction.atomic():
                    burst_pks = [_start(user, key).pk for _ in range(n)]
                    burst = timezone.now()
                _wait_final(burst_pks, timeout=120 + spread[1] * 2, poll=0.2)
                burst_rows = list(Generation.objects.filter(pk__in=burst_pks).values_list(*fields))
                calls = double.provider_calls()
                ids = {(r[3] or [{}])[0].get("request_id", "") for r in burst_rows}
                mine = [calls[i] for i in ids if i in calls]
                last_answer = max(arrived + ms / 1000 for ms, arrived in mine) - burst.timestamp()
                ideal = last_answer + finish_alone_ms / 1000
                makespan = (max(r[2] for r in burst_rows) - burst).total_seconds()
                ideals.append(ideal)
                makespans.append(makespan)
                ratios.append(makespan / ideal)
                dispatch.append(max(arrived for _, arrived in mine) - burst.timestamp())
                rows += burst_rows
            calls = double.provider_calls()
            worker_cpu = cpu_seconds(worker.pid) - cpu_before

    after = _answer_to_final_ms(rows, calls)
    failed = sum(1 for status, *_ in rows if status != Generation.Status.SUCCEEDED)
    ratio = statistics.median(ratios)
    report.add("team", "generations", len(rows))
    report.add("team", "failed", failed, target=0)
    report.add("team", "runs", runs)
    report.add("team", "threads", concurrency)
    report.add("team", "finish_alone_ms", finish_alone_ms)
    report.add("team", "ideal_s", statistics.median(ideals))
    report.add("team", "makespan_s", statistics.median(makespans))
    report.add("team", "makespan_ratio", ratio, target=1.15)
    report.add("team", "makespan_ratio_fastest", min(ratios))
    report.add("team", "makespan_ratio_slowest", max(ratios))
    report.add("team", "last_request_at_provider_s", max(dispatch))
    report.add("team", "answer_to_final_p50_ms", percentile(after, 50))
    report.add("team", "answer_to_final_p95_ms", percentile(after, 95))
    report.add("team", "answer_to_final_max_ms", max(after) if after else float("nan"))
    report.add("team", "worker_cpu_ms_per_generation", worker_cpu * 1000 / len(rows))
    report.add("team", "worker_idle_rss_mib", idle_rss)
    report.add("team", "worker_peak_rss_mib", sampler.peak_rss_mib, target=300)
    if world.postgres:
        report.add("team", "peak_pg_connections", sampler.peak_connections)
        report.add("team", "peak_pg_connections_worker", sampler.peak_worker_connections)

"""The benchmark harness runs (its figures are printed by `make bench`, never asserted here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _bench(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    # The embedded defaults, so this never touches a PostgreSQL or Redis that a real bench run may use.
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL"}}
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_it_lists_the_benchmarks():
    result = _bench("--help")
    assert result.returncode == 0
    for name in ("pipeline", "concurrency", "team", "pages", "csv", "vault", "double", "previews"):
        assert name in result.stdout


def test_it_prints_one_json_line_per_figure():
    result = _bench("vault", "--quick")
    assert result.returncode == 0, result.stderr
    figures = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert {f["figure"] for f in figures} == {"encrypt_us_per_op", "decrypt_us_per_op"}
    assert all(set(f) >= {"bench", "figure", "value", "target", "ok"} for f in figures)
    assert "Summary" in result.stdout


def test_it_refuses_an_unknown_benchmark():
    result = _bench("nonsense")
    assert result.returncode != 0
    assert "unknown benchmark" in result.stderr


@pytest.mark.browser
def test_the_previews_benchmark_runs_in_chromium():
    # Quick: two 2 s calls (partials at 0.6 s and 1.2 s), gunicorn, a worker and Chromium; about a minute.
    result = _bench("previews", "--quick", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    figures = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert {f["figure"] for f in figures} == {
        "click_to_first_preview_s_p50",
        "click_to_final_s_p50",
        "first_preview_over_final_p50",
    }
    first, final = (
        next(f["value"] for f in figures if f["figure"] == name)
        for name in ("click_to_first_preview_s_p50", "click_to_final_s_p50")
    )
    assert 0 < first < final

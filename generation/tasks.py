"""Celery tasks: interfaces that load by id and call the pipeline (never given a secret).

Only this module sends tasks, except `services.start_generation` (which enqueues the generation it
creates): the pipeline never imports it, so no two modules import each other.
"""

from __future__ import annotations

import datetime as dt
import functools

from celery import shared_task
from django.db import transaction

from generation import pipeline


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_generation(generation_id: int) -> None:
    pipeline.run_generation(generation_id)


@shared_task(ignore_result=True)
def sweep_stale_generations(now: dt.datetime | None = None) -> dict[str, int]:
    """Finish or resume generations whose worker vanished (celery beat, every minute); return counts."""
    sweep = pipeline.sweep_stale_generations(now=now)
    for generation_id in sweep.to_run:
        transaction.on_commit(functools.partial(run_generation.delay, generation_id))
    return sweep.counts

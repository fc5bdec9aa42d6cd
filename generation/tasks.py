"""Celery tasks: interfaces that load by id and call the pipeline (never given a secret).

Only this module sends tasks, except `services.start_generation` (which enqueues the generation it
creates): the pipeline never imports it, so no two modules import each other.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from typing import Any

from celery import shared_task
from django.db import transaction

from generation import pipeline, privacy
from generation.models import Generation
from generation.reconciliation import service as reconciliation
from generation.reconciliation import texts
from keys.services import KeyUnavailable
from providers.base import ProviderError

logger = logging.getLogger(__name__)

PAYLOAD_RETRIES = 3
PAYLOAD_RETRY_DELAY = 60  # seconds, doubled on each retry


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_generation(generation_id: int) -> None:
    if not pipeline.run_generation(generation_id):
        return
    # This attempt finished the generation: its images are stored and its charge recorded. Delete what
    # the provider kept of its requests, in a task of its own that can never affect the generation.
    generation = Generation.objects.filter(pk=generation_id).first()
    if generation is not None and privacy.has_payloads(generation):
        transaction.on_commit(functools.partial(delete_provider_payloads.delay, generation_id), robust=True)


@shared_task(bind=True, acks_late=True, ignore_result=True, max_retries=PAYLOAD_RETRIES)
def delete_provider_payloads(self: Any, generation_id: int) -> None:
    """Delete a final generation's payloads at its provider; retried a few times, then logged and left."""
    try:
        privacy.delete_payloads(generation_id)
    except KeyUnavailable as exc:
        logger.warning(
            "generation %s: payloads not deleted, the key is unavailable: %s", generation_id, exc.message
        )
    except ProviderError as exc:
        if self.request.retries >= PAYLOAD_RETRIES:
            logger.warning(
                "generation %s: payloads not deleted after %d tries: %s",
                generation_id,
                self.request.retries + 1,
                exc.message,
            )
            return
        logger.info("generation %s: payload deletion failed (%s), retrying", generation_id, exc.kind)
        raise self.retry(countdown=PAYLOAD_RETRY_DELAY * 2**self.request.retries) from None


@shared_task(acks_late=True, ignore_result=True)
def reconcile(reconciliation_id: int) -> None:
    """Run one reconciliation (the "Reconcile now" button, and each run the daily task creates)."""
    try:
        reconciliation.run_reconciliation(reconciliation_id)
    except Exception:
        # Nothing may stay "running": an unexpected error ends the run where its owner sees it.
        logger.exception("reconciliation %s: unexpected error", reconciliation_id)
        reconciliation.fail_unfinished(reconciliation_id, texts.OUR_ERROR)


@shared_task(ignore_result=True)
def sweep_stale_reconciliations(now: dt.datetime | None = None) -> int:
    """Fail reconciliation runs whose worker vanished (celery beat, every 10 minutes); return how many."""
    return reconciliation.sweep_stale_runs(now=now)


@shared_task(ignore_result=True)
def reconcile_all(now: dt.datetime | None = None) -> int:
    """Start the daily reconciliation (this UTC month so far; on the 1st also the month that ended) for every workspace with a usage key (celery beat, daily)."""
    runs = reconciliation.runs_to_start(now)
    for run in runs:
        transaction.on_commit(functools.partial(reconcile.delay, run.pk), robust=True)
    return len(runs)


@shared_task(ignore_result=True)
def sweep_stale_generations(now: dt.datetime | None = None) -> dict[str, int]:
    """Finish or resume generations whose worker vanished (celery beat, every minute); return counts."""
    sweep = pipeline.sweep_stale_generations(now=now)
    for generation_id in sweep.to_run:
        transaction.on_commit(functools.partial(run_generation.delay, generation_id))
    return sweep.counts

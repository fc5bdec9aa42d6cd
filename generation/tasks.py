"""Celery tasks: interfaces that load by id and call the pipeline (never given a secret)."""

from __future__ import annotations

from celery import shared_task

from generation import pipeline


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_generation(generation_id: int) -> None:
    pipeline.run_generation(generation_id)


@shared_task(ignore_result=True)
def sweep_stale_generations() -> None:
    pipeline.sweep_stale_generations()

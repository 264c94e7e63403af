"""Celery tasks: load by id, call a service. Idempotent, acknowledged late, retried with backoff."""

from __future__ import annotations

from celery import shared_task

from govai_plugin.conf import govai_settings
from govai_plugin.exceptions import RetryableError


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None, ignore_result=True)
def generate_answer(self, job_id: int) -> None:
    from govai_plugin.services.answers import run_generation

    cfg = govai_settings.LLM
    attempt = self.request.retries + 1
    try:
        run_generation(job_id, attempt=attempt, last_attempt=attempt >= cfg["MAX_ATTEMPTS"])
    except RetryableError as exc:
        countdown = cfg["RETRY_BACKOFF"] * (2 ** (attempt - 1))
        raise self.retry(exc=exc, countdown=countdown) from exc

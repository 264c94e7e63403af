"""Celery tasks: load by id, call a service. Idempotent, acknowledged late, retried with backoff."""

from __future__ import annotations

import logging

from celery import shared_task

from govai_plugin.conf import govai_settings
from govai_plugin.exceptions import RetryableError

logger = logging.getLogger(__name__)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None, ignore_result=True)
def generate_answer(self, job_id: int) -> None:
    from govai_plugin.services.answers import run_generation

    cfg = govai_settings.LLM
    attempt = self.request.retries + 1
    try:
        job = run_generation(job_id, attempt=attempt, last_attempt=attempt >= cfg["MAX_ATTEMPTS"])
    except RetryableError as exc:
        countdown = cfg["RETRY_BACKOFF"] * (2 ** (attempt - 1))
        raise self.retry(exc=exc, countdown=countdown) from exc
    if job is not None and job.is_final:
        from govai_plugin.signals import answer_final

        answer_final.send(sender=type(job), job=job)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None, ignore_result=True)
def process_case_event(self, event_id: int) -> None:
    """Read the case and its registry data, and start a suggestion (or record a decision)."""
    from govai_plugin.services.suggestions import process_event

    cfg = govai_settings.CASES
    attempt = self.request.retries + 1
    try:
        process_event(event_id, attempt=attempt, last_attempt=attempt >= cfg["WRITEBACK_ATTEMPTS"])
    except RetryableError as exc:
        raise self.retry(exc=exc, countdown=cfg["RETRY_BACKOFF"] * (2 ** (attempt - 1))) from exc


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None, ignore_result=True)
def write_back_suggestion(self, suggestion_id: int) -> None:
    """Attach a suggestion to its case; the idempotency key makes a retry safe."""
    from govai_plugin.services.suggestions import write_back

    cfg = govai_settings.CASES
    attempt = self.request.retries + 1
    try:
        write_back(suggestion_id, attempt=attempt, last_attempt=attempt >= cfg["WRITEBACK_ATTEMPTS"])
    except RetryableError as exc:
        raise self.retry(exc=exc, countdown=cfg["RETRY_BACKOFF"] * (2 ** (attempt - 1))) from exc


# The name is fixed: services send it by name (govai_plugin.services.ingest.INGEST_TASK).
@shared_task(name="govai_plugin.tasks.ingest_upload", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def ingest_upload(job_id: int) -> None:
    """Ingest an upload kept in the database; the outcome (or the error) is recorded on the job."""
    from govai_plugin.services.ingest import run_ingestion_job

    if _task_id(job_id) is None:
        logger.error("ingest_upload_rejected job_id=%r: not a row id", job_id)
        return
    run_ingestion_job(job_id)


def _task_id(value: object) -> int | None:
    """A row id as a task argument, or None for anything else (a malformed or hand-sent message)."""
    return value if type(value) is int and value > 0 else None


# The name is fixed: services send it by name (govai_plugin.services.ingest.EMBED_BATCH_TASK).
@shared_task(bind=True, name="govai_plugin.tasks.embed_batch", acks_late=True, reject_on_worker_lost=True,
             max_retries=None, ignore_result=True)
def embed_batch(self, batch_id: int) -> None:
    """Embed one batch of a large ingestion's passages; the last batch of a job has its documents stored."""
    from govai_plugin.services.ingest import BATCH_RETRY_BACKOFF, run_ingest_batch

    if _task_id(batch_id) is None:
        logger.error("embed_batch_rejected batch_id=%r: not a row id", batch_id)
        return
    try:
        run_ingest_batch(batch_id)
    except RetryableError as exc:  # the batch counts its attempts itself (a dead worker counts too)
        raise self.retry(exc=exc, countdown=BATCH_RETRY_BACKOFF * (2 ** self.request.retries)) from exc

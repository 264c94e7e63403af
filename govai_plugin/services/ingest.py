"""Ingestion: extract → chunk → embed → store, one transaction per document.

Idempotent: the same bytes again change nothing; changed bytes under the same
name become a new version and the previous one is marked superseded (its
chunks stay, for "in force on date D" questions); deleting removes chunks.
A failure in one document never stops the others and never leaves chunks.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from celery import current_app
from django.contrib.postgres.search import SearchVector
from django.db import DatabaseError, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet, Value
from django.utils import timezone

from govai_plugin.conf import embedding_signature, govai_settings
from govai_plugin.services import audit
from govai_plugin.services.language import document_language
from govai_plugin.exceptions import (
    CorruptDocument,
    DocumentTooLarge,
    EmbeddingError,
    EmptyDocument,
    EncryptedDocument,
    ExtractionError,
    GovAIError,
    IngestionError,
    NotFound,
    RetryableError,
    UnsupportedFormat,
)
from govai_plugin.hooks.manager import get_hooks
from govai_plugin.models import Chunk, Collection, Document
from govai_plugin.models.knowledge import IngestBatch, IngestionJob, IngestionUpload
from govai_plugin.types import ChunkDraft, ExtractedDocument, SourceFile

logger = logging.getLogger(__name__)

Status = Literal["created", "new_version", "unchanged", "failed"]

_ERROR_KINDS: dict[str, type[IngestionError]] = {
    "corrupt": CorruptDocument,
    "empty": EmptyDocument,
    "encrypted": EncryptedDocument,
    "too_large": DocumentTooLarge,
    "unsupported_format": UnsupportedFormat,
}


@dataclass
class IngestOutcome:
    """What happened to one document (one file, or one record of a corpus file)."""

    source: str
    status: Status
    document: Document | None = None
    chunks: int = 0
    message: str = ""
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.status != "failed"


@dataclass
class IngestReport:
    outcomes: list[IngestOutcome] = field(default_factory=list)

    def count(self, status: Status) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def failed(self) -> list[IngestOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    @property
    def chunks(self) -> int:
        return sum(o.chunks for o in self.outcomes)


@dataclass(frozen=True)
class IngestOptions:
    language: str | None = None
    effective_from: dt.date | None = None
    effective_to: dt.date | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    actor: str = ""


def embedding_input(title: str, heading_path: str, text: str) -> str:
    """What gets embedded: the passage with its title and headings as context."""
    context = " > ".join(part for part in (title, heading_path) if part)
    return f"{context}\n\n{text}" if context else text


def ingest_bytes(
    collection: Collection, name: str, content: bytes, *, source: str = "", options: IngestOptions | None = None
) -> list[IngestOutcome]:
    """Ingest one file's bytes. Returns one outcome per document it holds."""
    key = os.path.basename(name) or name
    outcomes, plans = _prepare(collection, key, content, source or name, options or IngestOptions())
    return _log_failures(outcomes + _finish(collection, plans))


def ingest_upload(
    collection: Collection, name: str, content: bytes, *, options: IngestOptions | None = None, client: Any = None
) -> list[IngestOutcome] | IngestionJob:
    """An upload through the API: ingested here when it is small, else queued for a worker.

    Small means at most ``INGESTION.ASYNC_ABOVE_BYTES`` bytes *and*, once extracted, at most
    ``INGESTION.SYNC_MAX_PASSAGES`` passages: a small file can hold a long text (a 100 kB DOCX of
    300 pages), and embedding it would hold the request for many seconds and grow the web
    process by the embedding model's working memory. Such a file is extracted again by the worker.
    """
    options = options or IngestOptions()
    cfg = govai_settings.INGESTION
    if len(content) > cfg["ASYNC_ABOVE_BYTES"]:
        return submit_upload(collection, name, content, options=options, client=client)
    key = os.path.basename(name) or name
    outcomes, plans = _prepare(collection, key, content, "upload", options)
    if sum(len(plan.drafts) for plan in plans) > cfg["SYNC_MAX_PASSAGES"]:
        return submit_upload(collection, name, content, options=options, client=client)
    return _log_failures(outcomes + _finish(collection, plans))


def ingest_paths(
    collection: Collection,
    paths: Iterable[str | os.PathLike[str]],
    *,
    options: IngestOptions | None = None,
    on_file: Callable[[Path, list[IngestOutcome]], None] | None = None,
) -> IngestReport:
    """Ingest files and folders (recursively, in name order).

    Passages of consecutive files are embedded together in full batches (many
    policy files are only a few passages long); each document is still stored
    in its own transaction.
    """
    options = options or IngestOptions()
    report = IngestReport()
    group: list[tuple[Path, list[IngestOutcome], list[_Plan]]] = []
    budget = govai_settings.EMBEDDINGS["BATCH_SIZE"] * 8

    def flush() -> None:
        finished = iter(_finish(collection, [plan for _, _, plans in group for plan in plans]))
        for path, outcomes, plans in group:
            file_outcomes = _log_failures(outcomes + [next(finished) for _ in plans])
            report.outcomes.extend(file_outcomes)
            if on_file:
                on_file(path, file_outcomes)
        group.clear()

    for path, key in expand_paths_with_keys(paths):
        try:
            content = path.read_bytes()
        except OSError as exc:
            failed = IngestOutcome(key, "failed", message=f"cannot be read: {exc.strerror or exc}", reason="unreadable")
            group.append((path, [failed], []))
        else:
            group.append((path, *_prepare(collection, key, content, str(path), options)))
        if sum(len(p.drafts) for _, _, plans in group for p in plans) >= budget:
            flush()
    flush()
    return report


def expand_paths(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    return [path for path, _ in expand_paths_with_keys(paths)]


def expand_paths_with_keys(paths: Iterable[str | os.PathLike[str]]) -> list[tuple[Path, str]]:
    """Files to ingest with their document keys.

    A file named directly is keyed by its name; a file found in a folder by its
    path relative to that folder ("en/faq.md"), so equal names in different
    sub-folders stay different documents.
    """
    files: list[tuple[Path, str]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts))
            files.extend((p, p.relative_to(path).as_posix()) for p in found)
        else:
            files.append((path, path.name))
    return files


def delete_document(document: Document, *, actor: str = "local") -> int:
    """Delete a document with every version of it and their chunks; returns versions removed."""
    with transaction.atomic():
        versions = Document.objects.filter(collection_id=document.collection_id, source_key=document.source_key)
        count = versions.count()
        removed = [str(uid) for uid in versions.values_list("uid", flat=True)]
        versions.update(supersedes=None)
        versions.delete()
        audit.record("document.deleted", actor=actor, object_ref=str(document.uid),
                     details={"title": document.title, "source": document.source, "versions": removed})
    logger.info("document_deleted collection=%s source_key=%s versions=%d", document.collection_id, document.source_key, count)
    return count


# -- uploads ingested by a worker ------------------------------------------------

#: The Celery task that runs a queued upload (govai_plugin.tasks.ingest_upload). Sent by
#: name, so this service never imports the tasks module (which imports services).
INGEST_TASK = "govai_plugin.tasks.ingest_upload"
#: A job whose worker died this many times (e.g. killed for memory) is failed, not retried again.
MAX_JOB_ATTEMPTS = 3


def submit_upload(
    collection: Collection, name: str, content: bytes, *, options: IngestOptions | None = None, client: Any = None
) -> IngestionJob:
    """Keep an upload in the database and queue it for a worker; returns the job to poll.

    The bytes are stored in a row (not a local file) so a worker on any machine can read them.
    """
    options = options or IngestOptions()
    with transaction.atomic():
        job = IngestionJob.objects.create(
            collection=collection, client=client, name=(os.path.basename(name) or name)[:512],
            size_bytes=len(content), options=_options_to_json(options),
        )
        IngestionUpload.objects.create(job=job, content=content)
        transaction.on_commit(lambda: _enqueue(job))
    logger.info("ingestion_queued job=%s collection=%s name=%s bytes=%d", job.uid, collection.slug, job.name, len(content))
    return job


def _enqueue(job: IngestionJob) -> None:
    """Send the job's task; if the broker cannot take it, fail the job so it is not queued for ever."""
    try:
        requeue_ingestion_job(job)
    except Exception as exc:  # kombu's OperationalError, or whatever the transport raises: none may strand the job
        logger.exception("ingestion_enqueue_failed job=%s", job.uid)
        _close_job(job, [], "queue_unavailable",
                   f"the task queue could not take the job ({type(exc).__name__}); upload the file again later")


def requeue_ingestion_job(job: IngestionJob) -> None:
    """Send the job's task (again). Safe for a job whose task is lost or still queued: the task is idempotent."""
    current_app.send_task(INGEST_TASK, args=[job.pk])
    logger.info("ingestion_enqueued job=%s", job.uid)


def stale_ingestion_jobs(minutes: float) -> QuerySet[IngestionJob]:
    """Jobs queued, or running, for more than ``minutes``: most likely a lost task (broker restarted, worker gone)."""
    cutoff = timezone.now() - dt.timedelta(minutes=minutes)
    queued = Q(status=IngestionJob.Status.QUEUED, created_at__lt=cutoff)
    # A fanned-out job is running as long as its batches finish: stale when none did since the cutoff.
    progress = IngestBatch.objects.filter(job_id=OuterRef("pk"), finished_at__gte=cutoff)
    running = Q(status=IngestionJob.Status.RUNNING, started_at__lt=cutoff) & ~Exists(progress)
    return IngestionJob.objects.filter(queued | running).select_related("collection").order_by("created_at")


def ingestion_job_for(client: Any, uid: Any) -> IngestionJob:
    """The client's own ingestion job; another client's is as good as missing."""
    job = IngestionJob.objects.select_related("collection").filter(uid=uid, client=client).first()
    if job is None:
        raise NotFound("No ingestion job of yours has this id.")
    return job


def run_ingestion_job(job_id: int) -> IngestionJob | None:
    """Ingest a queued upload and record the outcome on the job; its bytes are then deleted.

    Idempotent: a final job is left alone, and a job run again after its worker died finds
    what the first run stored unchanged. Any failure is recorded on the job.
    """
    with transaction.atomic():
        job = IngestionJob.objects.select_for_update().select_related("collection").filter(pk=job_id).first()
        if job is None or job.is_final:
            return job
        job.attempts += 1
        job.status, job.started_at = IngestionJob.Status.RUNNING, timezone.now()
        job.save(update_fields=["attempts", "status", "started_at"])
    # A fanned-out job's task runs twice by design: to send its batches, then to store its documents.
    fanned_out = IngestBatch.objects.filter(job_id=job.pk).exists()
    if job.attempts > MAX_JOB_ATTEMPTS + fanned_out:
        return _close_job(job, [], "worker_lost", f"the worker stopped {MAX_JOB_ATTEMPTS} times while ingesting it")
    content = IngestionUpload.objects.filter(job_id=job.pk).values_list("content", flat=True).first()
    if content is None:
        return _close_job(job, [], "lost", "the uploaded file is no longer stored")
    logger.info("ingestion_started job=%s attempt=%d", job.uid, job.attempts)
    try:
        outcomes = _ingest_job(job, bytes(content))
    except Exception as exc:  # recorded on the job: the caller polls it, nothing is lost silently
        logger.exception("ingestion_error job=%s", job.uid)
        return _close_job(job, [], "error", f"ingestion stopped with an error ({type(exc).__name__}: {exc})")
    if outcomes is None:  # fanned out: the batch tasks embed, and the last one sends this job's task again
        return job
    return _close_job(job, outcomes)


def _close_job(job: IngestionJob, outcomes: list[IngestOutcome], reason: str = "", error: str = "") -> IngestionJob:
    if outcomes and not any(o.ok for o in outcomes):
        reason, error = outcomes[0].reason, outcomes[0].message
    job.outcomes = [_outcome_to_json(o) for o in outcomes]
    job.status = IngestionJob.Status.FAILED if error else IngestionJob.Status.DONE
    job.reason, job.error, job.finished_at = reason[:64], error, timezone.now()
    with transaction.atomic():
        job.save(update_fields=["outcomes", "status", "reason", "error", "finished_at"])
        IngestionUpload.objects.filter(job_id=job.pk).delete()
        IngestBatch.objects.filter(job_id=job.pk).delete()
    logger.info("ingestion_finished job=%s status=%s reason=%s", job.uid, job.status, job.reason)
    return job


def _outcome_to_json(outcome: IngestOutcome) -> dict[str, Any]:
    document = outcome.document
    return {
        "source": outcome.source, "status": outcome.status, "chunks": outcome.chunks,
        "document": str(document.uid) if document else None, "version": document.version if document else None,
        "message": outcome.message, "reason": outcome.reason,
    }


def _options_to_json(options: IngestOptions) -> dict[str, Any]:
    return {
        "language": options.language, "metadata": options.metadata, "actor": options.actor,
        "effective_from": options.effective_from.isoformat() if options.effective_from else None,
        "effective_to": options.effective_to.isoformat() if options.effective_to else None,
    }


def _options_from_json(data: dict[str, Any]) -> IngestOptions:
    return IngestOptions(
        language=data.get("language"), metadata=data.get("metadata") or {}, actor=data.get("actor") or "",
        effective_from=_parse_date(data.get("effective_from"), "job", "effective_from"),
        effective_to=_parse_date(data.get("effective_to"), "job", "effective_to"),
    )


# -- large ingestions fanned out over workers -----------------------------------

#: The Celery task that embeds one IngestBatch (govai_plugin.tasks.embed_batch), sent by name.
EMBED_BATCH_TASK = "govai_plugin.tasks.embed_batch"
#: Seconds before a failed batch is tried again; doubled at each further attempt.
BATCH_RETRY_BACKOFF = 1.0


def _ingest_job(job: IngestionJob, content: bytes) -> list[IngestOutcome] | None:
    """A queued upload's outcomes; None while its passages are being embedded by batch tasks.

    Up to ``INGESTION.FANOUT_ABOVE_PASSAGES`` passages are embedded here, in the job's own task.
    A larger job is cut into batches of ``FANOUT_BATCH_PASSAGES`` that any worker embeds
    (:func:`run_ingest_batch`); the last batch sends the job's task again, which extracts and
    chunks the file once more (cheap next to embedding), takes the batches' vectors and stores
    each document in one transaction, as a small job does. Until then nothing of the job is in
    the searchable tables, and a document's previous version stays current.
    """
    collection = job.collection
    key = os.path.basename(job.name) or job.name
    outcomes, plans = _prepare(collection, key, content, "upload", _options_from_json(job.options))
    passages = sum(len(plan.drafts) for plan in plans)
    if passages <= govai_settings.INGESTION["FANOUT_ABOVE_PASSAGES"] and not IngestBatch.objects.filter(job_id=job.pk).exists():
        return _log_failures(outcomes + _finish(collection, plans))
    if not _staged_vectors(job, plans):
        return None
    return _log_failures(outcomes + _store_plans(collection, plans))


def _staged_vectors(job: IngestionJob, plans: list[_Plan]) -> bool:
    """Give the plans their vectors from the job's finished batches: True when all are there.

    Otherwise (no batches yet, batches of another model or of other passages, or some not done)
    the missing batches are (re)created and their tasks sent, and the answer is False.
    """
    inputs = [[embedding_input(plan.extracted.title, d.heading_path, d.text) for d in plan.drafts] for plan in plans]
    needed = {text for texts in inputs for text in texts}
    if not needed:  # every document already stored (a rerun after the worker died while storing)
        return True
    signature = embedding_signature()
    with transaction.atomic():
        IngestionJob.objects.select_for_update().filter(pk=job.pk).first()  # one run of the job decides at a time
        batches = list(IngestBatch.objects.filter(job_id=job.pk))
        staged = {text for batch in batches for text in batch.texts}
        usable = batches and needed <= staged and all(
            b.status == IngestBatch.Status.PENDING or b.embedding_model == signature for b in batches)
        if usable and all(b.status == IngestBatch.Status.DONE for b in batches):
            table: dict[str, Any] = {}
            for batch in batches:
                table.update(zip(batch.texts, np.frombuffer(bytes(batch.vectors), dtype="<f4").reshape(len(batch.texts), -1)))
            for plan, texts in zip(plans, inputs, strict=True):
                plan.vectors = [table[text].tolist() for text in texts]
            return True
        if usable:  # a requeued or redelivered job: send the batches that are not done again
            send = [b.pk for b in batches if b.status == IngestBatch.Status.PENDING]
            IngestBatch.objects.filter(pk__in=send).update(attempts=0)
        else:
            if batches:
                logger.warning("ingestion_batches_replaced job=%s batches=%d", job.uid, len(batches))
            IngestBatch.objects.filter(job_id=job.pk).delete()
            size = govai_settings.INGESTION["FANOUT_BATCH_PASSAGES"]
            ordered = sorted(needed, key=lambda text: (len(text), text))  # similar lengths together: less padding
            created = IngestBatch.objects.bulk_create(
                IngestBatch(job_id=job.pk, number=n, texts=ordered[start:start + size])
                for n, start in enumerate(range(0, len(ordered), size))
            )
            send = [b.pk for b in created]
            logger.info("ingestion_fanned_out job=%s passages=%d batches=%d", job.uid, len(ordered), len(send))
        transaction.on_commit(lambda: _send_batches(job, send))
    return False


def _send_batches(job: IngestionJob, batch_ids: list[int]) -> None:
    try:
        for batch_id in batch_ids:
            current_app.send_task(EMBED_BATCH_TASK, args=[batch_id])
    except Exception as exc:  # as in _enqueue: a broker that cannot take them must not strand the job
        logger.exception("ingestion_enqueue_failed job=%s", job.uid)
        _close_job(job, [], "queue_unavailable",
                   f"the task queue could not take the job's batches ({type(exc).__name__}); upload the file again later")


def run_ingest_batch(batch_id: int) -> IngestBatch | None:
    """Embed one batch of a fanned-out job and keep its vectors; the job's last batch sends the
    job's task again to store the documents.

    Idempotent: a batch already done, or of a job that ended, is left alone. A batch tried
    ``INGESTION.FANOUT_ATTEMPTS`` times (failed, or its worker died) fails the job; nothing of
    it was stored.

    :raises RetryableError: the embedding failed and the batch has attempts left (the task retries).
    """
    attempts = govai_settings.INGESTION["FANOUT_ATTEMPTS"]
    with transaction.atomic():
        batch = (IngestBatch.objects.select_for_update(of=("self",)).select_related("job")
                 .filter(pk=batch_id).first())
        if batch is None or batch.status == IngestBatch.Status.DONE or batch.job.is_final:
            return batch
        batch.attempts += 1
        batch.save(update_fields=["attempts"])
    job = batch.job
    if batch.attempts > attempts:
        _close_job(job, [], "worker_lost", f"passage batch {batch.number} stopped its worker {attempts} times")
        return batch
    try:
        size = govai_settings.EMBEDDINGS["BATCH_SIZE"]  # the hook takes at most that many texts a call
        rows: list[list[float]] = []
        for start in range(0, len(batch.texts), size):
            rows += get_hooks().embed_texts(batch.texts[start:start + size], "document")
        vectors = np.asarray(rows, dtype="<f4")
        if vectors.shape != (len(batch.texts), govai_settings.EMBEDDINGS["DIMENSIONS"]):
            raise EmbeddingError(f"the embedding plugin returned vectors of shape {vectors.shape} "
                                 f"for {len(batch.texts)} passages")
    except Exception as exc:  # any failure: the batch is tried again, as many times as allowed
        logger.warning("ingestion_batch_failed job=%s batch=%d attempt=%d error=%s: %s",
                       job.uid, batch.number, batch.attempts, type(exc).__name__, exc)
        IngestBatch.objects.filter(pk=batch.pk).update(error=f"{type(exc).__name__}: {exc}"[:2000])
        if batch.attempts < attempts:
            raise RetryableError(f"passage batch {batch.number} failed: {exc}") from exc
        _close_job(job, [], "embedding",
                   f"embedding failed on passage batch {batch.number} {attempts} times ({type(exc).__name__}: {exc})")
        return batch
    with transaction.atomic():
        IngestionJob.objects.select_for_update().filter(pk=job.pk).first()  # batch ends of one job, one at a time
        done = IngestBatch.objects.filter(pk=batch.pk, status=IngestBatch.Status.PENDING).update(
            status=IngestBatch.Status.DONE, vectors=vectors.tobytes(), embedding_model=embedding_signature(),
            error="", finished_at=timezone.now())
        left = IngestBatch.objects.filter(job_id=job.pk, status=IngestBatch.Status.PENDING).count()
        if done and left == 0:
            transaction.on_commit(lambda: _send_finish(job))
    logger.info("ingestion_batch_done job=%s batch=%d passages=%d left=%d", job.uid, batch.number, len(batch.texts), left)
    return batch


def _send_finish(job: IngestionJob) -> None:
    try:
        requeue_ingestion_job(job)
    except Exception:  # the vectors are kept: `govai_ingest --stale-jobs N --requeue` finishes the job later
        logger.exception("ingestion_finish_enqueue_failed job=%s", job.uid)



# -- internals -------------------------------------------------------------------


def _prepare(
    collection: Collection, name: str, content: bytes, source: str, options: IngestOptions
) -> tuple[list[IngestOutcome], list[_Plan]]:
    """Extract and chunk one file: outcomes for what is already decided, plans for the rest.

    ``name`` is the file's document key (its name, or its path inside an ingested folder).
    """
    display = name
    limit = govai_settings.INGESTION["MAX_DOCUMENT_BYTES"]
    try:
        if len(content) > limit:
            raise DocumentTooLarge(display, f"{len(content):,} bytes is more than the limit of {limit:,} bytes")
        extension = Path(display).suffix.lower()
        try:
            result = get_hooks().extract_text(SourceFile(name=Path(display).name, content=content, extension=extension))
        except ExtractionError as exc:
            raise _ERROR_KINDS.get(exc.kind, CorruptDocument)(display, str(exc)) from exc
    except IngestionError as exc:
        return [IngestOutcome(display, "failed", message=exc.message, reason=exc.reason)], []

    outcomes = [
        IngestOutcome(f"{display} {where}", "failed", message=message, reason="invalid_record")
        for where, message in result.errors
    ]
    multi = len(result.documents) > 1 or any(d.key for d in result.documents)
    plans: list[_Plan] = []
    for extracted in result.documents:
        label = f"{display} (_id {extracted.key})" if extracted.key else display
        digest = _record_hash(extracted) if multi else hashlib.sha256(content).hexdigest()
        size = len(extracted.text.encode()) if multi else len(content)
        try:
            planned = _plan(collection, extracted, extracted.key or display, digest, size, source, options, label)
        except IngestionError as exc:
            planned = IngestOutcome(label, "failed", message=exc.message, reason=exc.reason)
        if isinstance(planned, IngestOutcome):
            outcomes.append(planned)
        else:
            plans.append(planned)
    return outcomes, plans


def _finish(collection: Collection, plans: list[_Plan]) -> list[IngestOutcome]:
    """Embed the planned documents' passages together, then store each document."""
    try:
        _embed_plans(plans)
    except GovAIError as exc:
        return [IngestOutcome(p.label, "failed", message=f"embedding failed: {exc}", reason="embedding") for p in plans]
    return _store_plans(collection, plans)


def _store_plans(collection: Collection, plans: list[_Plan]) -> list[IngestOutcome]:
    """Store each embedded document in its own transaction."""
    outcomes = []
    for plan in plans:
        try:
            outcomes.append(_store(collection, plan))
        except GovAIError as exc:
            outcomes.append(IngestOutcome(plan.label, "failed", message=str(exc), reason="error"))
        except DatabaseError as exc:
            # The transaction rolled back: no document row and no chunks remain.
            message = f"the database refused it: {str(exc).splitlines()[0][:300]}"
            outcomes.append(IngestOutcome(plan.label, "failed", message=message, reason="database"))
    return outcomes


def _log_failures(outcomes: list[IngestOutcome]) -> list[IngestOutcome]:
    for outcome in outcomes:
        if outcome.status == "failed":
            logger.warning("ingest_failed source=%s reason=%s message=%s", outcome.source, outcome.reason, outcome.message)
    return outcomes


def _record_hash(extracted: ExtractedDocument) -> str:
    canonical = json.dumps(
        {"_id": extracted.key, "title": extracted.title, "text": extracted.text, "metadata": extracted.metadata},
        sort_keys=True,
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _parse_date(value: Any, label: str, field_name: str) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise IngestionError(label, f"{field_name} {value!r} is not a date (use YYYY-MM-DD)") from exc


@dataclass
class _Plan:
    """A document ready to store once its passages are embedded."""

    label: str
    source_key: str
    digest: str
    size: int
    source: str
    extracted: ExtractedDocument
    language: str
    ts_config: str
    metadata: dict[str, Any]
    effective_from: dt.date | None
    effective_to: dt.date | None
    actor: str
    drafts: list[ChunkDraft]
    vectors: list[list[float]] = field(default_factory=list)


def _plan(
    collection: Collection,
    extracted: ExtractedDocument,
    source_key: str,
    digest: str,
    size: int,
    source: str,
    options: IngestOptions,
    label: str,
) -> _Plan | IngestOutcome:
    source_key = source_key[:512]
    current = Document.objects.filter(collection=collection, source_key=source_key, is_current=True).first()
    if current is not None and current.content_hash == digest:
        return IngestOutcome(label, "unchanged", current, current.chunks.count(), "already ingested with the same content")
    duplicate = (
        Document.objects.filter(collection=collection, content_hash=digest, is_current=True).exclude(source_key=source_key).first()
    )
    if duplicate is not None:
        return IngestOutcome(label, "unchanged", duplicate, 0, f"same content as {duplicate.source_key!r}, not stored twice")

    metadata = {**extracted.metadata, **options.metadata}
    effective_from = options.effective_from or _parse_date(metadata.pop("effective_from", None), label, "effective_from")
    effective_to = options.effective_to or _parse_date(metadata.pop("effective_to", None), label, "effective_to")
    if effective_from and effective_to and effective_to < effective_from:
        raise IngestionError(label, f"effective_to {effective_to} is before effective_from {effective_from}")
    language = document_language(options.language, extracted.language, extracted.text)
    cfg = govai_settings.CHUNKING
    drafts = get_hooks().chunk_document(extracted, cfg["SIZE"], cfg["OVERLAP"])
    if not drafts:
        raise EmptyDocument(label, "no passages with text were found")
    _verify_spans(extracted.text, drafts, label)
    return _Plan(
        label=label,
        source_key=source_key,
        digest=digest,
        size=size,
        source=source,
        extracted=extracted,
        language=language,
        ts_config=govai_settings.text_search_config(language),
        metadata=metadata,
        effective_from=effective_from,
        effective_to=effective_to,
        actor=options.actor,
        drafts=drafts,
    )


def _store(collection: Collection, plan: _Plan) -> IngestOutcome:
    effective_from = plan.effective_from
    with transaction.atomic():
        Collection.objects.select_for_update().get(pk=collection.pk)  # one writer per collection at a time
        previous = Document.objects.filter(collection=collection, source_key=plan.source_key, is_current=True).first()
        if previous is not None and previous.content_hash == plan.digest:  # another writer got there first
            return IngestOutcome(plan.label, "unchanged", previous, previous.chunks.count(), "already ingested with the same content")
        if previous is not None and effective_from is None:
            effective_from = timezone.localdate()
        document = Document(
            collection=collection,
            source_key=plan.source_key,
            version=(previous.version + 1) if previous else 1,
            title=plan.extracted.title[:500],
            content_hash=plan.digest,
            media_type=plan.extracted.media_type,
            language=plan.language,
            ts_config=plan.ts_config,
            source=plan.source[:1024],
            size_bytes=plan.size,
            metadata=plan.metadata,
            text=plan.extracted.text,
            effective_from=effective_from,
            effective_to=plan.effective_to,
            supersedes=previous,
            ingested_by=plan.actor[:200],
        )
        if previous is not None:
            previous.is_current = False
            previous.superseded_at = timezone.now()
            if previous.effective_to is None or previous.effective_to > effective_from:
                previous.effective_to = max(effective_from, previous.effective_from or effective_from)
            previous.save(update_fields=["is_current", "superseded_at", "effective_to"])
        document.save()
        if previous is not None:
            from govai_plugin.services.suggestions import flag_superseded

            flag_superseded(previous, document)
        Chunk.objects.bulk_create(
            [
                Chunk(
                    document=document,
                    collection=collection,
                    ordinal=i,
                    text=d.text,
                    heading_path=d.heading_path[:1000],
                    page=d.page,
                    char_start=d.char_start,
                    char_end=d.char_end,
                    embedding=vector,
                    ts_config=plan.ts_config,
                )
                for i, (d, vector) in enumerate(zip(plan.drafts, plan.vectors, strict=True))
            ],
            batch_size=500,
        )
        Chunk.objects.filter(document=document).update(
            search_vector=SearchVector(Value(document.title), weight="A", config=plan.ts_config)
            + SearchVector("heading_path", weight="A", config=plan.ts_config)
            + SearchVector("text", weight="B", config=plan.ts_config)
        )
        quarantined = _quarantine(document)
        audit.record("document.ingested", actor=plan.actor or "local", object_ref=str(document.uid), details={
            "quarantined_chunks": quarantined,
            "collection": collection.slug, "title": document.title, "version": document.version,
            "content_hash": document.content_hash, "source": document.source, "chunks": len(plan.drafts),
            "supersedes": str(previous.uid) if previous else None})
    status: Status = "new_version" if previous else "created"
    logger.info("document_ingested source=%s status=%s version=%d chunks=%d", plan.label, status, document.version, len(plan.drafts))
    return IngestOutcome(plan.label, status, document, len(plan.drafts))


def _quarantine(document: Document) -> list[int]:
    """Screen each passage with the input guards; a blocking finding quarantines it."""
    hooks = get_hooks()
    flagged = []
    for chunk in Chunk.objects.filter(document=document).only("id", "text"):
        blocking = [f for f in hooks.guard_input(chunk.text, {"kind": "passage", "document": str(document.uid)}) if f.block]
        if blocking:
            Chunk.objects.filter(pk=chunk.pk).update(quarantine_reason=blocking[0].message[:500])
            flagged.append(chunk.pk)
    if flagged:
        logger.warning("chunks_quarantined document=%s count=%d", document.uid, len(flagged))
    return flagged


def _verify_spans(text: str, drafts: list[ChunkDraft], label: str) -> None:
    for draft in drafts:
        if not (0 <= draft.char_start <= draft.char_end <= len(text)) or text[draft.char_start:draft.char_end] != draft.text:
            raise IngestionError(label, "the chunker returned a passage that is not an exact span of the text (plugin bug)")


def _embed_plans(plans: list[_Plan]) -> None:
    """Embed every passage of the plans in batches of similar length (less padding)."""
    hooks = get_hooks()
    batch = govai_settings.EMBEDDINGS["BATCH_SIZE"]
    inputs = [(plan, embedding_input(plan.extracted.title, d.heading_path, d.text)) for plan in plans for d in plan.drafts]
    order = sorted(range(len(inputs)), key=lambda i: len(inputs[i][1]))
    vectors: list[list[float] | None] = [None] * len(inputs)
    for start in range(0, len(order), batch):
        part = order[start : start + batch]
        result = hooks.embed_texts([inputs[i][1] for i in part], "document")
        if len(result) != len(part):
            raise IngestionError(inputs[part[0]][0].label, f"the embedding plugin returned {len(result)} vectors for {len(part)} passages")
        for i, vector in zip(part, result, strict=True):
            vectors[i] = vector
    for (plan, _), vector in zip(inputs, vectors, strict=True):
        plan.vectors.append(vector)

"""Large queued ingestions fan out over Celery workers as passage batches (issue 11, item 2).

A real worker (tests/conftest.py) on the real broker, the real embedding model and PostgreSQL.
Failures come from plugins registered here, the way an institution swaps behaviour; lost work
from a purged queue and from a worker process killed mid-batch. Waits poll the database rows
(govai_plugin.testing.waiting.wait_for), never sleep.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from govai_plugin.checks import check_ingestion
from govai_plugin.exceptions import EmbeddingServiceUnavailable
from govai_plugin.hooks import hookimpl
from govai_plugin.hooks.manager import get_plugin_manager
from govai_plugin.models import Chunk, Document
from govai_plugin.models.knowledge import IngestBatch, IngestionJob, IngestionUpload
from govai_plugin.services.ingest import ingest_bytes, run_ingest_batch, run_ingestion_job, submit_upload
from govai_plugin.services.search import search
from govai_plugin.tasks import embed_batch, ingest_upload
from govai_plugin.testing.waiting import wait_for
from settings.celery import app as celery_app
from tests.conftest import ROOT, running_worker

pytestmark = pytest.mark.django_db(transaction=True)

SECTIONS = 10
WORKER_START = 300  # seconds a worker process may take to start and take a task on a loaded machine
FANOUT = {"FANOUT_ABOVE_PASSAGES": 4, "FANOUT_BATCH_PASSAGES": 3, "FANOUT_ATTEMPTS": 3}
TOPICS = [
    ("Parking permits", "A resident parking permit costs {n}0 euros a year and is renewed online."),
    ("Elukohateade", "Elukohateade tuleb esitada {n} päeva jooksul pärast kolimist rahvastikuregistrisse."),
    ("Пособие на ребёнка", "Пособие на ребёнка выплачивается ежемесячно, заявление рассматривается {n} дней."),
    ("Library cards", "A library card is free for residents; a lost card is replaced for {n} euros."),
    ("Allocation logement", "La demande d'allocation logement est traitée en {n} semaines par la caisse."),
]


def handbook(edition: str) -> bytes:
    """A Markdown handbook of SECTIONS sections (one passage each) in several languages; ``edition``
    is a word found in every section, so one edition's passages can be searched for."""
    parts = [f"# Service handbook {edition}\n"]
    for n in range(SECTIONS):
        title, text = TOPICS[n % len(TOPICS)]
        parts.append(f"## {n + 1}. {title}\n\n{text.format(n=n + 2)} Edition {edition}.\n")
    return "\n".join(parts).encode()


@pytest.fixture
def fanout(settings):
    settings.GOVAI = {**settings.GOVAI, "INGESTION": dict(FANOUT)}
    return settings


def final(job: IngestionJob) -> IngestionJob:
    def ended():
        current = IngestionJob.objects.get(pk=job.pk)
        return current if current.is_final else None

    return wait_for(ended, what=f"ingestion job {job.uid} to end")


def found(collection, word: str) -> set[str]:
    """Titles of the documents a full-text search for ``word`` returns."""
    return {hit.document_title for hit in search(word, collections=[collection.slug], mode="fulltext", top_k=20).hits}


def fanned_out(collection, edition: str) -> IngestionJob:
    """A queued upload whose task has run here (no worker yet): its batches are sent, none done."""
    job = submit_upload(collection, "handbook.md", handbook(edition))
    running = run_ingestion_job(job.pk)
    assert running.status == "running" and not collection.documents.filter(title__contains=edition).exists()
    return running


class FlakyEmbedder:
    """An embedding service that drops the connection the first time it embeds passages."""

    def __init__(self, failures: int = 1) -> None:
        self.failures_left = failures
        self.raised = 0

    @hookimpl(tryfirst=True)
    def govai_embed_texts(self, texts, purpose):
        if purpose == "document" and self.failures_left:
            self.failures_left -= 1
            self.raised += 1
            raise EmbeddingServiceUnavailable("the embedding service closed the connection")
        return None  # the configured model answers


@pytest.fixture
def flaky():
    def register(failures: int = 1) -> FlakyEmbedder:
        plugin = FlakyEmbedder(failures)
        get_plugin_manager().register(plugin, name="test.flaky-embedder")
        registered.append(plugin)
        return plugin

    registered: list[FlakyEmbedder] = []
    yield register
    for plugin in registered:
        get_plugin_manager().unregister(plugin)


def test_a_fanned_out_document_is_stored_whole_with_each_passage_s_own_vector(worker, collection, fanout):
    job = final(submit_upload(collection, "handbook.md", handbook("kestrel")))
    assert job.status == "done", job.error
    [outcome] = job.outcomes
    assert outcome["status"] == "created" and outcome["chunks"] == SECTIONS
    document = Document.objects.get(uid=outcome["document"])
    assert list(document.chunks.values_list("ordinal", flat=True)) == list(range(SECTIONS))
    assert not IngestBatch.objects.filter(job_id=job.pk).exists() and not IngestionUpload.objects.filter(job_id=job.pk).exists()
    assert found(collection, "kestrel") == {document.title}
    # The same bytes ingested in-process elsewhere: every chunk got its own passage's vector back.
    other = collection.__class__.objects.create(slug="in-process", name="In process")
    [local] = ingest_bytes(other, "handbook.md", handbook("kestrel"))
    for fanned, direct in zip(document.chunks.order_by("ordinal"), local.document.chunks.order_by("ordinal"), strict=True):
        a, b = np.asarray(fanned.embedding), np.asarray(direct.embedding)
        assert fanned.text == direct.text
        assert a @ b / (np.linalg.norm(a) * np.linalg.norm(b)) > 0.999, fanned.ordinal


def test_a_small_queued_upload_is_embedded_in_its_own_task(collection, fanout):
    fanout.GOVAI = {**fanout.GOVAI, "INGESTION": {**FANOUT, "FANOUT_ABOVE_PASSAGES": SECTIONS}}
    job = submit_upload(collection, "handbook.md", handbook("kestrel"))
    done = run_ingestion_job(job.pk)  # one run of the job's task: nothing queued, nothing left
    assert done.status == "done" and done.outcomes[0]["chunks"] == SECTIONS
    assert not IngestBatch.objects.exists()


def test_until_every_batch_is_done_the_new_version_is_not_visible(collection, fanout):
    [first] = ingest_bytes(collection, "handbook.md", handbook("kestrel"))
    job = fanned_out(collection, "pelican")
    batches = list(IngestBatch.objects.filter(job_id=job.pk))
    assert len(batches) == math.ceil(SECTIONS / FANOUT["FANOUT_BATCH_PASSAGES"])
    run_ingest_batch(batches[0].pk)  # one batch done, the rest pending
    assert IngestBatch.objects.filter(job_id=job.pk, status="done").count() == 1
    # Nothing of the new version is stored; the old one is current and is what search finds.
    assert list(collection.documents.values_list("pk", "is_current")) == [(first.document.pk, True)]
    assert Chunk.objects.filter(collection=collection).count() == SECTIONS
    assert found(collection, "pelican") == set() and found(collection, "kestrel") == {first.document.title}
    with running_worker():  # takes the job's and the batches' tasks waiting in the queue
        job = final(job)
    assert job.status == "done", job.error
    current = collection.documents.get(is_current=True)
    assert current.version == 2 and current.chunks.count() == SECTIONS and current.supersedes_id == first.document.pk
    assert found(collection, "pelican") == {current.title}
    assert found(collection, "kestrel") == set()  # the superseded version is out of current searches


def test_a_batch_that_fails_once_is_retried_and_the_job_completes(worker, collection, fanout, flaky):
    service = flaky(failures=1)
    job = final(submit_upload(collection, "handbook.md", handbook("kestrel")))
    assert service.raised == 1
    assert job.status == "done", job.error
    assert collection.documents.get().chunks.count() == SECTIONS
    assert found(collection, "kestrel")


def test_a_batch_that_keeps_failing_fails_the_job_and_stores_nothing(worker, collection, fanout, flaky):
    [first] = ingest_bytes(collection, "handbook.md", handbook("kestrel"))
    service = flaky(failures=1000)
    job = final(submit_upload(collection, "handbook.md", handbook("pelican")))
    assert job.status == "failed" and job.reason == "embedding"
    assert "3 times" in job.error and "closed the connection" in job.error
    assert service.raised >= FANOUT["FANOUT_ATTEMPTS"]
    assert list(collection.documents.values_list("pk", flat=True)) == [first.document.pk]
    assert found(collection, "pelican") == set() and found(collection, "kestrel") == {first.document.title}
    assert not IngestBatch.objects.filter(job_id=job.pk).exists() and not IngestionUpload.objects.filter(job_id=job.pk).exists()


def purge_queue() -> None:
    """The broker loses every queued task (restarted without persistence, or the queue purged)."""
    with celery_app.connection_for_write() as conn:
        conn.default_channel.queue_purge(celery_app.conf.task_default_queue)


def stale_listing(minutes: str = "10", *extra: str) -> str:
    out = io.StringIO()
    call_command("govai_ingest", "--stale-jobs", minutes, *extra, stdout=out)
    return out.getvalue()


def test_a_job_whose_batch_tasks_were_lost_is_found_by_stale_jobs_and_requeued(collection, fanout):
    job = fanned_out(collection, "kestrel")
    purge_queue()
    run_ingest_batch(IngestBatch.objects.filter(job_id=job.pk).first().pk)  # one batch just finished
    IngestionJob.objects.filter(pk=job.pk).update(started_at=timezone.now() - dt.timedelta(minutes=30))
    assert str(job.uid) not in stale_listing()  # its batches make progress: not stale
    IngestBatch.objects.filter(job_id=job.pk).update(finished_at=timezone.now() - dt.timedelta(minutes=30))
    listing = stale_listing()  # ... and then nothing for 30 minutes: the rest were lost
    assert str(job.uid) in listing and "running" in listing and "1/4 passage batches done" in listing
    with running_worker():
        stale_listing("10", "--requeue")
        job = final(job)
    assert job.status == "done", job.error
    assert collection.documents.get().chunks.count() == SECTIONS and found(collection, "kestrel")


def start_worker_process() -> subprocess.Popen:
    """A real worker process on the test queue and database, to be killed mid-batch."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "settings.test", "GOVAI_TEST_DB_NAME": connection.settings_dict["NAME"]}
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "settings.celery", "worker", "--pool=solo", "-l", "warning",
         "-n", f"fanout-{os.getpid()}@%h", "-Q", celery_app.conf.task_default_queue],
        cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def test_a_worker_killed_mid_batch_leaves_a_job_that_stale_jobs_finds_and_requeue_finishes(collection, fanout):
    job = fanned_out(collection, "kestrel")
    process = start_worker_process()
    try:
        wait_for(lambda: IngestBatch.objects.filter(job_id=job.pk, attempts__gt=0).exists(), seconds=WORKER_START,
                 what="the worker process to start a batch")
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # mid-batch, no chance to clean up
        process.wait(60)
    job.refresh_from_db()
    assert job.status == "running" and not collection.documents.exists()  # nothing half stored
    long_ago = timezone.now() - dt.timedelta(minutes=30)
    IngestionJob.objects.filter(pk=job.pk).update(started_at=long_ago)
    IngestBatch.objects.filter(job_id=job.pk, finished_at__isnull=False).update(finished_at=long_ago)
    assert str(job.uid) in stale_listing()
    with running_worker():
        stale_listing("10", "--requeue")
        job = final(job)
    assert job.status == "done", job.error
    assert collection.documents.get().chunks.count() == SECTIONS and found(collection, "kestrel")


@pytest.mark.parametrize("bad", ["1", None, -1, 0, True, 1.5, [1], {"id": 1}, 10**12])
def test_malformed_task_arguments_are_rejected_and_change_nothing(collection, fanout, bad):
    job = fanned_out(collection, "kestrel")
    before = list(IngestBatch.objects.filter(job_id=job.pk).values("pk", "status", "attempts"))
    assert embed_batch.apply(args=[bad]).successful()  # logged and dropped, never retried
    assert ingest_upload.apply(args=[bad]).successful()
    assert list(IngestBatch.objects.filter(job_id=job.pk).values("pk", "status", "attempts")) == before
    assert IngestionJob.objects.get(pk=job.pk).attempts == job.attempts


def test_a_worker_given_malformed_messages_goes_on_with_real_work(worker, collection, fanout):
    for args in (["not an id"], [], [1, 2]):
        celery_app.send_task("govai_plugin.tasks.embed_batch", args=args)
    job = final(submit_upload(collection, "handbook.md", handbook("kestrel")))
    assert job.status == "done", job.error


def test_a_batch_of_an_ended_job_is_left_alone(collection, fanout):
    job = fanned_out(collection, "kestrel")
    batch = IngestBatch.objects.filter(job_id=job.pk).first()
    IngestionJob.objects.filter(pk=job.pk).update(status="failed", reason="error")
    run_ingest_batch(batch.pk)
    batch.refresh_from_db()
    assert batch.status == "pending" and batch.attempts == 0


@pytest.mark.parametrize(
    ("ingestion", "expected"),
    [
        ({"FANOUT_ABOVE_PASSAGES": 0}, ["govai.E160"]),
        ({"FANOUT_BATCH_PASSAGES": 0}, ["govai.E161"]),
        ({"FANOUT_BATCH_PASSAGES": 20_000}, ["govai.E161"]),
        ({"FANOUT_ATTEMPTS": 0}, ["govai.E162"]),
        ({"FANOUT_ATTEMPTS": 50}, ["govai.E162"]),
        ({"FANOUT_ABOVE_PASSAGES": 1, "FANOUT_BATCH_PASSAGES": 10_000, "FANOUT_ATTEMPTS": 20}, []),
    ],
)
def test_fanout_settings_are_checked(settings, ingestion, expected):
    settings.GOVAI = {"INGESTION": ingestion}
    errors = check_ingestion()
    assert [e.id for e in errors] == expected and all(e.hint for e in errors)

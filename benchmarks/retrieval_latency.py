"""Retrieval latency (p50/p95) for hybrid, dense and full-text search at 10k and 100k chunks.

    python benchmarks/retrieval_latency.py [--sizes 10000 100000] [--queries 100] [--smoke]

Runs in a scratch database (created and dropped like a test database), so the
dev data is untouched. Synthetic data: random unit vectors and 60-word texts
from a 5,000-word Zipf-distributed vocabulary (its 50 most frequent ranks
dropped, as stop words are), bulk-loaded with COPY; then the
same HNSW and GIN indexes as production are built. Query vectors are random, so
this measures the database side of retrieval; dense and hybrid are then timed again with
the question embedded by the configured model first (what a caller waits for; the embedding
costs the same at any corpus size). All modes run in the
same process on the same data; ratios are against dense-only. The plan of the
dense query is printed to show the HNSW index is used.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from _setup import machine, percentile, scratch_database
from django.db import connection, transaction

from govai_plugin.conf import govai_settings
from govai_plugin.defaults.retrieve import _filtered, govai_retrieve
from govai_plugin.hooks.manager import get_hooks
from govai_plugin.models import Collection, Document
from govai_plugin.types import SearchQuery

DIM = 384
VOCAB = np.array([f"w{i}" for i in range(5000)])


STOPWORDS = 50
# Zipf (s = 1.07, as in English text) over ranks 51..5050: the most frequent ranks are
# left out because real text loses them as stop words in its text search configuration.
_RANKS = np.arange(STOPWORDS + 1, STOPWORDS + 1 + len(VOCAB), dtype=np.float64)
_P = _RANKS**-1.07 / np.sum(_RANKS**-1.07)


def words(rng: np.random.Generator, n: int) -> list[str]:
    return list(rng.choice(VOCAB, size=n, p=_P))


def populate(size: int, rng: np.random.Generator) -> Collection:
    Collection.objects.all().delete()
    collection = Collection.objects.create(slug="bench", name="bench")
    doc = Document.objects.create(
        collection=collection, source_key="synthetic", title="Synthetic", content_hash="0" * 64,
        media_type="text/plain", language="en", ts_config="english", text="",
    )
    with connection.cursor() as cursor:
        cursor.execute("DROP INDEX IF EXISTS govai_chunk_embedding_hnsw")
        cursor.execute("DROP INDEX IF EXISTS govai_chunk_search_gin")
        raw = cursor.cursor
        with raw.copy(
            "COPY govai_plugin_chunk (document_id, collection_id, ordinal, text, heading_path, char_start, char_end, embedding,"
            " ts_config, quarantine_reason) FROM STDIN"
        ) as copy:
            for start in range(0, size, 5000):
                n = min(5000, size - start)
                vectors = rng.standard_normal((n, DIM)).astype(np.float32)
                vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
                for i in range(n):
                    text = " ".join(words(rng, 60))
                    vec = "[" + ",".join(f"{x:.5f}" for x in vectors[i]) + "]"
                    copy.write_row((doc.id, collection.id, start + i, text, "", 0, 0, vec, "english", ""))
        cursor.execute("UPDATE govai_plugin_chunk SET search_vector = to_tsvector('english', text)")
        cursor.execute("SET maintenance_work_mem = '1GB'")
        cursor.execute(
            "CREATE INDEX govai_chunk_embedding_hnsw ON govai_plugin_chunk USING hnsw (embedding vector_cosine_ops)"
            " WITH (m = 16, ef_construction = 64)"
        )
        cursor.execute("CREATE INDEX govai_chunk_search_gin ON govai_plugin_chunk USING gin (search_vector)")
        cursor.execute("ANALYZE")
    return collection


def dense_plan(collection: Collection, vector: list[float]) -> str:
    query = SearchQuery(text="x", collection_ids=(collection.id,), mode="dense")
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
        return _filtered(query).order_by_cosine(vector).values_list("id", "distance")[:50].explain()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--smoke", action="store_true", help="500 chunks, 5 queries: only checks the script runs")
    args = parser.parse_args()
    if args.smoke:
        args.sizes, args.queries = [500], 5
    rng = np.random.default_rng(42)
    test_db = scratch_database()
    results = {"machine": machine(), "database": test_db, "runs": []}
    try:
        for size in args.sizes:
            started = time.perf_counter()
            collection = populate(size, rng)
            run = {"chunks": size, "load_and_index_s": round(time.perf_counter() - started, 1)}
            probe = rng.standard_normal(DIM).tolist()
            plan = dense_plan(collection, probe)
            run["dense_uses_hnsw"] = "govai_chunk_embedding_hnsw" in plan
            with connection.cursor() as cursor:
                cursor.execute("SELECT text FROM govai_plugin_chunk ORDER BY random() LIMIT %s", [args.queries + 10])
                targets = [row[0].split() for row in cursor.fetchall()]
            for mode in ("dense", "fulltext", "hybrid"):
                timings = []
                for q in range(args.queries + 10):
                    vec = rng.standard_normal(DIM).tolist()
                    # Like a real question: some words of the passage it is after, some others.
                    text = " ".join(list(rng.choice(targets[q], size=5, replace=False)) + words(rng, 3))
                    query = SearchQuery(text=text, collection_ids=(collection.id,), mode=mode, top_k=8, candidates=50)
                    t0 = time.perf_counter()
                    hits = govai_retrieve(query, vec)
                    elapsed = time.perf_counter() - t0
                    if q >= 10:  # warm-up queries are not counted
                        timings.append(elapsed * 1000)
                    assert hits, mode
                run[mode] = {"p50_ms": round(percentile(timings, 50), 2), "p95_ms": round(percentile(timings, 95), 2)}
            for mode in ("fulltext", "hybrid"):
                run[mode]["p50_vs_dense"] = round(run[mode]["p50_ms"] / run["dense"]["p50_ms"], 2)
            # What a caller waits for: the question embedded by the configured model, then retrieval.
            hooks = get_hooks()
            for mode in ("dense", "hybrid"):
                timings = []
                for q in range(args.queries + 10):
                    text = " ".join(list(rng.choice(targets[q], size=5, replace=False)) + words(rng, 3))
                    query = SearchQuery(text=text, collection_ids=(collection.id,), mode=mode, top_k=8, candidates=50)
                    t0 = time.perf_counter()
                    hits = govai_retrieve(query, hooks.embed_texts([text], "query")[0])
                    elapsed = time.perf_counter() - t0
                    if q >= 10:
                        timings.append(elapsed * 1000)
                    assert hits, mode
                run[f"{mode}_with_query_embedding"] = {
                    "p50_ms": round(percentile(timings, 50), 2), "p95_ms": round(percentile(timings, 95), 2),
                    "p50_vs_dense": round(percentile(timings, 50) / run["dense"]["p50_ms"], 2)}
            run["embedding_model"] = govai_settings.EMBEDDINGS["MODEL"]
            results["runs"].append(run)
            print(json.dumps(run), flush=True)
            if not run["dense_uses_hnsw"]:
                print(plan, flush=True)
    finally:
        connection.creation.destroy_test_db(test_db, verbosity=0)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

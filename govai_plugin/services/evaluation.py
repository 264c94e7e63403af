"""Evaluation harness: retrieval and answer quality on a BEIR-format dataset.

A dataset folder holds ``corpus.jsonl`` (``_id``, ``title``, ``text``, optional ``metadata``),
``queries.jsonl`` (``_id``, ``text``, optional ``answers``: acceptable answer strings,
``answerable``: default true, and ``language``: the query's language code) and
``qrels/test.tsv`` (``query-id``, ``corpus-id``, ``score``, with a header line). :func:`evaluate`:

1. ingests the corpus into a scratch collection through the normal pipeline (idempotent: a
   second run reuses it);
2. per retrieval mode, searches every query (top 100) and scores the ranking of corpus ids with
   ``ir-measures`` (trec_eval underneath): nDCG@10, R@1/5/10/100, MRR@10 (``RR@10``);
   when queries carry a ``language``, nDCG@10 and R@10 are also reported per language;
3. counts how often the answer would abstain before the model (``ANSWERS.MIN_SIMILARITY``) on
   unanswerable and on answerable queries;
4. with ``generate``, answers each query through the real pipeline (``ask`` + the generation
   step, synchronously) and scores exact match and token F1 against ``answers``, citation
   precision and recall against the qrels, abstention accuracy, false abstentions, sentence
   support and latency.

Main metrics come with 95% bootstrap confidence intervals over queries (1,000 resamples,
seeded), and per-query values are kept so two runs can be compared with a paired bootstrap
(:func:`compare`).
"""

from __future__ import annotations

import json
import re
import string
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from govai_plugin.conf import govai_settings
from govai_plugin.exceptions import GovAIError, InvalidRequest
from govai_plugin.models import Collection
from govai_plugin.services import calibration
from govai_plugin.services.access import create_collection
from govai_plugin.services.search import build_query, run_query


MODES = ("fulltext", "dense", "hybrid")
DEPTH = 100
RESAMPLES = 1000
MAX_LINE_BYTES = 1_000_000
_PUNCTUATION = set(string.punctuation)


class DatasetError(InvalidRequest):
    """The dataset folder is missing a file or has a malformed line (the message says where)."""


@dataclass
class Query:
    id: str
    text: str
    answers: list[str] = field(default_factory=list)
    answerable: bool = True
    language: str | None = None


@dataclass
class Dataset:
    root: Path
    corpus: Path
    queries: list[Query]
    qrels: dict[str, dict[str, int]]
    corpus_ids: set[str]


# -- loading ---------------------------------------------------------------------


def _jsonl(path: Path) -> list[tuple[int, dict[str, Any]]]:
    rows = []
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if len(raw) > MAX_LINE_BYTES:
                raise DatasetError(f"{path.name} line {number}: longer than {MAX_LINE_BYTES:,} bytes.")
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise DatasetError(f"{path.name} line {number}: not JSON ({exc}).") from None
            if not isinstance(record, dict):
                raise DatasetError(f"{path.name} line {number}: expected an object.")
            rows.append((number, record))
    return rows


def load_dataset(root: str | Path) -> Dataset:
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root} is not a folder.")
    paths = {"corpus": root / "corpus.jsonl", "queries": root / "queries.jsonl", "qrels": root / "qrels" / "test.tsv"}
    for name, path in paths.items():
        if not path.is_file():
            raise DatasetError(f"{path} is missing: a BEIR folder has corpus.jsonl, queries.jsonl and qrels/test.tsv.")
    corpus_ids: set[str] = set()
    for number, record in _jsonl(paths["corpus"]):
        if not isinstance(record.get("_id"), str) or not record["_id"]:
            raise DatasetError(f"corpus.jsonl line {number}: missing '_id'.")
        corpus_ids.add(record["_id"])
    queries: list[Query] = []
    seen: set[str] = set()
    for number, record in _jsonl(paths["queries"]):
        qid, text = record.get("_id"), record.get("text")
        answers = record.get("answers", [])
        answerable = record.get("answerable", True)
        language = record.get("language")
        if not isinstance(qid, str) or not qid or not isinstance(text, str) or not text.strip():
            raise DatasetError(f"queries.jsonl line {number}: needs '_id' and 'text' (non-empty strings).")
        if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers) or not isinstance(answerable, bool):
            raise DatasetError(f"queries.jsonl line {number} (_id {qid}): 'answers' must be a list of strings and "
                               "'answerable' true or false.")
        if language is not None and (not isinstance(language, str) or not language.strip()):
            raise DatasetError(f"queries.jsonl line {number} (_id {qid}): 'language' must be a non-empty string.")
        if qid in seen:
            raise DatasetError(f"queries.jsonl line {number}: duplicate _id {qid!r}.")
        seen.add(qid)
        queries.append(Query(qid, text.strip(), answers, answerable, language.strip() if language else None))
    if not queries:
        raise DatasetError("queries.jsonl has no queries.")
    qrels: dict[str, dict[str, int]] = {}
    lines = paths["qrels"].read_text(encoding="utf-8", errors="replace").splitlines()
    for number, line in enumerate(lines, start=1):
        parts = line.strip().split("\t")
        if not line.strip() or (number == 1 and parts[0] == "query-id"):
            continue
        if len(parts) != 3:
            raise DatasetError(f"qrels/test.tsv line {number}: expected query-id, corpus-id and score separated by tabs.")
        try:
            score = int(parts[2])
        except ValueError:
            raise DatasetError(f"qrels/test.tsv line {number}: score {parts[2]!r} is not a whole number.") from None
        if parts[0] in seen:  # judgements of queries the file does not have are ignored
            qrels.setdefault(parts[0], {})[parts[1]] = score
    return Dataset(root, paths["corpus"], queries, qrels, corpus_ids)


# -- scoring helpers ---------------------------------------------------------------


def bootstrap_ci(values: list[float], *, resamples: int = RESAMPLES, seed: int = 0) -> tuple[float, float]:
    """95% percentile bootstrap interval of the mean."""
    if not values:
        return (float("nan"), float("nan"))
    data = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, len(data), size=(resamples, len(data)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def summary(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"mean": None, "ci95": None, "n": 0}
    low, high = bootstrap_ci(values)
    return {"mean": round(float(np.mean(values)), 4), "ci95": [round(low, 4), round(high, 4)], "n": len(values)}


def compare(a: dict[str, float], b: dict[str, float], *, resamples: int = RESAMPLES, seed: int = 0) -> dict[str, Any]:
    """Paired bootstrap of ``mean(b - a)`` over the queries both have; significant when the
    95% interval excludes zero."""
    shared = sorted(set(a) & set(b))
    diffs = [b[q] - a[q] for q in shared]
    low, high = bootstrap_ci(diffs, resamples=resamples, seed=seed)
    mean = float(np.mean(diffs)) if diffs else float("nan")
    return {"delta": round(mean, 4), "ci95": [round(low, 4), round(high, 4)], "n": len(shared),
            "significant": bool(diffs) and (low > 0 or high < 0)}


def normalise_answer(text: str) -> str:
    """SQuAD normalisation: lower case, no punctuation, articles or extra spaces; citation markers dropped."""
    text = re.sub(r"\[\d{1,3}\]", " ", unicodedata.normalize("NFKC", text).lower())
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(prediction: str, answers: list[str]) -> float:
    return float(any(normalise_answer(prediction) == normalise_answer(a) for a in answers))


def contains_answer(prediction: str, answers: list[str]) -> float:
    norm = f" {normalise_answer(prediction)} "
    return float(any(normalise_answer(a) and f" {normalise_answer(a)} " in norm for a in answers))


def token_f1(prediction: str, answers: list[str]) -> float:
    best = 0.0
    pred = normalise_answer(prediction).split()
    for answer in answers:
        gold = normalise_answer(answer).split()
        common = sum((Counter(pred) & Counter(gold)).values())
        if not pred or not gold or not common:
            continue
        precision, recall = common / len(pred), common / len(gold)
        best = max(best, 2 * precision * recall / (precision + recall))
    return best


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None}
    return {"p50": round(float(np.percentile(values, 50)), 4), "p95": round(float(np.percentile(values, 95)), 4)}


# -- the run -----------------------------------------------------------------------


def scratch_collection(dataset: Dataset, slug: str | None) -> Collection:
    slug = slug or "eval-" + re.sub(r"[^a-z0-9-]+", "-", dataset.root.resolve().name.lower()).strip("-")[:50]
    existing = Collection.objects.filter(slug=slug).first()
    return existing or create_collection(slug, f"Evaluation: {dataset.root.name}", "Scratch collection of govai_eval.")


def ingest_corpus(dataset: Dataset, collection: Collection) -> dict[str, Any]:
    from govai_plugin.services.ingest import ingest_paths

    started = time.perf_counter()
    outcomes = ingest_paths(collection, [dataset.corpus]).outcomes
    seconds = time.perf_counter() - started
    counts = Counter(o.status for o in outcomes)
    failed = [f"{o.source}: {o.message}" for o in outcomes if o.status == "failed"]
    return {"documents": len(outcomes), "stored": counts["created"] + counts["new_version"],
            "unchanged": counts["unchanged"], "failed": len(failed), "failures": failed[:20],
            "chunks": sum(o.chunks for o in outcomes), "seconds": round(seconds, 2)}


def _corpus_ids(collection: Collection) -> dict[str, str]:
    """Document uid -> corpus ``_id`` (the source key a BEIR record is stored under)."""
    from govai_plugin.models import Document

    return {str(uid): key for uid, key in Document.objects.current().filter(collection=collection).values_list("uid", "source_key")}


def _ranking(hits, ids: dict[str, str]) -> list[str]:
    """Corpus ids in rank order, each once (a document's best chunk counts)."""
    ranked: list[str] = []
    for hit in hits:
        key = ids.get(hit.document_id)
        if key is not None and key not in ranked:
            ranked.append(key)
    return ranked


def score_rankings(qrels: dict[str, dict[str, int]], rankings: dict[str, list[str]]) -> dict[str, dict[str, float]]:
    """Per-query retrieval metrics (``ir-measures``) of ranked corpus ids; a judged query with
    no ranking scores 0. Returns ``{measure: {query id: value}}`` over the judged queries."""
    import ir_measures
    from ir_measures import RR, R, nDCG

    measures = {"nDCG@10": nDCG @ 10, "R@1": R @ 1, "R@5": R @ 5, "R@10": R @ 10, "R@100": R @ 100, "MRR@10": RR @ 10}
    judged = [qid for qid, docs in qrels.items() if any(score > 0 for score in docs.values())]
    per_query = {name: {qid: 0.0 for qid in judged} for name in measures}
    run = [ir_measures.ScoredDoc(qid, doc, float(len(ranked) - rank))
           for qid, ranked in rankings.items() for rank, doc in enumerate(ranked)]
    judgements = [ir_measures.Qrel(qid, doc, score) for qid, docs in qrels.items() for doc, score in docs.items()]
    names = {str(m): name for name, m in measures.items()}
    for metric in ir_measures.iter_calc(list(measures.values()), judgements, run):
        if metric.query_id in per_query["nDCG@10"]:
            per_query[names[str(metric.measure)]][metric.query_id] = float(metric.value)
    return per_query


def run_retrieval(dataset: Dataset, collection: Collection, mode: str, queries: list[Query]) -> dict[str, Any]:
    from govai_plugin.services.answers import retrieval_abstention

    ids = _corpus_ids(collection)
    rankings: dict[str, list[str]] = {}
    latencies: list[float] = []
    abstained: dict[str, bool] = {}
    for q in queries:
        started = time.perf_counter()
        query = build_query(q.text, collections=[collection.slug], mode=mode, top_k=DEPTH)
        hits = run_query(query).hits
        latencies.append(time.perf_counter() - started)
        abstained[q.id] = retrieval_abstention(query, hits) is not None
        rankings[q.id] = _ranking(hits, ids)
    asked = {q.id for q in queries}
    per_query = score_rankings({qid: docs for qid, docs in dataset.qrels.items() if qid in asked}, rankings)
    result: dict[str, Any] = {name: summary(list(values.values())) for name, values in per_query.items()}
    result["latency_seconds"] = percentiles(latencies)
    result["queries"] = len(queries)
    result["judged_queries"] = len(per_query["nDCG@10"])
    result["abstention"] = _abstention(queries, abstained)
    result["per_query"] = {"nDCG@10": per_query["nDCG@10"], "R@10": per_query["R@10"]}
    if any(q.language for q in queries):
        result["per_language"] = per_language(queries, per_query, abstained)
    return result


def per_language(queries: list[Query], per_query: dict[str, dict[str, float]],
                 abstained: dict[str, bool] | None = None) -> dict[str, dict[str, Any]]:
    """nDCG@10 and R@10 (with intervals) over each language's judged queries; ``queries`` counts
    all of that language's queries, unanswerable ones included. With ``abstained`` (query id ->
    whether the retrieval gate stopped it), each language also gets its ``abstention``
    (:func:`_abstention` over its queries). Queries without a language are left out."""
    by_language: dict[str, list[Query]] = {}
    for q in queries:
        if q.language:
            by_language.setdefault(q.language, []).append(q)
    return {lang: {"queries": len(qs), **{name: summary([per_query[name][q.id] for q in qs if q.id in per_query[name]])
                                          for name in ("nDCG@10", "R@10")},
                   **({"abstention": _abstention(qs, abstained)} if abstained is not None else {})}
            for lang, qs in sorted(by_language.items())}


def _abstention(queries: list[Query], abstained: dict[str, bool]) -> dict[str, Any]:
    """Accuracy on unanswerable queries (they should abstain) and the false-abstention rate
    on answerable ones; ``balanced`` is the mean of accuracy and 1 - false rate."""
    unanswerable = [float(abstained[q.id]) for q in queries if not q.answerable and q.id in abstained]
    answerable = [float(abstained[q.id]) for q in queries if q.answerable and q.id in abstained]
    out: dict[str, Any] = {"accuracy_unanswerable": summary(unanswerable) if unanswerable else None,
                           "false_abstention_answerable": summary(answerable) if answerable else None}
    if unanswerable and answerable:
        out["balanced_accuracy"] = round((float(np.mean(unanswerable)) + 1 - float(np.mean(answerable))) / 2, 4)
    return out


def run_generation_eval(dataset: Dataset, collection: Collection, queries: list[Query], mode: str,
                        progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    from govai_plugin.models import AnswerJob
    from govai_plugin.services.answers import ask, run_generation

    ids = _corpus_ids(collection)
    em, f1, contains, cite_p, cite_r, support_rates, latencies = [], [], [], [], [], [], []
    abstained: dict[str, bool] = {}
    reasons: Counter[str] = Counter()
    failures: list[str] = []
    p_yes: dict[str, float | None] = {}  # the answerability step's P(yes) per query (None: skipped or off)
    def answer(q: Query) -> None:
        started = time.perf_counter()
        try:
            job = ask(q.text, collections=[collection.slug], mode=mode, actor="govai_eval", enqueue=False)
            if not job.is_final:
                job = run_generation(job.pk, attempt=1, last_attempt=True) or job
        except GovAIError as exc:
            failures.append(f"{q.id}: {exc}")
            return
        latencies.append(time.perf_counter() - started)
        if job.status == AnswerJob.Status.FAILED:
            failures.append(f"{q.id}: {job.error[:200]}")
            return
        abstained[q.id] = job.status == AnswerJob.Status.ABSTAINED
        if job.answerability:
            p_yes[q.id] = job.p_answerable
        if abstained[q.id]:
            reasons[job.abstain_reason] += 1
            return
        if q.answerable and q.answers:
            em.append(exact_match(job.answer_text, q.answers))
            f1.append(token_f1(job.answer_text, q.answers))
            contains.append(contains_answer(job.answer_text, q.answers))
        cited = {ids[c["document_id"]] for c in job.citations if c["document_id"] in ids}
        relevant = {doc for doc, score in dataset.qrels.get(q.id, {}).items() if score > 0}
        if cited:
            cite_p.append(len(cited & relevant) / len(cited))
        if relevant and q.answerable:
            cite_r.append(len(cited & relevant) / len(relevant))
        if job.support.get("rate") is not None:
            support_rates.append(job.support["rate"])

    for done, q in enumerate(queries, start=1):
        answer(q)
        if progress:
            progress(done, len(queries))
    return {
        "queries": len(queries), "failed": len(failures), "failures": failures[:20],
        "exact_match": summary(em), "token_f1": summary(f1), "contains_answer": summary(contains),
        "citation_precision": summary(cite_p), "citation_recall": summary(cite_r),
        "abstention": _abstention(queries, abstained), "abstain_reasons": dict(reasons), "p_yes": p_yes,
        "support_rate": summary(support_rates), "latency_seconds": percentiles(latencies),
        "model": govai_settings.LLM["MODEL"] if govai_settings.LLM["BASE_URL"] else "embedded",
    }


def evaluate(root: str | Path, *, collection: str | None = None, modes: tuple[str, ...] = MODES,
             generate: bool = False, limit: int | None = None,
             progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    dataset = load_dataset(root)
    for mode in modes:
        if mode not in MODES:
            raise InvalidRequest(f"Unknown mode {mode!r}; use {', '.join(MODES)}.")
    if limit is not None and limit < 1:
        raise InvalidRequest("--limit must be at least 1.")
    queries = dataset.queries[:limit] if limit else dataset.queries
    target = scratch_collection(dataset, collection)
    report: dict[str, Any] = {
        "dataset": str(dataset.root), "collection": target.slug, "corpus_documents": len(dataset.corpus_ids),
        "queries": len(queries), "unanswerable": sum(1 for q in queries if not q.answerable),
        "settings": {"RETRIEVAL": dict(govai_settings.RETRIEVAL), "CHUNKING": dict(govai_settings.CHUNKING),
                     "EMBEDDINGS": {k: v for k, v in govai_settings.EMBEDDINGS.items() if k != "API_KEY"},
                     "MIN_SIMILARITY": calibration.threshold_or_none("MIN_SIMILARITY")},
        "ingestion": ingest_corpus(dataset, target),
        "retrieval": {},
    }
    for mode in modes:
        started = time.perf_counter()
        report["retrieval"][mode] = run_retrieval(dataset, target, mode, queries)
        report["retrieval"][mode]["seconds"] = round(time.perf_counter() - started, 2)
    if generate:
        answer_mode = "hybrid" if "hybrid" in modes else modes[0]
        report["generation"] = run_generation_eval(
            dataset, target, queries, answer_mode, progress=(lambda d, n: progress("generate", d, n)) if progress else None)
        report["generation"]["mode"] = answer_mode
    return report


# -- the Markdown table ----------------------------------------------------------------


def _cell(metric: dict[str, Any] | None) -> str:
    if not metric or metric.get("mean") is None:
        return "–"
    low, high = metric["ci95"]
    return f"{metric['mean']:.3f} [{low:.3f}, {high:.3f}]"


def _language_table(retrieval: dict[str, Any]) -> list[str]:
    modes = [mode for mode, r in retrieval.items() if "per_language" in r]
    if not modes:
        return []
    lines = ["", "Per query language:", "",
             "| language | queries | " + " | ".join(f"{mode} nDCG@10 | {mode} R@10" for mode in modes) + " |",
             "|---|---|" + "---|---|" * len(modes)]
    for lang, first in retrieval[modes[0]]["per_language"].items():
        cells = [retrieval[mode]["per_language"][lang] for mode in modes]
        lines.append(f"| {lang} | {first['queries']} | "
                     + " | ".join(f"{_cell(c['nDCG@10'])} | {_cell(c['R@10'])}" for c in cells) + " |")
    return lines


def to_markdown(report: dict[str, Any]) -> str:
    lines = [f"Dataset `{report['dataset']}`: {report['corpus_documents']} passages, {report['queries']} queries "
             f"({report['unanswerable']} unanswerable). Ingestion {report['ingestion']['seconds']} s "
             f"({report['ingestion']['failed']} failed). 95% bootstrap intervals in brackets.", "",
             "| mode | nDCG@10 | R@1 | R@5 | R@10 | R@100 | MRR@10 | abstains when unanswerable | abstains when answerable | query p50 |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for mode, r in report["retrieval"].items():
        ab = r["abstention"]
        lines.append(f"| {mode} | {_cell(r['nDCG@10'])} | {_cell(r['R@1'])} | {_cell(r['R@5'])} | {_cell(r['R@10'])} | "
                     f"{_cell(r['R@100'])} | {_cell(r['MRR@10'])} | {_cell(ab['accuracy_unanswerable'])} | "
                     f"{_cell(ab['false_abstention_answerable'])} | {r['latency_seconds']['p50']} s |")
    lines += _language_table(report["retrieval"])
    gen = report.get("generation")
    if gen:
        ab = gen["abstention"]
        lines += ["", f"Answers ({gen['mode']}, {gen['queries']} queries, {gen['failed']} failed, model {gen['model']}):", "",
                  "| exact match | token F1 | contains answer | citation precision | citation recall | abstains when unanswerable "
                  "| abstains when answerable | sentence support | latency p50 / p95 |",
                  "|---|---|---|---|---|---|---|---|---|",
                  f"| {_cell(gen['exact_match'])} | {_cell(gen['token_f1'])} | {_cell(gen['contains_answer'])} | "
                  f"{_cell(gen['citation_precision'])} | {_cell(gen['citation_recall'])} | {_cell(ab['accuracy_unanswerable'])} | "
                  f"{_cell(ab['false_abstention_answerable'])} | {_cell(gen['support_rate'])} | "
                  f"{gen['latency_seconds']['p50']} / {gen['latency_seconds']['p95']} s |"]
    return "\n".join(lines)

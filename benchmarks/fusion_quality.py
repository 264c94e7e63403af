"""Fusion that never hurts: every RETRIEVAL.FUSION candidate against the best single retriever,
on every evaluation set, tuned on one half and reported on the other.

    python benchmarks/fusion_quality.py [--sets NAME ...] [--cache FILE] [--from-cache] [--out FILE] [--smoke]

1. **Candidate lists** (the slow part, once per embedding model): each set's corpus is ingested
   into a scratch database through the normal pipeline, and for every query the two lists the
   hybrid mode fuses are taken from the real retrieval code (``govai_plugin.defaults.retrieve``:
   ``dense_ranking``, ``fulltext_search`` with its BM25 bound, ``searched_configs``), with
   ``govai_eval``'s depth (100 candidates each). They are kept in ``--cache`` (JSON), so
   ``--from-cache`` re-scores every fusion without a database.
2. **Fusion tries**: each method and weight of ``TRIES`` fuses the cached lists with
   ``retrieve.fuse_lists`` (the function the hybrid mode calls), optionally with the language
   gate (``LANGUAGE_MISMATCH_WEIGHT`` 0) fed by the query's detected language (``query.language``,
   when language detection sets it) or by the set's labels ("oracle": the query's ``language``
   against the corpus language in ``SETS``). Rankings are scored like ``govai_eval`` (a
   document's best chunk counts; nDCG@10 with ``ir-measures``).
3. **Tune, then report**: a try is chosen on the *tune* halves only (HaluEval's tune part; for the
   other sets, the queries whose SHA-256 of the id is even; never the CI slices, which repeat
   queries of the full sets) by its worst paired difference to the best single retriever over the
   sets, then its mean difference, and reported on the *report* halves (HaluEval's check part, the
   odd-hash queries) and the whole sets, with ``evaluation.compare`` (paired bootstrap). The
   "+lang" tries read the sets' own language labels, which a deployment does not have: they are a
   reference, never chosen; "+detected" is what the default does (``query.language`` from
   language detection against the stored documents' languages).

The chosen default is then measured end to end with ``manage.py govai_eval`` (docs/benchmarks.md).
``--smoke`` runs the HaluEval CI slice's first 12 queries and two tries, writing nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

from _setup import ROOT, machine, scratch_database
from django.db import connection

from govai_plugin.conf import embedding_signature
from govai_plugin.defaults import retrieve
from govai_plugin.services import evaluation as ev

FIXTURES = ROOT / "fixtures" / "eval"
DATA = ROOT / ".govai"
#: name -> (folder, collection, corpus language, the half it belongs to: "tune", "report" or "hash" = by query id)
SETS: dict[str, tuple[Path, str, str, str]] = {
    "halueval-tune": (DATA / "halueval" / "tune", "halueval", "en", "tune"),
    "halueval-check": (DATA / "halueval" / "check", "halueval", "en", "report"),
    "halueval-ci": (FIXTURES / "halueval-ci", "halueval-ci", "en", "report"),
    **{f"faq-{lang}": (DATA / "debian-faq" / lang, f"faq-{lang}", lang, "hash") for lang in ("en", "de", "fr", "it", "nl", "pt", "ru")},
    "faq-cross": (DATA / "debian-faq" / "cross", "faq-cross", "en", "hash"),
    "udhr-cross": (DATA / "udhr-cross", "udhr-cross", "en", "hash"),
    "faq-ci-ru": (FIXTURES / "debian-faq-ci" / "ru", "faq-ci-ru", "ru", "report"),
    "faq-ci-cross": (FIXTURES / "debian-faq-ci" / "cross", "faq-ci-cross", "en", "report"),
    "udhr-ci": (FIXTURES / "udhr-ci", "udhr-ci", "en", "report"),
}
#: The slices repeat queries of the full sets: they are reported, never used to choose.
SLICES = {"halueval-ci", "faq-ci-ru", "faq-ci-cross", "udhr-ci"}

# name -> (method, fulltext weight, rrf k, language gate: None | "detected" | "oracle"); dense weight 1.
TRIES: dict[str, tuple[str, float, float, str | None]] = {
    "rrf": ("rrf", 1.0, 60, None),
    **{f"rrf-w{w}": ("rrf", w, 60, None) for w in (0.25, 0.5, 0.75)},
    **{f"rrf-k{k}": ("rrf", 1.0, k, None) for k in (10, 20, 200)},
    **{f"minmax-w{w}": ("minmax", w, 60, None) for w in (0.1, 0.2, 0.3, 0.5, 0.7, 1.0)},
    **{f"zscore-w{w}": ("zscore", w, 60, None) for w in (0.1, 0.2, 0.3, 0.5, 0.7, 1.0)},
    **{f"bounded-w{w}": ("bounded", w, 60, None) for w in (0.1, 0.2, 0.3, 0.5, 0.7, 1.0)},
}
for _name, (_method, _w, _k, _) in list(TRIES.items()):
    TRIES[_name + "+lang"] = (_method, _w, _k, "oracle")


def _half(set_name: str, qid: str) -> str:
    kind = SETS[set_name][3]
    if kind != "hash":
        return kind
    return "tune" if int(hashlib.sha256(qid.encode()).hexdigest(), 16) % 2 == 0 else "report"


def collect(name: str, limit: int | None) -> dict:
    """Ingest a set and keep, per query, both candidate lists as the hybrid mode sees them."""
    from govai_plugin.hooks.manager import get_hooks
    from govai_plugin.models import Chunk
    from govai_plugin.services.search import build_query

    folder, slug, _, _ = SETS[name]
    dataset = ev.load_dataset(folder)
    collection = ev.scratch_collection(dataset, slug)
    ingestion = ev.ingest_corpus(dataset, collection)
    ids = ev._corpus_ids(collection)
    chunk_doc = {str(cid): ids[str(uid)] for cid, uid in
                 Chunk.objects.filter(collection=collection).values_list("id", "document__uid") if str(uid) in ids}
    hooks = get_hooks()
    queries = {}
    started = time.perf_counter()
    for q in dataset.queries[:limit] if limit else dataset.queries:
        query = build_query(q.text, collections=[slug], mode="hybrid", top_k=ev.DEPTH)
        embedding = hooks.embed_texts([query.text], "query")[0]
        dense = retrieve.dense_ranking(query, embedding)
        configs, languages = retrieve.searched_configs(query)
        fulltext, bound = retrieve.fulltext_search(query, configs)
        queries[q.id] = {"language": q.language, "detected": getattr(query, "language", None),
                         "searched_languages": sorted(languages), "dense": dense, "fulltext": fulltext, "bound": bound}
    return {"ingestion": ingestion, "chunk_doc": chunk_doc, "queries": queries,
            "qrels": {qid: docs for qid, docs in dataset.qrels.items() if qid in queries},
            "seconds_per_query": round((time.perf_counter() - started) / max(1, len(queries)), 4)}


def ranked_docs(fused: list[tuple[int, float]], chunk_doc: dict[str, str]) -> list[str]:
    out: list[str] = []
    for chunk_id, _ in fused[: ev.DEPTH]:
        doc = chunk_doc.get(str(chunk_id))
        if doc is not None and doc not in out:
            out.append(doc)
    return out


def score(data: dict, set_name: str, how: str | tuple) -> dict[str, float]:
    """Per-query nDCG@10 of one set under ``how``: "dense", "fulltext" or a TRIES entry."""
    corpus_language = SETS[set_name][2]
    rankings = {}
    for qid, item in data["queries"].items():
        dense = [tuple(x) for x in item["dense"]]
        fulltext = [tuple(x) for x in item["fulltext"]]
        if how == "dense":
            fused = dense
        elif how == "fulltext":
            fused = fulltext
        else:
            method, weight, k, gate = how
            language = item["detected"] if gate == "detected" else item["language"] if gate == "oracle" else None
            searched = set(item["searched_languages"]) if gate == "detected" else {corpus_language}
            if retrieve.language_mismatch(language, searched):
                weight = 0.0
            fused = retrieve.fuse_lists(method, dense, fulltext, dense_weight=1.0, fulltext_weight=weight, rrf_k=k,
                                        fulltext_bound=item["bound"])
        rankings[qid] = ranked_docs(fused, data["chunk_doc"])
    return ev.score_rankings(data["qrels"], rankings)["nDCG@10"]


def mean(values) -> float:
    values = list(values)
    return sum(values) / len(values) if values else float("nan")


def analyse(cache: dict, tries: dict) -> dict:
    sets = [s for s in SETS if s in cache]
    singles = {s: {"dense": score(cache[s], s, "dense"), "fulltext": score(cache[s], s, "fulltext")} for s in sets}
    results: dict = {"singles": {}, "tries": {}}
    for s in sets:
        results["singles"][s] = {m: ev.summary(list(v.values())) for m, v in singles[s].items()}
    for name, how in tries.items():
        entry: dict = {"how": list(how), "sets": {}}
        for s in sets:
            per_query = score(cache[s], s, how)
            row: dict = {"nDCG@10": ev.summary(list(per_query.values()))}
            for half in ("tune", "report", "all"):
                keep = {q for q in per_query if half == "all" or _half(s, q) == half}
                if not keep:
                    continue
                part = {m: {q: v for q, v in singles[s][m].items() if q in keep} for m in ("dense", "fulltext")}
                best = max(part, key=lambda m: mean(part[m].values()))
                row[half] = {"best_single": best, "mean": round(mean(per_query[q] for q in keep), 4),
                             "vs_best": ev.compare(part[best], {q: per_query[q] for q in keep})}
            entry["sets"][s] = row
        tuned = [r["tune"]["vs_best"]["delta"] for s, r in entry["sets"].items() if "tune" in r and s not in SLICES]
        entry["tune_worst_delta"] = min(tuned) if tuned else None
        entry["tune_mean_delta"] = round(mean(tuned), 4) if tuned else None
        entry["report_fails"] = sorted(s for s, r in entry["sets"].items()
                                       if "report" in r and r["report"]["vs_best"]["ci95"][1] < 0)
        entry["all_fails"] = sorted(s for s, r in entry["sets"].items() if r["all"]["vs_best"]["ci95"][1] < 0)
        results["tries"][name] = entry
    # "+lang" reads the sets' own language labels, which a deployment does not have: a reference only
    ranked = sorted((n for n in results["tries"]
                     if results["tries"][n]["tune_worst_delta"] is not None and not n.endswith("+lang")),
                    key=lambda n: (results["tries"][n]["tune_worst_delta"], results["tries"][n]["tune_mean_delta"]),
                    reverse=True)
    results["chosen_on_tune"] = ranked[:5]
    return results


def fusion_cost(cache: dict) -> dict:
    """Mean time of one ``fuse_lists`` call per method over every cached query (both lists at
    govai_eval's depth), against the measured retrieval time per query (both retrievers and the
    query embedding) of the same sets: fusion's share of a query."""
    pairs = [([tuple(x) for x in item["dense"]], [tuple(x) for x in item["fulltext"]], item["bound"])
             for data in cache.values() for item in data["queries"].values()]
    retrieval = mean(data["seconds_per_query"] for data in cache.values())
    out = {"queries": len(pairs), "retrieval_seconds_per_query": round(retrieval, 4),
           "candidates_per_query": round(mean(len(d) + len(f) for d, f, _ in pairs), 1)}
    for method in retrieve.FUSION_METHODS:
        started = time.perf_counter()
        for dense, fulltext, bound in pairs:
            retrieve.fuse_lists(method, dense, fulltext, dense_weight=1.0, fulltext_weight=0.5, fulltext_bound=bound)
        seconds = (time.perf_counter() - started) / max(1, len(pairs))
        out[method] = {"microseconds": round(seconds * 1e6, 1), "share_of_retrieval": round(seconds / retrieval, 5)}
    return out


def print_table(results: dict, names: list[str]) -> None:
    sets = list(results["singles"])
    print("| try | " + " | ".join(sets) + " |")
    print("|---|" + "---|" * len(sets))
    for name in names:
        cells = []
        for s in sets:
            r = results["tries"][name]["sets"][s]["all"]
            d = r["vs_best"]
            cells.append(f"{r['mean']:.3f} ({d['delta']:+.3f} [{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}])")
        print(f"| {name} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sets", nargs="*", help=f"sets to run (default: every one whose folder exists): {', '.join(SETS)}")
    parser.add_argument("--cache", default=str(DATA / "fusion_candidates.json"))
    parser.add_argument("--from-cache", action="store_true", help="re-score the cached candidate lists only")
    parser.add_argument("--out", default=str(DATA / "fusion_quality.json"))
    parser.add_argument("--smoke", action="store_true", help="12 queries of the HaluEval CI slice, two tries, nothing written")
    args = parser.parse_args()
    tries = {n: TRIES[n] for n in ("rrf", "bounded-w0.3+lang")} if args.smoke else TRIES
    names = ["halueval-ci"] if args.smoke else (args.sets or [s for s in SETS if (SETS[s][0] / "queries.jsonl").is_file()])
    unknown = sorted(set(names) - set(SETS))
    if unknown:
        parser.error(f"unknown set(s) {', '.join(unknown)}; choose from {', '.join(SETS)}")
    cache_path = Path(args.cache)
    signature = embedding_signature()
    cache: dict = {}
    if cache_path.is_file() and not args.smoke:
        stored = json.loads(cache_path.read_text())
        cache = stored["sets"] if stored.get("embedding") == signature else {}
    if not args.from_cache:
        database = scratch_database()
        try:
            for name in names:
                if name in cache and not args.sets:
                    continue
                started = time.perf_counter()
                cache[name] = collect(name, 12 if args.smoke else None)
                print(f"{name}: {len(cache[name]['queries'])} queries, {cache[name]['ingestion']['chunks']} chunks, "
                      f"{time.perf_counter() - started:.0f} s", flush=True)
                if not args.smoke:
                    cache_path.write_text(json.dumps({"embedding": signature, "sets": cache}))
        finally:
            connection.creation.destroy_test_db(database, verbosity=0)
    if any(item["detected"] for data in cache.values() for item in data["queries"].values()):
        tries = {**tries, **{n[: -len("+lang")] + "+detected": (*how[:3], "detected")
                             for n, how in tries.items() if n.endswith("+lang")}}
    results = analyse({n: cache[n] for n in names if n in cache}, tries)
    results.update({"machine": machine(), "date": time.strftime("%Y-%m-%d"), "embedding": signature,
                    "fusion_cost": fusion_cost({n: cache[n] for n in names if n in cache})})
    print("fusion cost per query:", json.dumps(results["fusion_cost"]))
    print_table(results, list(tries))
    print("chosen on the tune halves (worst, then mean difference to the best single):", results["chosen_on_tune"])
    for name in results["chosen_on_tune"][:3]:
        entry = results["tries"][name]
        print(name, "tune worst", entry["tune_worst_delta"], "mean", entry["tune_mean_delta"],
              "report halves below best:", entry["report_fails"] or "none", "whole sets below best:", entry["all_fails"] or "none")
    if not args.smoke:
        Path(args.out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

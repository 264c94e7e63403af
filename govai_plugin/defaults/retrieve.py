"""Built-in hybrid retrieval on PostgreSQL.

Dense: pgvector cosine distance over the HNSW index (iterative index scans, so
filters do not starve the result). Full text: chunks matching any query word over
the GIN index, each in its own language's configuration. They are ranked by Okapi
BM25 (``RETRIEVAL.FULLTEXT_SCORING = "bm25"``, the default), computed in PostgreSQL
over the ``BM25_POOL`` best ``ts_rank_cd`` matches with document frequencies from the
GIN index over the searched collections and document length = distinct lexemes
(averaged over the pool); or by ``ts_rank_cd`` alone. Hybrid: the two candidate lists are
fused by ``RETRIEVAL.FUSION`` (see :func:`fuse_lists`): reciprocal rank fusion
(``Σ weight / (RRF_K + rank)``) or a convex combination of normalised scores; the full-text
list's weight drops to ``LANGUAGE_MISMATCH_WEIGHT`` when the query's language is known and no
searched document is in it (stemmed words cannot match across languages). Fusion only touches
the candidates (``2 × CANDIDATES`` at most), never the corpus.
"""

from __future__ import annotations

import math

from django.db import connection, transaction

from govai_plugin.conf import govai_settings
from govai_plugin.hooks import hookimpl
from govai_plugin.models import Chunk, Document
from govai_plugin.models.knowledge import _quote, _TsQuery, query_lexemes
from govai_plugin.types import SearchHit, SearchQuery

_HIT_FIELDS = (
    "id", "text", "heading_path", "page", "char_start", "char_end",
    "document__uid", "document__title", "document__version", "document__language",
    "document__metadata", "collection__slug",
)


def _filtered(query: SearchQuery):
    chunks = Chunk.objects.filter(collection_id__in=query.collection_ids, quarantine_reason="")
    if query.in_force_on is None:
        chunks = chunks.filter(document__is_current=True)
    else:
        documents = Document.objects.in_force_on(query.in_force_on)
        chunks = chunks.filter(document__in=documents.values("id"))
    if query.languages:
        chunks = chunks.filter(document__language__in=query.languages)
    if query.metadata:
        chunks = chunks.filter(document__metadata__contains=query.metadata)
    return chunks


def dense_ranking(query: SearchQuery, embedding: list[float]) -> list[tuple[int, float]]:
    """``(chunk id, cosine similarity)`` best first."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL hnsw.ef_search = %s", [max(govai_settings.RETRIEVAL["EF_SEARCH"], query.candidates)])
            cursor.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
        rows = list(
            _filtered(query).order_by_cosine(embedding).values_list("id", "distance")[: query.candidates]
        )
    # relaxed_order may return neighbours slightly out of order.
    rows.sort(key=lambda row: row[1])
    return [(chunk_id, 1.0 - float(distance)) for chunk_id, distance in rows]


def searched_configs(query: SearchQuery) -> tuple[list[str], set[str]]:
    """The text search configurations and the languages of the documents the query searches
    (one ``DISTINCT`` over the collections' documents, as before fusion knew about languages)."""
    documents = Document.objects.filter(collection_id__in=query.collection_ids)
    if query.languages:
        documents = documents.filter(language__in=query.languages)
    pairs = set(documents.values_list("ts_config", "language").distinct())
    return sorted({config for config, _ in pairs}), {_primary(language) for _, language in pairs if language}


def fulltext_ranking(query: SearchQuery) -> list[tuple[int, float]]:
    """``(chunk id, score)`` best first: BM25 or ``ts_rank_cd`` (``FULLTEXT_SCORING``)."""
    return fulltext_search(query, searched_configs(query)[0])[0]


def fulltext_search(query: SearchQuery, configs: list[str]) -> tuple[list[tuple[int, float]], float | None]:
    """The full-text ranking and, with BM25, its bound: the score of a passage that holds every
    query word once at average length (``None`` with ``ts_rank_cd``, which has no such scale)."""
    if govai_settings.RETRIEVAL["FULLTEXT_SCORING"] == "bm25":
        return bm25_search(query, configs)
    ranked = _filtered(query).matching_text(query.text, configs)
    return [(chunk_id, float(rank)) for chunk_id, rank in ranked.values_list("id", "rank")[: query.candidates]], None


_BM25_SQL = """
WITH terms AS (
    SELECT c.id, u.lexeme, COALESCE(array_length(u.positions, 1), 1)::float8 AS tf, length(c.search_vector)::float8 AS dl
    FROM govai_plugin_chunk c, unnest(c.search_vector) u
    WHERE c.id = ANY(%(ids)s)
), weights AS (
    SELECT * FROM unnest(%(lexemes)s::text[], %(idf)s::float8[]) AS w(lexeme, idf)
), pool AS (
    SELECT COALESCE(NULLIF(avg(length(search_vector)), 0), 1)::float8 AS avgdl FROM govai_plugin_chunk WHERE id = ANY(%(ids)s)
)
SELECT t.id, SUM(w.idf * t.tf * (%(k1)s + 1) / (t.tf + %(k1)s * (1 - %(b)s + %(b)s * t.dl / pool.avgdl))) AS score
FROM terms t JOIN weights w ON w.lexeme = t.lexeme CROSS JOIN pool
GROUP BY t.id
ORDER BY score DESC, t.id
LIMIT %(limit)s
"""


def bm25_ranking(query: SearchQuery, configs: list[str]) -> list[tuple[int, float]]:
    """``(chunk id, BM25 score)`` best first, over the best ``ts_rank_cd`` matches."""
    return bm25_search(query, configs)[0]


def bm25_search(query: SearchQuery, configs: list[str]) -> tuple[list[tuple[int, float]], float | None]:
    """:func:`bm25_ranking` and its bound: the largest, over the configurations, sum of the
    query's lexemes' idf (a passage with every word once at average length scores that)."""
    cfg = govai_settings.RETRIEVAL
    scope = _filtered(query)
    pool = list(scope.matching_text(query.text, configs).values_list("id", flat=True)[: cfg["BM25_POOL"]])
    if not pool:
        return [], None
    per_config = {config: set(query_lexemes(query.text, config)) for config in configs}
    lexemes = sorted(set().union(*per_config.values()))
    total = scope.count()
    idf = []
    for lexeme in lexemes:
        df = sum(scope.filter(ts_config=config, search_vector=_match_query_lexeme(lexeme, config)).count()
                 for config in configs)
        idf.append(math.log(1 + (total - df + 0.5) / (df + 0.5)))
    weight = dict(zip(lexemes, idf))
    bound = max((sum(weight[lexeme] for lexeme in words) for words in per_config.values()), default=0.0)
    with connection.cursor() as cursor:
        cursor.execute(_BM25_SQL, {"ids": pool, "lexemes": lexemes, "idf": idf, "k1": cfg["BM25_K1"], "b": cfg["BM25_B"],
                                   "limit": query.candidates})
        return [(chunk_id, float(score)) for chunk_id, score in cursor.fetchall()], (bound or None)


def _match_query_lexeme(lexeme: str, config: str) -> _TsQuery:
    return _TsQuery(_quote(lexeme), config=config)


Ranking = list[tuple[int, float]]

#: ``RETRIEVAL.FUSION`` values (docs/search.md#fusion).
FUSION_METHODS = ("rrf", "minmax", "zscore", "bounded")


def fuse(rankings: list[tuple[Ranking, float]], k: int) -> Ranking:
    """Reciprocal rank fusion of several rankings, each with a weight."""
    scores: dict[int, float] = {}
    for ranking, weight in rankings:
        for rank, (chunk_id, _) in enumerate(ranking, start=1):
            scores[chunk_id] = scores.get(chunk_id, 0.0) + weight / (k + rank)
    return _ordered(scores)


def _ordered(scores: dict[int, float]) -> Ranking:
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def minmax(ranking: Ranking) -> tuple[dict[int, float], float]:
    """Scores mapped onto [0, 1] over the list (best 1, worst 0; all equal or one hit: 1), and the
    value a chunk missing from the list gets (0, the worst candidate's)."""
    if not ranking:
        return {}, 0.0
    scores = [score for _, score in ranking]
    low, high = min(scores), max(scores)
    if high - low <= 1e-12 * max(1.0, abs(high)):
        return {chunk_id: 1.0 for chunk_id, _ in ranking}, 0.0
    return {chunk_id: (score - low) / (high - low) for chunk_id, score in ranking}, 0.0


def zscore(ranking: Ranking) -> tuple[dict[int, float], float]:
    """Standard scores over the list (all equal or one hit: 0); a missing chunk gets the lowest."""
    if not ranking:
        return {}, 0.0
    scores = [score for _, score in ranking]
    mean = sum(scores) / len(scores)
    std = math.sqrt(sum((score - mean) ** 2 for score in scores) / len(scores))
    if std <= 1e-12 * max(1.0, abs(mean)):
        return {chunk_id: 0.0 for chunk_id, _ in ranking}, 0.0
    normalised = {chunk_id: (score - mean) / std for chunk_id, score in ranking}
    return normalised, min(normalised.values())


def bounded(ranking: Ranking, bound: float | None) -> tuple[dict[int, float], float]:
    """Scores divided by the query's own bound, capped at 1 (BM25: the share of the query's idf a
    passage matches), so a list that matches only a common word stays low; without a bound, min-max."""
    if not bound or bound <= 0:
        return minmax(ranking)
    return {chunk_id: min(1.0, max(0.0, score / bound)) for chunk_id, score in ranking}, 0.0


def fuse_lists(method: str, dense: Ranking, fulltext: Ranking, *, dense_weight: float, fulltext_weight: float,
               rrf_k: float = 60, fulltext_bound: float | None = None) -> Ranking:
    """Fuse the dense and the full-text candidate lists (each best first) into one ranking.

    - ``rrf``: ``Σ weight / (rrf_k + rank)``; scores are ignored.
    - ``minmax``, ``zscore``: a convex combination ``Σ weight × normalised score`` with both lists
      normalised over their candidates (a chunk missing from a list gets that list's floor).
    - ``bounded``: dense min-max, full text divided by ``fulltext_bound`` (:func:`bounded`).

    A weight of 0 leaves that list out. Cost: linear in the two lists' lengths.
    """
    if method not in FUSION_METHODS:
        raise ValueError(f"Unknown fusion method {method!r}; use one of {', '.join(FUSION_METHODS)}.")
    lists = [(ranking, weight) for ranking, weight in ((dense, dense_weight), (fulltext, fulltext_weight)) if weight > 0]
    if method == "rrf":
        return fuse(lists, rrf_k)
    normalise = {"minmax": (minmax, minmax), "zscore": (zscore, zscore),
                 "bounded": (minmax, lambda r: bounded(r, fulltext_bound))}[method]
    parts = []
    for (ranking, weight), which in zip(((dense, dense_weight), (fulltext, fulltext_weight)), normalise):
        if weight > 0 and ranking:
            parts.append((*which(ranking), weight))
    candidates = {chunk_id for values, _, _ in parts for chunk_id in values}
    return _ordered({chunk_id: sum(weight * values.get(chunk_id, floor) for values, floor, weight in parts)
                     for chunk_id in candidates})


def _primary(language: str) -> str:
    return language.strip().lower().replace("_", "-").split("-")[0]


def fulltext_factor(query: SearchQuery, searched_languages: set[str]) -> float:
    """``RETRIEVAL.LANGUAGE_MISMATCH_WEIGHT`` when the query's language is known (``query.language``,
    from language detection) and none of the searched documents is in it: stemmed full-text
    matching cannot find passages across languages, only shared names. 1 otherwise: when the
    query's language is unknown (``None``), or a searched document's is (``und``)."""
    if not language_mismatch(getattr(query, "language", None), searched_languages):
        return 1.0
    return float(govai_settings.RETRIEVAL["LANGUAGE_MISMATCH_WEIGHT"])


def language_mismatch(language: str | None, searched_languages: set[str]) -> bool:
    """Whether a query in ``language`` cannot match any searched document word for word."""
    if not language or not searched_languages or "und" in searched_languages:
        return False
    return _primary(language) not in searched_languages


def load_hits(ordered: list[tuple[int, float]], dense=None, fulltext=None) -> list[SearchHit]:
    dense_info = {cid: (rank, sim) for rank, (cid, sim) in enumerate(dense or [], start=1)}
    text_info = {cid: (rank, score) for rank, (cid, score) in enumerate(fulltext or [], start=1)}
    rows = {row["id"]: row for row in Chunk.objects.filter(id__in=[cid for cid, _ in ordered]).values(*_HIT_FIELDS)}
    hits = []
    for chunk_id, score in ordered:
        row = rows.get(chunk_id)
        if row is None:  # deleted between ranking and loading
            continue
        d_rank, d_sim = dense_info.get(chunk_id, (None, None))
        f_rank, f_score = text_info.get(chunk_id, (None, None))
        hits.append(
            SearchHit(
                chunk_id=chunk_id,
                document_id=str(row["document__uid"]),
                document_title=row["document__title"],
                document_version=row["document__version"],
                collection=row["collection__slug"],
                heading_path=row["heading_path"],
                page=row["page"],
                char_start=row["char_start"],
                char_end=row["char_end"],
                text=row["text"],
                score=score,
                dense_rank=d_rank,
                fulltext_rank=f_rank,
                dense_similarity=d_sim,
                fulltext_score=f_score,
                language=row["document__language"],
                metadata=row["document__metadata"],
            )
        )
    return hits


@hookimpl(trylast=True)
def govai_retrieve(query: SearchQuery, embedding: list[float] | None) -> list[SearchHit]:
    cfg = govai_settings.RETRIEVAL
    if query.mode == "dense":
        dense = dense_ranking(query, embedding or [])
        return load_hits(dense, dense=dense)
    if query.mode == "fulltext":
        fulltext = fulltext_ranking(query)
        return load_hits(fulltext, fulltext=fulltext)
    dense = dense_ranking(query, embedding or [])
    configs, languages = searched_configs(query)
    fulltext_weight = cfg["FULLTEXT_WEIGHT"] * fulltext_factor(query, languages)
    if fulltext_weight == 0 and cfg["DENSE_WEIGHT"] == 0:  # full text only: the language cannot leave it out
        fulltext_weight = cfg["FULLTEXT_WEIGHT"]
    fulltext, bound = fulltext_search(query, configs) if fulltext_weight > 0 else ([], None)
    fused = fuse_lists(cfg["FUSION"], dense, fulltext, dense_weight=cfg["DENSE_WEIGHT"], fulltext_weight=fulltext_weight,
                       rrf_k=cfg["RRF_K"], fulltext_bound=bound)
    return load_hits(fused[: query.candidates], dense=dense, fulltext=fulltext)

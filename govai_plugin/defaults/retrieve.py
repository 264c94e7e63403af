"""Built-in hybrid retrieval on PostgreSQL.

Dense: pgvector cosine distance over the HNSW index (iterative index scans, so
filters do not starve the result). Full text: chunks matching any query word over
the GIN index, each in its own language's configuration. They are ranked by Okapi
BM25 (``RETRIEVAL.FULLTEXT_SCORING = "bm25"``, the default), computed in PostgreSQL
over the ``BM25_POOL`` best ``ts_rank_cd`` matches with document frequencies from the
GIN index over the searched collections and document length = distinct lexemes
(averaged over the pool); or by ``ts_rank_cd`` alone. Hybrid: reciprocal rank
fusion, ``score = Σ weight / (RRF_K + rank)``.
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


def fulltext_ranking(query: SearchQuery) -> list[tuple[int, float]]:
    """``(chunk id, ts_rank_cd)`` best first."""
    documents = Document.objects.filter(collection_id__in=query.collection_ids)
    if query.languages:
        documents = documents.filter(language__in=query.languages)
    configs = sorted(set(documents.values_list("ts_config", flat=True).distinct()))
    if govai_settings.RETRIEVAL["FULLTEXT_SCORING"] == "bm25":
        return bm25_ranking(query, configs)
    ranked = _filtered(query).matching_text(query.text, configs)
    return [(chunk_id, float(rank)) for chunk_id, rank in ranked.values_list("id", "rank")[: query.candidates]]


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
    cfg = govai_settings.RETRIEVAL
    scope = _filtered(query)
    pool = list(scope.matching_text(query.text, configs).values_list("id", flat=True)[: cfg["BM25_POOL"]])
    if not pool:
        return []
    lexemes = sorted({lexeme for config in configs for lexeme in query_lexemes(query.text, config)})
    total = scope.count()
    idf = []
    for lexeme in lexemes:
        df = sum(scope.filter(ts_config=config, search_vector=_match_query_lexeme(lexeme, config)).count()
                 for config in configs)
        idf.append(math.log(1 + (total - df + 0.5) / (df + 0.5)))
    with connection.cursor() as cursor:
        cursor.execute(_BM25_SQL, {"ids": pool, "lexemes": lexemes, "idf": idf, "k1": cfg["BM25_K1"], "b": cfg["BM25_B"],
                                   "limit": query.candidates})
        return [(chunk_id, float(score)) for chunk_id, score in cursor.fetchall()]


def _match_query_lexeme(lexeme: str, config: str) -> _TsQuery:
    return _TsQuery(_quote(lexeme), config=config)


def fuse(rankings: list[tuple[list[tuple[int, float]], float]], k: int) -> list[tuple[int, float]]:
    """Reciprocal rank fusion of several rankings, each with a weight."""
    scores: dict[int, float] = {}
    for ranking, weight in rankings:
        for rank, (chunk_id, _) in enumerate(ranking, start=1):
            scores[chunk_id] = scores.get(chunk_id, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


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
    fulltext = fulltext_ranking(query)
    fused = fuse([(dense, cfg["DENSE_WEIGHT"]), (fulltext, cfg["FULLTEXT_WEIGHT"])], cfg["RRF_K"])
    return load_hits(fused[: query.candidates], dense=dense, fulltext=fulltext)

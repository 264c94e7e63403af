"""Search: guard the query, embed it, retrieve, rerank, cut to top-k."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from govai_plugin.conf import govai_settings
from govai_plugin.exceptions import InvalidRequest
from govai_plugin.hooks.manager import get_hooks
from govai_plugin.models import ApiClient
from govai_plugin.services.access import resolve_readable
from govai_plugin.services.language import query_language
from govai_plugin.types import SearchHit, SearchQuery

logger = logging.getLogger(__name__)

MODES = ("hybrid", "dense", "fulltext")


@dataclass
class SearchResult:
    query: SearchQuery
    hits: list[SearchHit]
    timings: dict[str, float]


def build_query(
    text: str,
    *,
    client: ApiClient | None = None,
    collections: Iterable[str] | None = None,
    mode: str | None = None,
    top_k: int | None = None,
    languages: Iterable[str] = (),
    metadata: dict[str, Any] | None = None,
    in_force_on: dt.date | None = None,
) -> SearchQuery:
    """Validate a search request and resolve the collections the client may read."""
    cfg = govai_settings.RETRIEVAL
    if not isinstance(text, str) or not text.strip():
        raise InvalidRequest("The query is empty.")
    text = text.strip()
    if len(text) > cfg["MAX_QUERY_CHARS"]:
        raise InvalidRequest(f"The query has {len(text):,} characters; the limit is {cfg['MAX_QUERY_CHARS']:,}.")
    mode = mode or cfg["MODE"]
    if mode not in MODES:
        raise InvalidRequest(f"Unknown search mode {mode!r}; use one of {', '.join(MODES)}.")
    top_k = cfg["TOP_K"] if top_k is None else top_k
    if not isinstance(top_k, int) or isinstance(top_k, bool) or not 1 <= top_k <= cfg["MAX_TOP_K"]:
        raise InvalidRequest(f"top_k must be a whole number from 1 to {cfg['MAX_TOP_K']}.")
    metadata = metadata or {}
    if not isinstance(metadata, dict):
        raise InvalidRequest("metadata filters must be an object of field: value pairs.")
    languages = tuple(dict.fromkeys(str(lang).strip().lower() for lang in languages if str(lang).strip()))
    collections = None if collections is None else [str(c) for c in collections]
    if has_nul([text, languages, metadata, collections]):  # PostgreSQL's text and jsonb cannot hold it
        raise InvalidRequest("The query, collections, languages and metadata filters must not contain the NUL character.")
    allowed = resolve_readable(client, collections)
    language = query_language(text)
    return SearchQuery(
        text=text,
        collection_ids=tuple(c.id for c in allowed),
        mode=mode,  # type: ignore[arg-type]
        top_k=top_k,
        candidates=max(cfg["CANDIDATES"], top_k),
        languages=languages,
        metadata=metadata,
        in_force_on=in_force_on,
        language=language,
    )


def has_nul(value: Any) -> bool:
    """Whether a JSON value has the NUL character in a string, a key or a nested value."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(has_nul(v) for v in value)
    return False


def run_query(query: SearchQuery) -> SearchResult:
    """Run a validated query through the retrieve and rerank hooks."""
    hooks = get_hooks()
    timings: dict[str, float] = {}
    blocking = [f for f in hooks.guard_input(query.text, {"kind": "search"}) if f.block]
    if blocking:
        raise InvalidRequest(f"The query was refused: {blocking[0].message}")
    if not query.collection_ids:
        return SearchResult(query, [], timings)
    embedding = None
    if query.mode != "fulltext":
        started = time.perf_counter()
        embedding = hooks.embed_texts([query.text], "query")[0]
        timings["embed"] = time.perf_counter() - started
    started = time.perf_counter()
    hits = hooks.retrieve(query, embedding)
    timings["retrieve"] = time.perf_counter() - started
    started = time.perf_counter()
    hits = hooks.rerank(query, hits)[: query.top_k]
    timings["rerank"] = time.perf_counter() - started
    logger.info(
        "search_done mode=%s language=%s collections=%s hits=%d retrieve_ms=%.1f",
        query.mode, query.language, len(query.collection_ids), len(hits), timings["retrieve"] * 1000,
    )
    return SearchResult(query, hits, timings)


def search(text: str, **kwargs: Any) -> SearchResult:
    """Validate, authorise and run a search. See :func:`build_query` for the arguments."""
    return run_query(build_query(text, **kwargs))

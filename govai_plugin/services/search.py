"""Search: guard the query, embed it, retrieve, rerank, cut to top-k."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from govai_plugin.conf import govai_settings
from govai_plugin.exceptions import GenerationError, GenerationUnavailable, GovAIError, InvalidRequest
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
    #: RETRIEVAL.TRANSLATE_QUERIES: target language -> the translation searched too.
    translations: dict[str, str] = field(default_factory=dict)
    #: target language -> why it was not searched (the server failed, or it gave nothing usable).
    translation_errors: dict[str, str] = field(default_factory=dict)


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
    result = SearchResult(query, hits, timings)
    if govai_settings.RETRIEVAL["TRANSLATE_QUERIES"]:
        hits = _with_translations(hooks, result)
    started = time.perf_counter()
    hits = hooks.rerank(query, hits)[: query.top_k]
    timings["rerank"] = time.perf_counter() - started
    logger.info(
        "search_done mode=%s language=%s collections=%s hits=%d retrieve_ms=%.1f translations=%d",
        query.mode, query.language, len(query.collection_ids), len(hits), timings["retrieve"] * 1000,
        len(result.translations),
    )
    result.hits = hits
    return result


# -- query translation (RETRIEVAL.TRANSLATE_QUERIES) --------------------------------------


def translation_targets(query: SearchQuery) -> list[str]:
    """The searched documents' languages other than the query's (all of them when its language
    is unknown), the ones with the most current documents first, at most TRANSLATE_MAX_LANGUAGES."""
    from django.db.models import Count

    from govai_plugin.models import Document

    documents = Document.objects.filter(collection_id__in=query.collection_ids, is_current=True)
    if query.languages:
        documents = documents.filter(language__in=query.languages)
    counts = documents.exclude(language__in=["", "und"]).values("language").annotate(n=Count("id")).order_by("-n", "language")
    own = _primary(query.language or "")
    targets = [row["language"] for row in counts if _primary(row["language"]) != own]
    return targets[: govai_settings.RETRIEVAL["TRANSLATE_MAX_LANGUAGES"]]


def _primary(language: str) -> str:
    return language.strip().lower().replace("_", "-").split("-")[0]


def bounded_translation(translation: object, original: str) -> str | None:
    """What a translation may be searched as: one line of text, no control characters, at most
    ``3 × len(original) + 100`` characters (and MAX_QUERY_CHARS); ``None`` when nothing is left or
    it is the original again. Whatever a plugin returns, it is only ever a search string."""
    if not isinstance(translation, str):
        return None
    text = "".join(ch if ch.isprintable() else " " for ch in translation)
    text = " ".join(text.split())
    text = text[: min(3 * len(original) + 100, govai_settings.RETRIEVAL["MAX_QUERY_CHARS"])].strip()
    return text if text and text.casefold() != original.casefold() else None


def _with_translations(hooks, result: SearchResult) -> list[SearchHit]:
    """Translate the query into each target language, search each translation in the same mode
    and fuse every ranking with the original one (reciprocal rank fusion, equal weights). A
    translation that fails is skipped (the rest go on unless the server is unavailable)."""
    from govai_plugin.defaults.retrieve import fuse

    from govai_plugin.pii import Pseudonyms
    from govai_plugin.services.answers import pseudonymise

    query, timings = result.query, result.timings
    rankings = [result.hits]
    # The generation server never sees personal data: a search query is pseudonymised like a question
    # (an ask()'s question already is), and the values are put back into the translation we search with.
    pseudonyms = Pseudonyms()
    outgoing = pseudonymise(hooks, query.text, pseudonyms)
    spent = {"translate": 0.0, "translated_retrieve": 0.0}
    for target in translation_targets(query):
        started = time.perf_counter()
        try:
            translated = bounded_translation(hooks.translate_query(outgoing, query.language, target), outgoing)
        except GovAIError as exc:  # server down or slow, or not configured: search on untranslated
            spent["translate"] += time.perf_counter() - started
            result.translation_errors[target] = str(exc)[:200]
            logger.warning("query_translation_failed target=%s error=%s", target, exc)
            if not isinstance(exc, GenerationError) or isinstance(exc, GenerationUnavailable):
                break
            continue
        spent["translate"] += time.perf_counter() - started
        if translated is None:
            result.translation_errors[target] = "no usable translation"
            continue
        translated = pseudonyms.restore(translated)
        result.translations[target] = translated
        started = time.perf_counter()
        translated_query = replace(query, text=translated, language=target, languages=(target,))
        embedding = hooks.embed_texts([translated], "query")[0] if query.mode != "fulltext" else None
        rankings.append(hooks.retrieve(translated_query, embedding))
        spent["translated_retrieve"] += time.perf_counter() - started
    timings.update(spent)
    if len(rankings) == 1:
        return result.hits
    by_id: dict[int, SearchHit] = {}
    for ranking in rankings:
        for hit in ranking:
            known = by_id.get(hit.chunk_id)
            if known is None:
                by_id[hit.chunk_id] = hit
            elif (hit.dense_similarity or 0.0) > (known.dense_similarity or 0.0):
                # the gate (ANSWERS.MIN_SIMILARITY) reads the closest any wording of the question came
                by_id[hit.chunk_id] = replace(known, dense_similarity=hit.dense_similarity)
    fused = fuse([([(h.chunk_id, h.score) for h in ranking], 1.0) for ranking in rankings],
                 govai_settings.RETRIEVAL["RRF_K"])
    return [replace(by_id[chunk_id], score=score) for chunk_id, score in fused[: query.candidates]]


def search(text: str, **kwargs: Any) -> SearchResult:
    """Validate, authorise and run a search. See :func:`build_query` for the arguments."""
    return run_query(build_query(text, **kwargs))

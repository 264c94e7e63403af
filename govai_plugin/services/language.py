"""The language of documents and queries: given, extracted, or detected (hook ``govai_detect_language``).

A document's language is, in order: the caller's option, the extractor's (HTML ``lang``, front
matter, DOCX properties), else ``INGESTION.DEFAULT_LANGUAGE``; when that is ``"auto"`` (the
default) the detector reads a sample of the text, and a text it cannot tell is ``"und"``
(undetermined, ISO 639-2), never a guessed English. A query's language is detected the same way
and is ``None`` when unsure. The language picks the PostgreSQL text search configuration
(``govai_settings.text_search_config``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from django.contrib.postgres.search import SearchVector
from django.db import transaction
from django.db.models import Value

from govai_plugin.conf import govai_settings
from govai_plugin.hooks.manager import get_hooks
from govai_plugin.models import Chunk, Collection, Document
from govai_plugin.pii import Pseudonyms

logger = logging.getLogger(__name__)

#: Characters of a document the detector reads (its beginning): enough for any language, and
#: bounded so a 5-million-character document costs what a short one does.
DOCUMENT_SAMPLE_CHARS = 20_000
#: The ISO 639-2 code for "undetermined", stored when a document's language cannot be told.
UNDETERMINED = "und"
AUTO = "auto"


def detect(text: str, kind: str) -> tuple[str, float] | None:
    """``(code, confidence)`` of ``text`` (``kind``: ``"document"`` or ``"query"``), or ``None`` when unsure."""
    if not isinstance(text, str):
        return None
    sample = text[: DOCUMENT_SAMPLE_CHARS + 1000].replace("\x00", "")[:DOCUMENT_SAMPLE_CHARS]
    # Placeholders of pseudonymised personal data ("[PERSON_1]") are ASCII in no language: leave them out.
    sample = " ".join(Pseudonyms.PLACEHOLDER.sub(" ", sample).split())
    if not sample:
        return None
    started = time.perf_counter()
    result = get_hooks().detect_language(sample, kind)
    logger.debug("language_detected kind=%s chars=%d language=%s ms=%.1f", kind, len(sample),
                 result[0] if result else None, (time.perf_counter() - started) * 1000)
    return result


def document_language(given: str | None, extracted: str | None, text: str) -> str:
    """The language to store for a document (at most 16 characters, lower case)."""
    for code in (given, extracted):
        if code and code.strip():
            return code.strip().lower()[:16]
    default = str(govai_settings.INGESTION["DEFAULT_LANGUAGE"]).strip().lower()
    if default != AUTO:
        return default[:16] or UNDETERMINED
    found = detect(text, "document")
    return found[0][:16] if found else UNDETERMINED


def query_language(text: str) -> str | None:
    """The detected language of a query, or ``None`` when the detector is unsure (short queries often are)."""
    found = detect(text, "query")
    return found[0] if found else None


@dataclass
class ReindexReport:
    documents: int = 0
    relabelled: int = 0
    reindexed: int = 0
    chunks: int = 0
    changes: dict[str, int] = field(default_factory=dict)


def reindex_text(collection: Collection | None = None, redetect: tuple[str, ...] = ()) -> ReindexReport:
    """Give stored documents the text search configuration their language maps to today.

    For databases indexed before a configuration existed (``"simple"`` before
    ``govai_simple_unaccent``) or after ``INGESTION.LANGUAGES`` changed. Documents whose stored
    language is in ``redetect`` (e.g. ``("en",)``: what the old fixed default labelled every
    document without a language) get their language detected again from their text first
    (``"und"`` when unsure). Each document is rewritten in its own transaction; running it twice
    changes nothing the second time.
    """
    report = ReindexReport()
    documents = Document.objects.all() if collection is None else Document.objects.filter(collection=collection)
    for document in documents.order_by("id").only("id", "language", "ts_config", "title", "text").iterator(chunk_size=200):
        report.documents += 1
        language = document.language
        if language in redetect:
            found = detect(document.text, "document")
            language = found[0][:16] if found else UNDETERMINED
        config = govai_settings.text_search_config(language)
        if language == document.language and config == document.ts_config:
            continue
        with transaction.atomic():
            Document.objects.filter(pk=document.pk).update(language=language, ts_config=config)
            report.chunks += Chunk.objects.filter(document_id=document.pk).update(
                ts_config=config,
                search_vector=SearchVector(Value(document.title), weight="A", config=config)
                + SearchVector("heading_path", weight="A", config=config)
                + SearchVector("text", weight="B", config=config),
            )
        report.relabelled += language != document.language
        report.reindexed += config != document.ts_config
        change = f"{document.language}/{document.ts_config} -> {language}/{config}"
        report.changes[change] = report.changes.get(change, 0) + 1
        logger.info("document_reindexed document=%s change=%s", document.pk, change)
    return report

"""Every hook of the govai pipeline, in the order a request meets them.

Rules for plugin authors:

* ``firstresult`` hooks stop at the first implementation that returns
  something other than ``None``; built-in plugins are ``trylast``, so yours win.
  Return ``None`` to let the next implementation (eventually the default) act.
* Collecting hooks call every implementation and gather the results.
* New arguments are only ever appended; implement only the ones you need.

Each hook is documented in docs/hooks.md and tested in tests/hooks/.
"""

from __future__ import annotations

from typing import Any

from govai_plugin.hooks import hookspec
from govai_plugin.pii import PiiPattern
from govai_plugin.types import (
    AdapterSpec,
    ChunkDraft,
    ExtractedDocument,
    ExtractionResult,
    Generation,
    GenerationParams,
    GuardFinding,
    Judgement,
    OutputFinding,
    Prompt,
    SearchHit,
    SearchQuery,
    SourceFile,
    UseCase,
)

# ---------------------------------------------------------------------------
# Ingestion
# ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def govai_extract_text(source: SourceFile) -> ExtractionResult | None:
    """Turn the raw bytes of a file into text with its structure.

    Fires once per file being ingested, before chunking.

    :param source: the file's name, bytes and lower-case extension.
    :returns: an :class:`ExtractionResult` with one document (or several, for a
        corpus file), or ``None`` if this plugin does not handle the format.
    :raises govai_plugin.exceptions.ExtractionError: the file is corrupt,
        empty, encrypted or too large; the ingest service names the file.
    """


@hookspec(firstresult=True)
def govai_chunk_document(
    document: ExtractedDocument, size: int, overlap: int
) -> list[ChunkDraft] | None:
    """Split an extracted document into passages to embed and cite.

    Fires once per document after extraction.

    :param document: the extracted text and its blocks.
    :param size: the configured maximum chunk size in characters.
    :param overlap: characters to repeat between pieces of a split section.
    :returns: chunks whose ``text`` equals ``document.text[char_start:char_end]``,
        or ``None`` to leave chunking to the next plugin.
    """


@hookspec(firstresult=True)
def govai_embed_texts(texts: list[str], purpose: str) -> list[list[float]] | None:
    """Embed texts as vectors of the configured dimension.

    Fires for each batch of chunks during ingestion (``purpose="document"``)
    and once per dense or hybrid search (``purpose="query"``).

    :param texts: the texts, at most the configured batch size.
    :param purpose: ``"document"`` or ``"query"`` (some models embed them differently).
    :returns: one vector per text, in order, or ``None`` if this plugin is not
        the configured embedding backend.
    :raises govai_plugin.exceptions.EmbeddingError: the model failed.
    :raises govai_plugin.exceptions.EmbeddingServiceUnavailable: a remote
        service is down or slow (retryable).
    """


@hookspec(firstresult=True)
def govai_detect_language(text: str, kind: str) -> tuple[str, float] | None:
    """Tell the language of a document or a query.

    Fires once per ingested document whose language neither the caller nor the
    extractor gave (``kind="document"``; ``text`` is a bounded sample of the
    document, at most 20,000 characters), and once per search or question
    (``kind="query"``).

    :param text: the text, without NUL characters; may be short or have no letters.
    :param kind: ``"document"`` or ``"query"``.
    :returns: ``(code, confidence)``: an ISO 639-1 code (``"et"``) or another
        lower-case BCP 47 tag, and a confidence from 0 to 1; ``("und", 0.0)`` to say
        the language cannot be told (no other plugin is asked); or ``None`` to let
        the next plugin (eventually the default, which returns ``None`` when unsure)
        decide.
    """


# ---------------------------------------------------------------------------
# Retrieval
# ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def govai_translate_query(text: str, source_language: str | None, target_language: str) -> str | None:
    """Translate a query into one language of the searched documents.

    Fires only with ``RETRIEVAL.TRANSLATE_QUERIES`` on, once per search or question and
    target language: each language of the searched collections' documents other than the
    query's own (every one, up to ``RETRIEVAL.TRANSLATE_MAX_LANGUAGES``, when the query's
    language is unknown). The search service searches the translation too and fuses the
    rankings. The translation is used as a search string only: the service cuts it to one
    line of bounded length, and it never reaches an answer's prompt.

    :param text: the query as searched (guarded, pseudonymised for questions).
    :param source_language: the query's detected language, or ``None`` when unsure.
    :param target_language: the language to translate into (a document language code).
    :returns: the translated query, or ``None`` to let the next implementation
        (eventually the default, on the configured generation server) translate.
    :raises govai_plugin.exceptions.GenerationError: the translation failed; the search
        goes on without it (and with no further translation when the server is
        unavailable), recorded in the result's ``translation_errors`` and the log.
    """


@hookspec(firstresult=True)
def govai_retrieve(query: SearchQuery, embedding: list[float] | None) -> list[SearchHit] | None:
    """Find the passages that answer a query.

    Fires once per search or question, after the input guard.

    :param query: the query with already-authorised collection ids, mode,
        filters and depths.
    :param embedding: the query vector for dense and hybrid modes, else ``None``.
    :returns: hits best first, at most ``query.candidates``, or ``None``.
    """


@hookspec(firstresult=True)
def govai_rerank(query: SearchQuery, hits: list[SearchHit]) -> list[SearchHit] | None:
    """Reorder retrieved passages, e.g. with a cross-encoder.

    Fires once per search after :func:`govai_retrieve`.

    :param query: the search query.
    :param hits: the retrieved hits, best first.
    :returns: the hits in a new order (a subset is allowed), or ``None`` to
        keep the retrieval order.
    """


# ---------------------------------------------------------------------------
# Asking
# ---------------------------------------------------------------------------


@hookspec
def govai_guard_input(text: str, context: dict[str, Any]) -> list[GuardFinding] | None:
    """Inspect text before it is used for retrieval or sent to the model.

    Fires for every question and every piece of case context. All
    implementations run; their findings are combined. Findings with a
    ``replacement`` are applied (pseudonymisation); any finding with
    ``block=True`` refuses the input.

    :param text: the text as the caller sent it.
    :param context: what is known about the request (``kind``: ``"question"``
        or ``"context"``; ``names``: person names from the case, if any).
    :returns: findings, or ``None`` / ``[]`` when there is nothing to report.
    """


@hookspec
def govai_register_pii_patterns() -> list[PiiPattern] | None:
    """Declare patterns of personal data to pseudonymise before text reaches the model.

    Fires when a question is asked (question, case context and registry data are
    scanned). All implementations run; their patterns are combined. A pattern is a
    regular expression with an optional validator (check digits) and optional context
    words; overlapping detections keep the highest ``priority``.

    :returns: patterns (:class:`govai_plugin.pii.PiiPattern`).
    """


@hookspec(firstresult=True)
def govai_build_prompt(
    use_case: UseCase, question: str, sources: list[SearchHit], context: dict[str, Any]
) -> Prompt | None:
    """Build the chat messages for the model from a use case and sources.

    Fires once per question, after retrieval.

    :param use_case: the use case's templates and version.
    :param question: the guarded (pseudonymised) question.
    :param sources: the passages to number ``[1]``, ``[2]``, ... in the prompt.
    :param context: guarded case context (``case``: text), may be empty.
    :returns: a :class:`Prompt`, or ``None``.
    """


@hookspec(firstresult=True)
def govai_judge_answerability(
    question: str, sources: list[SearchHit], context: dict[str, Any]
) -> Judgement | None:
    """Estimate the probability that the numbered sources contain the answer to the question.

    Fires once per question inside a Celery worker, before :func:`govai_generate`. The
    answer abstains (reason ``not_answerable``) when the probability is below
    ``ANSWERS.ANSWERABILITY_THRESHOLD`` (calibrated per model by ``manage.py govai_calibrate``).

    :param question: the guarded (pseudonymised) question.
    :param sources: the passages numbered ``[1]``, ``[2]``, ... in the prompt.
    :param context: ``messages``: the chat messages the answer will be generated from (a judge
        may reuse them so the server's prompt cache serves both calls); ``timeout``: seconds.
    :returns: a :class:`Judgement` (with ``p_yes=None`` when it cannot be measured, e.g. the
        server returns no log-probabilities: the step is skipped), or ``None`` to let the next
        implementation judge.
    :raises govai_plugin.exceptions.GenerationUnavailable: the server is down, timed out or
        answered 5xx (retried like generation).
    """


@hookspec(firstresult=True)
def govai_generate(prompt: Prompt, params: GenerationParams) -> Generation | None:
    """Generate the answer text on a text-generation server.

    Fires once per question inside a Celery worker.

    :param prompt: the messages to send.
    :param params: token budget, temperature, timeout and an optional
        ``on_token`` callback for streaming.
    :returns: the generation, or ``None``.
    :raises govai_plugin.exceptions.GenerationUnavailable: the server is down,
        timed out or answered 5xx (retryable).
    :raises govai_plugin.exceptions.GenerationError: the server answered
        with something unusable.
    """


@hookspec
def govai_check_output(
    answer: str, sources: list[SearchHit], context: dict[str, Any]
) -> list[OutputFinding] | None:
    """Check a generated answer against its sources.

    Fires once per answer after generation. All implementations run; checks
    that return ``replacement_text`` are applied in turn, each seeing the
    text the previous one produced.

    :param answer: the generated text (placeholders not yet restored).
    :param sources: the numbered sources the prompt contained.
    :param context: request details: ``use_case``, and ``instructions`` (the system prompt and
        the template's fixed text, which an answer must not repeat).
    :returns: findings, or ``None`` / ``[]``. A finding with ``severity="error"`` withholds
        the answer (status ``abstained``, reason ``output_withheld``); the same checks run on
        the text streamed while it is generated.
    """


# ---------------------------------------------------------------------------
# Registration
# ---------------------------------------------------------------------------


@hookspec
def govai_register_adapters() -> list[AdapterSpec] | None:
    """Declare integrations (X-Road, registries, case systems) a plugin offers.

    Fires when the plugin manager is built and when adapters are listed.

    :returns: adapter specs; names must be unique across plugins.
    """


@hookspec
def govai_register_use_cases() -> list[UseCase] | None:
    """Declare use cases (prompt templates with an output shape).

    Fires when use cases are looked up. A use case whose slug another plugin
    already registered replaces it when the other plugin runs earlier
    (non-default plugins run before the ``trylast`` defaults).

    :returns: use cases.
    """

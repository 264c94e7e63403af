"""Plain data passed between the pipeline steps and their hooks.

Nothing here touches the database or HTTP; plugins receive and return these.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

BLOCK_SEPARATOR = "\n\n"


@dataclass(frozen=True)
class SourceFile:
    """Raw bytes of one file to ingest, with the name it came under."""

    name: str
    content: bytes
    #: Lower-case extension with the dot, e.g. ".pdf".
    extension: str


@dataclass(frozen=True)
class TextBlock:
    """One structural unit of a document: a heading or a paragraph."""

    text: str
    kind: Literal["heading", "paragraph"] = "paragraph"
    #: Heading depth (1 = top). Paragraphs keep 0.
    level: int = 0
    #: 1-based page number where the format has pages (PDF).
    page: int | None = None


@dataclass
class ExtractedDocument:
    """Text and structure an extractor found in one document."""

    title: str
    blocks: list[TextBlock]
    #: Identity of the document inside its source file (a corpus ``_id``);
    #: ``None`` means the file itself is the document.
    key: str | None = None
    language: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    media_type: str = "text/plain"

    @property
    def text(self) -> str:
        """The canonical text: blocks joined by a blank line. Spans index into it."""
        return BLOCK_SEPARATOR.join(b.text for b in self.blocks)

    def block_offsets(self) -> list[tuple[int, int]]:
        """``(start, end)`` of each block inside :attr:`text`."""
        offsets, pos = [], 0
        for block in self.blocks:
            offsets.append((pos, pos + len(block.text)))
            pos += len(block.text) + len(BLOCK_SEPARATOR)
        return offsets


@dataclass
class ExtractionResult:
    """What an extractor returns for one file.

    ``errors`` lists problems with parts of a multi-document file (a corpus
    line that is not valid JSON) as ``(where, message)``; the rest still goes in.
    """

    documents: list[ExtractedDocument]
    errors: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class ChunkDraft:
    """A passage to store: ``text == document.text[char_start:char_end]``."""

    text: str
    heading_path: str
    char_start: int
    char_end: int
    page: int | None = None


SearchMode = Literal["hybrid", "dense", "fulltext"]


@dataclass(frozen=True)
class SearchQuery:
    """A retrieval request after authorisation: collection ids are already allowed."""

    text: str
    collection_ids: tuple[int, ...]
    mode: SearchMode = "hybrid"
    top_k: int = 8
    candidates: int = 50
    languages: tuple[str, ...] = ()
    #: Equality filters on document metadata, e.g. ``{"audience": "citizens"}``.
    metadata: dict[str, Any] = field(default_factory=dict)
    #: Only versions in force on this date; ``None`` means the current versions.
    in_force_on: dt.date | None = None
    #: The query's detected language (ISO 639-1 code), ``None`` when the detector was unsure.
    #: Not a filter: ``languages`` (given by the caller) is.
    language: str | None = None


@dataclass
class SearchHit:
    """One retrieved passage with where it came from and why it ranked."""

    chunk_id: int
    document_id: str
    document_title: str
    document_version: int
    collection: str
    heading_path: str
    page: int | None
    char_start: int
    char_end: int
    text: str
    score: float
    dense_rank: int | None = None
    fulltext_rank: int | None = None
    dense_similarity: float | None = None
    fulltext_score: float | None = None
    language: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GuardFinding:
    """Something a guard found in input text.

    A finding with ``replacement`` asks the service to replace
    ``text[start:end]`` with it (pseudonymisation); ``block=True`` refuses the
    input altogether with ``message`` as the reason.
    """

    kind: str
    message: str
    start: int = 0
    end: int = 0
    replacement: str | None = None
    block: bool = False


@dataclass(frozen=True)
class OutputFinding:
    """Something an output check found in a generated answer."""

    kind: str
    message: str
    severity: Literal["info", "warning", "error"] = "warning"
    #: Optional corrected answer text (e.g. a bad citation marker removed).
    replacement_text: str | None = None


@dataclass(frozen=True)
class UseCase:
    """A task the assistant does, with its own prompt and output shape."""

    slug: str
    title: str
    system_prompt: str
    #: ``str.format`` template with ``{question}``, ``{sources}`` and ``{context}``.
    user_template: str
    version: str
    description: str = ""


@dataclass
class Prompt:
    """Chat messages ready for an OpenAI-compatible server."""

    messages: list[dict[str, str]]
    use_case: str
    template_version: str
    #: The numbered sources, in the order ``[1]``, ``[2]``, ... refer to.
    sources: list[SearchHit] = field(default_factory=list)


@dataclass(frozen=True)
class GenerationParams:
    max_tokens: int = 512
    temperature: float = 0.1
    timeout: float = 120.0
    #: Called with each text fragment as it arrives when streaming.
    on_token: Callable[[str], None] | None = None


@dataclass
class Generation:
    text: str
    model: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None
    time_to_first_token: float | None = None


@dataclass(frozen=True)
class Judgement:
    """Whether the sources can answer the question, as a probability (answerability step).

    ``p_yes`` is ``None`` when the judge could not measure it (e.g. the server returns no
    token log-probabilities): the step is then skipped and the answer goes on.
    """

    p_yes: float | None
    #: The model that judged, as the server named it in the request (calibrations are keyed by it).
    model: str
    #: Why no probability was measured, or how it was (e.g. "no logprobs in the server's reply").
    detail: str = ""


@dataclass(frozen=True)
class AdapterSpec:
    """An integration an adapter plugin offers (X-Road, registry, case system)."""

    name: str
    kind: str
    description: str
    factory: Callable[..., Any] | None = None

"""Is each sentence of an answer supported by the passages it cites?

For every sentence of at least ``MIN_WORDS`` words:

* **cited**: it carries at least one ``[n]`` marker (markers right after its full stop count);
* **numbers**: every number in it (amounts, days, percentages, article numbers) appears in a
  cited passage. A number no cited passage has is the costliest mistake a draft about fees
  and deadlines can make, so it makes the sentence unsupported whatever else matches;
* **lexical**: the share of its content words (four letters or more, or numbers) found in the
  cited passages, matched on their first five letters so inflected forms count;
* **semantic**: the highest cosine similarity between its embedding and the embeddings of the
  cited passages' sentences (the same model as retrieval; a whole passage's embedding dilutes
  the one sentence that supports it).

A sentence is supported when it is cited, its numbers are in the sources, and its lexical
overlap reaches ``ANSWERS.SUPPORT_LEXICAL`` or its semantic similarity reaches
``ANSWERS.SUPPORT_SEMANTIC`` (per embedding model: services/calibration.py). Unsupported sentences become warnings on the answer; the
share of supported sentences is the answer's support rate (see docs/answers.md).
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from govai_plugin.conf import govai_settings
from govai_plugin.exceptions import GovAIError
from govai_plugin.hooks.manager import get_hooks
from govai_plugin.pii import Pseudonyms
from govai_plugin.services import calibration

logger = logging.getLogger(__name__)

CITATION = re.compile(r"\[(\d{1,3})\]")
# Split after . ! ? followed by space, unless a citation marker follows (it belongs to the sentence before),
# and at line breaks.
_SPLIT = re.compile(r"(?<=[.!?])\s+(?!\[\d)|\n+")
_WORD = re.compile(r"\w+", re.UNICODE)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
MIN_WORDS = 4


@dataclass
class SentenceSupport:
    index: int
    text: str
    cited: list[int]
    lexical: float
    semantic: float | None
    missing_numbers: list[str] = field(default_factory=list)
    supported: bool = False
    reason: str = ""


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SPLIT.split(text or "") if s and s.strip()]


def _content_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if len(w) >= 4 or w.isdigit()]


def _numbers(text: str) -> set[str]:
    return {n.replace(",", ".").rstrip(".") for n in _NUMBER.findall(text)}


def _cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    na, nb = math.sqrt(sum(x * x for x in a)), math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0


def check(answer: str, sources: list[dict[str, Any]]) -> dict[str, Any]:
    """Support of each sentence of ``answer`` (placeholders not restored) in ``sources``
    (the job's numbered sources). Returns ``{"sentences": [...], "checked": n, "supported": k,
    "rate": k/n or None, "semantic": bool}``."""
    cfg = govai_settings.ANSWERS
    lexical_min = cfg["SUPPORT_LEXICAL"]
    semantic_min = calibration.threshold_or_none("SUPPORT_SEMANTIC")  # None: lexical only (govai.E128)
    by_number = {s["number"]: s for s in sources}
    results: list[SentenceSupport] = []
    for index, sentence in enumerate(sentences(answer)):
        bare = Pseudonyms.PLACEHOLDER.sub(" ", CITATION.sub(" ", sentence))
        words = _content_words(bare)
        if len(_WORD.findall(bare)) < MIN_WORDS:
            continue
        cited = sorted({int(n) for n in CITATION.findall(sentence) if int(n) in by_number})
        passages = " ".join(by_number[n]["text"] for n in cited).lower()
        stems = {w[:5] for w in _content_words(passages)}
        lexical = sum(1 for w in words if w[:5] in stems) / len(words) if words else 0.0
        missing = sorted(_numbers(bare) - _numbers(passages)) if cited else []
        results.append(SentenceSupport(index=index, text=sentence, cited=cited, lexical=round(lexical, 3),
                                       semantic=None, missing_numbers=missing))
    semantic = False
    if semantic_min is not None and any(r.cited for r in results):
        semantic = _add_semantic(results, by_number)
    for r in results:
        if not r.cited:
            r.reason = "cites no source"
        elif r.missing_numbers:
            r.reason = f"number(s) {', '.join(r.missing_numbers)} in no cited source"
        elif r.lexical >= lexical_min or (r.semantic is not None and semantic_min is not None and r.semantic >= semantic_min):
            r.supported = True
        else:
            r.reason = (f"little overlap with the cited source(s): lexical {r.lexical:.2f}"
                        + (f", semantic {r.semantic:.2f}" if r.semantic is not None else ""))
    supported = sum(1 for r in results if r.supported)
    return {"sentences": [asdict(r) for r in results], "checked": len(results), "supported": supported,
            "rate": round(supported / len(results), 3) if results else None, "semantic": semantic}


def _add_semantic(results: list[SentenceSupport], by_number: dict[int, dict[str, Any]]) -> bool:
    """Fill in ``semantic`` (best match among the cited passages' sentences); False when
    embeddings are unavailable (the check is then lexical only, and logged)."""
    todo = [r for r in results if r.cited]
    cited = sorted({n for r in todo for n in r.cited})
    passage_sentences = {n: [p for p in sentences(by_number[n]["text"]) if len(_WORD.findall(p)) >= MIN_WORDS]
                         or [by_number[n]["text"]] for n in cited}
    texts = [Pseudonyms.PLACEHOLDER.sub(" ", CITATION.sub(" ", r.text)) for r in todo]
    texts += [p for n in cited for p in passage_sentences[n]]
    batch = govai_settings.EMBEDDINGS["BATCH_SIZE"]
    try:
        # Sentence against sentence is a symmetric comparison: both sides as "query" (E5's advice; on the
        # UDHR pairs of benchmarks/support_threshold.py it separates supported from unsupported better).
        vectors = [v for i in range(0, len(texts), batch) for v in get_hooks().embed_texts(texts[i : i + batch], "query")]
    except GovAIError as exc:
        logger.warning("support_check_lexical_only error=%s", exc)
        return False
    position = len(todo)
    by_passage: dict[int, list[list[float]]] = {}
    for n in cited:
        by_passage[n] = vectors[position : position + len(passage_sentences[n])]
        position += len(passage_sentences[n])
    for r, vector in zip(todo, vectors):
        r.semantic = round(max(_cosine(vector, v) for n in r.cited for v in by_passage[n]), 3)
    return True

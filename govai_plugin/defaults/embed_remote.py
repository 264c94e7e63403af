"""Built-in remote embeddings: a TEI or any OpenAI-compatible ``/v1/embeddings`` endpoint.

Active when ``GOVAI["EMBEDDINGS"]["BACKEND"] == "openai"``. Text Embeddings
Inference, vLLM, llama.cpp's server (``--embeddings``) and hosted services
all speak this API.
"""

from __future__ import annotations

import math

import requests

from govai_plugin.conf import govai_settings
from govai_plugin.exceptions import EmbeddingError, EmbeddingServiceUnavailable
from govai_plugin.hooks import hookimpl


def embeddings_url(base: str) -> str:
    base = base.rstrip("/")
    if base.endswith("/embeddings"):
        return base
    return f"{base}/embeddings" if base.endswith("/v1") else f"{base}/v1/embeddings"


def encode(texts: list[str], purpose: str) -> list[list[float]]:
    cfg = govai_settings.EMBEDDINGS
    prefix = cfg["QUERY_PREFIX"] if purpose == "query" else cfg["DOCUMENT_PREFIX"]
    headers = {"Authorization": f"Bearer {cfg['API_KEY']}"} if cfg["API_KEY"] else {}
    payload = {"input": [prefix + t for t in texts], "model": cfg["MODEL"]}
    url = embeddings_url(cfg["URL"])
    try:
        response = requests.post(url, json=payload, headers=headers, timeout=cfg["TIMEOUT"])
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise EmbeddingServiceUnavailable(f"The embeddings service at {url} is unreachable: {exc}") from exc
    if response.status_code >= 500 or response.status_code == 429:
        raise EmbeddingServiceUnavailable(f"The embeddings service answered HTTP {response.status_code}")
    if response.status_code != 200:
        raise EmbeddingError(f"The embeddings service refused the request: HTTP {response.status_code} {response.text[:200]}")
    try:
        data = sorted(response.json()["data"], key=lambda item: item["index"])
        vectors = [[float(x) for x in item["embedding"]] for item in data]
    except (ValueError, KeyError, TypeError) as exc:
        raise EmbeddingError("The embeddings service answered with something that is not an embeddings list") from exc
    if len(vectors) != len(texts):
        raise EmbeddingError(f"The embeddings service returned {len(vectors)} vectors for {len(texts)} texts")
    for vector in vectors:
        if len(vector) != cfg["DIMENSIONS"]:
            raise EmbeddingError(
                f"The embeddings service returned {len(vector)}-dimensional vectors; "
                f"GOVAI['EMBEDDINGS']['DIMENSIONS'] is {cfg['DIMENSIONS']}"
            )
        if not all(math.isfinite(x) for x in vector):
            raise EmbeddingError("The embeddings service returned a vector with NaN or infinite values")
    return vectors


@hookimpl(trylast=True)
def govai_embed_texts(texts: list[str], purpose: str) -> list[list[float]] | None:
    if govai_settings.EMBEDDINGS["BACKEND"] != "openai":
        return None
    return encode(texts, purpose)

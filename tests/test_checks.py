"""Wrong settings fail at start-up with an id and a hint."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from govai_plugin.checks import (
    check_chunking,
    check_database,
    check_embeddings,
    check_ingestion,
    check_retrieval,
    check_settings_shape,
)


def ids(errors):
    return sorted(e.id for e in errors)


def test_defaults_pass():
    assert not (check_settings_shape() + check_embeddings() + check_chunking() + check_retrieval() + check_ingestion())


@pytest.mark.parametrize(
    "govai, check, expected",
    [
        ("not a dict", check_settings_shape, ["govai.E001"]),
        ({"EMBEDINGS": {}}, check_settings_shape, ["govai.E002"]),
        ({"EMBEDDINGS": {"MODLE": "x"}}, check_settings_shape, ["govai.E004"]),
        ({"EMBEDDINGS": {"DIMENSIONS": "384"}}, check_settings_shape, ["govai.E003"]),
        ({"RETRIEVAL": []}, check_settings_shape, ["govai.E003"]),
        ({"EMBEDDINGS": {"BACKEND": "magic"}}, check_embeddings, ["govai.E010"]),
        ({"EMBEDDINGS": {"DIMENSIONS": 0}}, check_embeddings, ["govai.E011"]),
        ({"EMBEDDINGS": {"BATCH_SIZE": 0}}, check_embeddings, ["govai.E012"]),
        ({"EMBEDDINGS": {"BACKEND": "openai", "URL": "tei:8080"}}, check_embeddings, ["govai.E013"]),
        ({"EMBEDDINGS": {"BACKEND": "sentence-transformers", "MODEL": "no_such_model_package"}}, check_embeddings, ["govai.E014"]),
        ({"CHUNKING": {"SIZE": 50, "OVERLAP": 10}}, check_chunking, ["govai.E020"]),
        ({"CHUNKING": {"OVERLAP": 600}}, check_chunking, ["govai.E021"]),
        ({"RETRIEVAL": {"MODE": "semantic"}}, check_retrieval, ["govai.E030"]),
        ({"RETRIEVAL": {"TOP_K": 500}}, check_retrieval, ["govai.E031", "govai.E033"]),
        ({"RETRIEVAL": {"CANDIDATES": 2}}, check_retrieval, ["govai.E033"]),
        ({"RETRIEVAL": {"RRF_K": 0}}, check_retrieval, ["govai.E034"]),
        ({"RETRIEVAL": {"DENSE_WEIGHT": 0.0, "FULLTEXT_WEIGHT": 0.0}}, check_retrieval, ["govai.E035"]),
        ({"RETRIEVAL": {"FULLTEXT_SCORING": "tfidf"}}, check_retrieval, ["govai.E038"]),
        ({"RETRIEVAL": {"BM25_B": 1.5}}, check_retrieval, ["govai.E039"]),
        ({"INGESTION": {"LANGUAGES": {"et": "estonian"}}}, check_ingestion, ["govai.E042"]),
        ({"INGESTION": {"LEGACY_ENCODING": "klingon"}}, check_ingestion, ["govai.E045"]),
        ({"INGESTION": {"ASYNC_ABOVE_BYTES": 0}}, check_ingestion, ["govai.E047"]),
        ({"INGESTION": {"MAX_UNPACKED_BYTES": 0}}, check_ingestion, ["govai.E047"]),
        ({"INGESTION": {"MAX_COMPRESSION_RATIO": -5}}, check_ingestion, ["govai.E047"]),
        ({"INGESTION": {"MAX_XML_NODES": 0}}, check_ingestion, ["govai.E047"]),
        ({"INGESTION": {"SYNC_MAX_PASSAGES": 0}}, check_ingestion, ["govai.E047"]),
    ],
)
def test_each_misconfiguration_has_its_own_id_and_hint(settings, govai, check, expected):
    settings.GOVAI = govai
    errors = check()
    assert ids(errors) == expected
    assert all(e.hint for e in errors)


def test_unknown_key_suggests_the_right_name(settings):
    settings.GOVAI = {"RETRIEVEL": {}}
    assert "Did you mean 'RETRIEVAL'?" in check_settings_shape()[0].hint


def test_a_wrong_setting_stops_management_commands(settings):
    settings.GOVAI = {"RETRIEVAL": {"MODE": "semantic"}}
    with pytest.raises(SystemCheckError, match="govai.E030"):
        call_command("check")


@pytest.mark.django_db
def test_database_check_sees_pgvector_and_matching_dimensions(settings):
    assert check_database(databases=["default"]) == []
    settings.GOVAI = {"EMBEDDINGS": {"DIMENSIONS": 768}}
    assert ids(check_database(databases=["default"])) == ["govai.E063"]


@pytest.mark.parametrize(
    ("govai", "expected"),
    [
        ({"CASES": {"WRITEBACK_ATTEMPTS": 0}}, ["govai.E090"]),
        ({"CASES": {"SYSTEMS": {"cs": "not a dict"}}}, ["govai.E091"]),
        ({"CASES": {"SYSTEMS": {"bad name": {"ADAPTER": "case-webhook", "SECRET": "s" * 20, "CASE_URL": "http://x/{case_id}",
                                             "SUGGESTION_URL": "http://x/{case_id}/s"}}}}, ["govai.E092"]),
        ({"CASES": {"SYSTEMS": {"cs": {"ADAPTER": "case-webhook", "SECRET": "short", "CASE_URL": "http://x/{case_id}",
                                       "SUGGESTION_URL": "http://x/{case_id}/s"}}}}, ["govai.E093"]),
        ({"CASES": {"SYSTEMS": {"cs": {"ADAPTER": "case-webhook", "SECRET": "s" * 20}}}}, ["govai.E094"]),
        ({"CASES": {"SYSTEMS": {"cs": {"ADAPTER": "fax", "SECRET": "s" * 20}}}}, ["govai.E094"]),
        ({"CASES": {"SYSTEMS": {"cs": {"ADAPTER": "case-webhook", "SECRET": "s" * 20, "CASE_URL": "http://x/{case_id}",
                                       "SUGGESTION_URL": "http://x/{case_id}/s", "REGISTRIES": ["population"]}}}}, ["govai.E095"]),
        ({"CASES": {"SYSTEMS": {"cs": {"ADAPTER": "case-webhook", "SECRET": "s" * 20, "CASE_URL": "http://x/{case_id}",
                                       "SUGGESTION_URL": "http://x/{case_id}/s", "USE_CASE": "poetry"}}}}, ["govai.E096"]),
        ({"REGISTRIES": {"population": {"WSDL": "x.wsdl", "OPERATION": "getPerson", "INPUT": {"a": "b"}}}}, ["govai.E097"]),
        ({"CASES": {"SYSTEMS": {"cs": {"ADAPTER": "case-webhook", "SECRET": "s" * 20, "CASE_URL": "http://x/{case_id}",
                                       "SUGGESTION_URL": "http://x/{case_id}/s", "REVIEWERS": "caseapp"}}}}, ["govai.E098"]),
        ({"CASES": {"SYSTEMS": {"cs": {"ADAPTER": "case-webhook", "SECRET": "s" * 20, "CASE_URL": "http://x/{case_id}",
                                       "SUGGESTION_URL": "http://x/{case_id}/s", "REVIEWERS": ["caseapp"],
                                       "WIDGET_CLIENT": "portal"}}}}, ["govai.E098"]),
    ],
)
def test_case_and_registry_misconfigurations(settings, govai, expected):
    from govai_plugin.checks import check_cases

    settings.GOVAI = govai
    errors = [e for e in check_cases() if e.id != "govai.W099"]  # no REVIEWERS: see the next test
    assert sorted(e.id for e in errors) == expected and all(e.hint for e in errors)


def test_a_case_system_nobody_may_review_is_warned_about(settings):
    from govai_plugin.checks import check_cases

    system = {"ADAPTER": "case-webhook", "SECRET": "s" * 20, "CASE_URL": "http://x/{case_id}", "SUGGESTION_URL": "http://x/{case_id}/s"}
    settings.GOVAI = {"CASES": {"SYSTEMS": {"cs": system}}}
    assert [e.id for e in check_cases()] == ["govai.W099"]
    settings.GOVAI = {"CASES": {"SYSTEMS": {"cs": {**system, "REVIEWERS": ["caseapp"]}}}}
    assert check_cases() == []

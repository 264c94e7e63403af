"""The evaluation harness: metrics checked against hand-computed values, the command end to end
on a tiny BEIR folder (real ingestion, retrieval and a real worker-free generation step against
the OpenAI-compatible stand-in), and clear errors for malformed datasets."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from govai_plugin.services import evaluation as ev
from tests.test_answers import llm  # noqa: F401  (fixture)

CORPUS = [
    {"_id": "tax", "title": "Vehicle tax", "text": "Vehicle tax is paid every year by the registered keeper of a car or motorcycle."},
    {"_id": "dog", "title": "Dog licence", "text": "A dog licence costs 20 euros a year and is issued by the municipality."},
    {"_id": "well", "title": "Drilling a well", "text": "A permit from the environmental board is needed before drilling a water well."},
    {"_id": "boat", "title": "Boat registration", "text": "Motor boats longer than 2.5 metres must be entered in the ship register."},
]
QUERIES = [
    {"_id": "q1", "text": "How much does a dog licence cost?", "answers": ["20 euros"]},
    {"_id": "q2", "text": "Who pays the vehicle tax for a car?", "answers": ["the registered keeper"]},
    {"_id": "q3", "text": "Which boats must be registered in the ship register?", "answers": ["motor boats longer than 2.5 metres"]},
    {"_id": "q4", "text": "What is the airspeed velocity of an unladen swallow?", "answerable": False},
]
QRELS = [("q1", "dog"), ("q2", "tax"), ("q3", "boat")]


def write_dataset(folder: Path, corpus=CORPUS, queries=QUERIES, qrels=QRELS) -> Path:
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps(c) + "\n" for c in corpus))
    (folder / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t1\n" for q, d in qrels))
    return folder


def test_retrieval_metrics_match_hand_computed_values():
    qrels = {"a": {"d1": 1}, "b": {"d2": 1}, "c": {"d3": 1, "d4": 1}, "d": {"d5": 1}, "e": {"d6": 0}}
    rankings = {"a": ["d1", "x", "y"], "b": ["x", "d2"], "c": ["d4", "x", "d3"], "d": ["x", "y"]}
    got = ev.score_rankings(qrels, rankings)
    # a: relevant at rank 1. b: at rank 2 -> DCG 1/log2(3). c: ranks 1 and 3 -> (1 + 1/log2(4)) / (1 + 1/log2(3)).
    # d: its relevant passage is not retrieved -> 0. e has no relevant passage: not a judged query.
    ndcg_c = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    assert got["nDCG@10"] == pytest.approx({"a": 1.0, "b": 1 / math.log2(3), "c": ndcg_c, "d": 0.0})
    assert got["MRR@10"] == pytest.approx({"a": 1.0, "b": 0.5, "c": 1.0, "d": 0.0})
    assert got["R@1"] == pytest.approx({"a": 1.0, "b": 0.0, "c": 0.5, "d": 0.0})
    assert got["R@5"] == pytest.approx({"a": 1.0, "b": 1.0, "c": 1.0, "d": 0.0})
    # a judged query with no ranking at all scores 0 rather than disappearing from the mean
    assert ev.score_rankings({"z": {"d1": 1}}, {})["R@100"] == {"z": 0.0}


def test_answer_metrics_match_hand_computed_values():
    assert ev.exact_match("The 20 euros [1].", ["20 euros"]) == 1.0
    assert ev.exact_match("It costs 20 euros [1].", ["20 euros"]) == 0.0
    assert ev.contains_answer("It costs 20 euros [1].", ["20 euros"]) == 1.0
    assert ev.contains_answer("It costs 120 euros.", ["20 euros"]) == 0.0
    # prediction "it costs 20 euros": 2 of 4 tokens shared with a 2-token answer -> P 0.5, R 1, F1 2/3
    assert ev.token_f1("It costs 20 euros [1].", ["20 euros", "nothing"]) == pytest.approx(2 / 3, abs=1e-3)
    assert ev.token_f1("", ["x"]) == 0.0


def test_bootstrap_intervals_and_paired_comparison():
    low, high = ev.bootstrap_ci([0.0, 1.0] * 50)
    assert low < 0.5 < high and high - low < 0.25
    assert ev.bootstrap_ci([0.7] * 10) == pytest.approx((0.7, 0.7))
    a = {f"q{i}": 0.5 for i in range(100)}
    better = {f"q{i}": 0.5 + (0.2 if i % 2 else 0.0) for i in range(100)}
    assert ev.compare(a, better)["significant"] and ev.compare(a, better)["delta"] == pytest.approx(0.1)
    noisy = {f"q{i}": 0.5 + (0.3 if i % 2 else -0.3) for i in range(100)}
    assert not ev.compare(a, noisy)["significant"]


@pytest.mark.django_db(transaction=True)
def test_the_command_scores_a_tiny_dataset_end_to_end(tmp_path, llm, capsys):  # noqa: F811
    folder = write_dataset(tmp_path / "tiny")
    llm.responder = lambda body: ("20 euros [1]." if "dog licence" in body["messages"][-1]["content"].split("Question:")[-1]
                                  else "The registered keeper pays it [1][2].")
    out = tmp_path / "report.json"
    call_command("govai_eval", str(folder), "--generate", "--out", str(out), "--no-progress")
    report = json.loads(out.read_text())
    assert report["ingestion"]["failed"] == 0 and report["ingestion"]["stored"] == 4 and report["collection"] == "eval-tiny"
    for mode in ("fulltext", "dense", "hybrid"):
        r = report["retrieval"][mode]
        assert r["nDCG@10"]["mean"] == 1.0 and r["R@1"]["mean"] == 1.0 and r["judged_queries"] == 3, (mode, r)
    hybrid = report["retrieval"]["hybrid"]["abstention"]
    assert hybrid["accuracy_unanswerable"]["mean"] == 1.0 and hybrid["false_abstention_answerable"]["mean"] == 0.0
    gen = report["generation"]
    assert gen["failed"] == 0 and gen["abstention"]["accuracy_unanswerable"]["mean"] == 1.0
    # q1 "20 euros [1]." is exact; q2 and q3 get "The registered keeper pays it [1][2]."
    assert gen["exact_match"]["mean"] == pytest.approx(1 / 3, abs=1e-3)
    assert gen["contains_answer"]["mean"] == pytest.approx(2 / 3, abs=1e-3)
    # q2 cites its own passage and one other (precision 1/2), q3 cites two others unless its own is first
    assert 0 < gen["citation_precision"]["mean"] < 1 and gen["citation_recall"]["n"] == 3
    assert out.with_suffix(".md").read_text().startswith("Dataset")
    assert "| hybrid | 1.000" in capsys.readouterr().out
    # a second run reuses the scratch collection: nothing is ingested again
    call_command("govai_eval", str(folder), "--mode", "dense", "--limit", "2", "--out", str(out), "--no-progress")
    again = json.loads(out.read_text())
    assert again["ingestion"]["unchanged"] == 4 and list(again["retrieval"]) == ["dense"] and again["queries"] == 2


@pytest.mark.django_db(transaction=True)
def test_per_language_metrics_on_a_tiny_multilingual_folder(tmp_path, capsys):
    # en: three questions in the passages' words and one ("pooch permit price") that shares only
    # "permit" with the well passage; de: two questions sharing no word with the English passages;
    # one query without a language (left out of the per-language table) and one unanswerable.
    queries = [{**q, "language": "en"} for q in QUERIES] + [
        {"_id": "q5", "text": "Pooch permit price?", "language": "en"},
        {"_id": "d1", "text": "Wer zahlt die Kfz-Steuer?", "language": "de"},
        {"_id": "d2", "text": "Welche Boote kommen ins Schiffsregister?", "language": "de"},
        {"_id": "x1", "text": "How much does a dog licence cost?"},
    ]
    qrels = QRELS + [("q5", "dog"), ("d1", "tax"), ("d2", "boat"), ("x1", "dog")]
    folder = write_dataset(tmp_path / "tiny-languages", queries=queries, qrels=qrels)
    call_command("govai_eval", str(folder), "--mode", "fulltext", "--mode", "dense", "--out", str(tmp_path / "r.json"),
                 "--no-progress")
    report = json.loads((tmp_path / "r.json").read_text())
    fulltext = report["retrieval"]["fulltext"]["per_language"]
    assert list(fulltext) == ["de", "en"]
    # the retrieval gate per language: full text finds nothing for q4 (unanswerable: stopped, right)
    # nor for the German questions (answerable: stopped, wrongly); the other English ones get hits
    gate = {lang: r.pop("abstention") for lang, r in fulltext.items()}
    assert gate["en"]["accuracy_unanswerable"]["mean"] == 1.0 and gate["en"]["false_abstention_answerable"]["mean"] == 0.0
    assert gate["en"]["balanced_accuracy"] == 1.0
    assert gate["de"]["accuracy_unanswerable"] is None and gate["de"]["false_abstention_answerable"] == {
        "mean": 1.0, "ci95": [1.0, 1.0], "n": 2}
    # full text, en: q1-q3 find their passage first (1.0), q5 finds only the well passage (0.0):
    # mean 3/4; resampled means of four 0/1 values are 0, 1/4, ... 1, and P(mean <= 0) = (1/4)^4 is
    # below 2.5% while P(mean <= 1/4) = 0.004 + 4 (1/4)^3 (3/4) = 0.051 is above it: interval [0.25, 1]
    assert fulltext["en"] == {"queries": 5, "nDCG@10": {"mean": 0.75, "ci95": [0.25, 1.0], "n": 4},
                              "R@10": {"mean": 0.75, "ci95": [0.25, 1.0], "n": 4}}
    # de: nothing found by full text
    assert fulltext["de"] == {"queries": 2, "nDCG@10": {"mean": 0.0, "ci95": [0.0, 0.0], "n": 2},
                              "R@10": {"mean": 0.0, "ci95": [0.0, 0.0], "n": 2}}
    # dense ranks all four passages for every query, so each relevant one is within the top 10
    dense = report["retrieval"]["dense"]["per_language"]
    assert {lang: (r["queries"], r["R@10"]) for lang, r in dense.items()} == {
        "de": (2, {"mean": 1.0, "ci95": [1.0, 1.0], "n": 2}), "en": (5, {"mean": 1.0, "ci95": [1.0, 1.0], "n": 4})}
    table = (tmp_path / "r.md").read_text()
    assert "| language | queries | fulltext nDCG@10 | fulltext R@10 | dense nDCG@10 | dense R@10 |" in table
    assert "| en | 5 | 0.750 [0.250, 1.000] | 0.750 [0.250, 1.000] |" in table
    assert "| de | 2 | 0.000 [0.000, 0.000] | 0.000 [0.000, 0.000] |" in table


@pytest.mark.django_db
@pytest.mark.parametrize("damage, message", [
    (lambda f: (f / "qrels" / "test.tsv").unlink(), "test.tsv is missing"),
    (lambda f: (f / "queries.jsonl").write_text('{"_id": "q1", "text": "a"}\n{not json\n'), "queries.jsonl line 2: not JSON"),
    (lambda f: (f / "queries.jsonl").write_text('{"_id": "q1", "text": "a"}\n{"_id": "q1", "text": "b"}\n'), "duplicate _id"),
    (lambda f: (f / "queries.jsonl").write_text('{"_id": "q1", "text": ""}\n'), "needs '_id' and 'text'"),
    (lambda f: (f / "queries.jsonl").write_text('{"_id": "q1", "text": "a", "answers": "x"}\n'), "'answers' must be a list"),
    (lambda f: (f / "queries.jsonl").write_text('{"_id": "q1", "text": "a", "language": 7}\n'), "'language' must be a non-empty"),
    (lambda f: (f / "queries.jsonl").write_text(""), "has no queries"),
    (lambda f: (f / "queries.jsonl").write_text('["a list"]\n'), "expected an object"),
    (lambda f: (f / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1 dog 1\n"), "separated by tabs"),
    (lambda f: (f / "qrels" / "test.tsv").write_text("q1\tdog\thigh\n"), "is not a whole number"),
    (lambda f: (f / "corpus.jsonl").write_text('{"title": "no id"}\n'), "missing '_id'"),
    (lambda f: (f / "queries.jsonl").write_bytes(b'{"_id": "q1", "text": "' + b"a" * 1_100_000 + b'"}\n'), "longer than"),
])
def test_malformed_datasets_get_a_clear_error(tmp_path, damage, message):
    folder = write_dataset(tmp_path / "bad")
    damage(folder)
    with pytest.raises(CommandError, match=message):
        call_command("govai_eval", str(folder), "--no-progress")


@pytest.mark.django_db
def test_bad_arguments_get_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="is not a folder"):
        call_command("govai_eval", str(tmp_path / "nowhere"), "--no-progress")
    folder = write_dataset(tmp_path / "ok")
    with pytest.raises(CommandError, match="--limit must be at least 1"):
        call_command("govai_eval", str(folder), "--limit", "0", "--no-progress")

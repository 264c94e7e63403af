"""Personal data never reaches the model: detection (with check digits), stable placeholders,
restoring them in the answer, end to end through a real worker and an OpenAI-compatible server."""

from __future__ import annotations

import json

import pytest

from govai_plugin.defaults.pii import PATTERNS
from govai_plugin.pii import Pseudonyms, detect
from govai_plugin.services.answers import ask
from tests.test_answers import llm, rules, wait_final  # noqa: F401  (fixtures)


def kinds(text: str, names=()) -> list[tuple[str, str]]:
    return [(d.kind, d.value) for d in detect(text, PATTERNS, names)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("isikukood 38001085718", [("ID_EE", "38001085718")]),
        ("HETU 131052-308T", [("ID_FI", "131052-308T")]),
        ("personnummer 811228-9874", [("ID_SE", "811228-9874")]),
        ("BSN: 111222333", [("ID_NL", "111222333")]),
        ("Aadhaar 2341 2341 2346", [("ID_IN", "2341 2341 2346")]),
        ("KRA PIN A123456789Z", [("ID_KE", "A123456789Z")]),
        ("national ID number 23456789", [("ID_KE", "23456789")]),
        ("NIN 12345678901", [("ID_NG", "12345678901")]),
        ("IBAN EE38 2200 2210 2014 5685", [("IBAN", "EE38 2200 2210 2014 5685")]),
        ("card 4539 1488 0343 6467", [("CARD", "4539 1488 0343 6467")]),
        ("from 192.168.10.7.", [("IP", "192.168.10.7")]),
        ("from 2001:db8::8a2e:370:7334", [("IP", "2001:db8::8a2e:370:7334")]),
        ("write to jaan.tamm@example.ee", [("EMAIL", "jaan.tamm@example.ee")]),
        ("call +372 5123 4567", [("PHONE", "+372 5123 4567")]),
        ("tel. 020 7946 0958", [("PHONE", "020 7946 0958")]),
        ("born on 8 January 1980", [("DOB", "8 January 1980")]),
        ("sünniaeg 08.01.1980", [("DOB", "08.01.1980")]),
        ("lives at 12 Baker Street 221", [("ADDRESS", "Baker Street 221")]),
        ("Mannerheimintie 5 B", [("ADDRESS", "Mannerheimintie 5")]),
        ("Tamme 5, 10115 Tallinn", [("ADDRESS", "Tamme 5")]),
        ("Mari Maasikas applied", [("PERSON", "Mari Maasikas")]),
    ],
)
def test_each_kind_is_found(text, expected):
    assert kinds(text, names=["Mari Maasikas"]) == expected


@pytest.mark.parametrize(
    "text",
    [
        "isikukood 38001085719",  # wrong check digit
        "HETU 131052-308X",
        "BSN: 111222334",
        "Aadhaar 2341 2341 2347",
        "IBAN EE38 2200 2210 2014 5686",
        "card 4539 1488 0343 6468",
        "123456789",  # a 9-digit number without "BSN" before it
        "12345678901 items",  # 11 digits without "NIN"
        "decided within 30 days, by 14 November 2024",  # a date that is not a birth date
        "Regulation No. 12, Article 4 (1,500 euros)",
        "from 127.0.0.1 (this machine)",
    ],
)
def test_lookalikes_are_left_alone(text):
    assert kinds(text) == []


def test_placeholders_are_stable_and_restored():
    pseudonyms = Pseudonyms()
    a = pseudonyms.placeholder("EMAIL", "jaan@example.ee")
    b = pseudonyms.placeholder("EMAIL", "JAAN@example.ee")
    c = pseudonyms.placeholder("EMAIL", "mari@example.ee")
    assert a == b == "[EMAIL_1]" and c == "[EMAIL_2]"
    again = Pseudonyms(pseudonyms.values)  # as the worker rebuilds it from the job row
    assert again.placeholder("EMAIL", "mari@example.ee") == "[EMAIL_2]"
    assert again.restore("Write to [EMAIL_2], not [EMAIL_9].") == "Write to mari@example.ee, not [EMAIL_9]."


pytestmark_db = pytest.mark.django_db(transaction=True)


@pytestmark_db
def test_no_personal_data_reaches_the_model_and_the_answer_gets_it_back(rules, llm, worker):  # noqa: F811
    llm.reply = "[PERSON_1] ([ID_EE_1]) should expect a decision within 30 days [1]; write to [EMAIL_1]."
    question = ("Mari Maasikas, isikukood 38001085718, mari@example.ee, asks: how long does the department take "
                "to decide on a housing benefit application?")
    job = ask(question, collections=["rules"], case_context="Applicant born on 8 January 1980, phone +372 5123 4567.",
              names=["Mari Maasikas"])
    job = wait_final(job)
    assert len(llm.requests) >= 2  # the answerability judgement and the generation: neither may carry it
    sent = json.dumps([r["body"] for r in llm.requests])
    for secret in ("Maasikas", "38001085718", "mari@example.ee", "1980", "5123"):
        assert secret not in sent
        assert secret not in job.question + job.case_context + json.dumps(job.prompt_messages)
    assert "[PERSON_1]" in sent and "[ID_EE_1]" in sent and "[DOB_1]" in sent and "[PHONE_1]" in sent
    assert job.status == "succeeded", job.error
    assert job.answer_text.startswith("Mari Maasikas (38001085718) should expect") and "mari@example.ee" in job.answer_text
    from govai_plugin.api.serializers import AnswerJobSerializer

    assert AnswerJobSerializer(job).data["question"] == question


@pytestmark_db
def test_pseudonymisation_can_be_narrowed_by_settings(rules, llm, worker, settings):  # noqa: F811
    settings.GOVAI = {**settings.GOVAI, "PII": {"DISABLED_KINDS": ["EMAIL"]}}
    job = wait_final(ask("How long does a housing benefit decision take? Reply to jaan@example.ee, isikukood 38001085718",
                         collections=["rules"]))
    sent = json.dumps(llm.requests[-1]["body"])
    assert "jaan@example.ee" in sent and "38001085718" not in sent

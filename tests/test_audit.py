"""The audit trail is a hash chain: tampering is found, erasure and retention keep it verifiable,
a case's trail can be exported, and concurrent writers form one chain."""

from __future__ import annotations

import json
import threading
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from govai_plugin.models import AnswerJob, AuditEvent
from govai_plugin.services import audit
from govai_plugin.services.answers import ask
from tests.test_answers import QUESTION, llm, rules, wait_final  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)


def test_every_step_of_an_answer_is_recorded_and_the_chain_verifies(rules, llm, worker):  # noqa: F811
    job = wait_final(ask(QUESTION + " My isikukood is 38001085718.", collections=["rules"], actor="api:portal"))
    actions = list(AuditEvent.objects.values_list("action", flat=True))
    assert "document.ingested" in actions and "config.changed" in actions
    asked = AuditEvent.objects.get(action="answer.asked", object_ref=str(job.uid))
    final = AuditEvent.objects.get(action="answer.final", object_ref=str(job.uid))
    assert asked.actor == "api:portal" and final.outcome == "succeeded" and final.details["model"] == "fake-llm-1"
    assert final.details["passages"][0]["sha256"] and final.details["prompt_version"] == job.prompt_version
    assert final.details["parameters"]["temperature"] is not None and final.details["output"]
    assert "38001085718" not in json.dumps(asked.details) + json.dumps(final.details)  # pseudonymised in the trail
    out = StringIO()
    call_command("govai_audit", "verify", stdout=out)
    assert f"intact: {AuditEvent.objects.count()} events" in out.getvalue()


def _chain(n: int) -> list[AuditEvent]:
    return [audit.record("test.event", actor=f"api:client{i}", user_id="EE38001085718", details={"i": i}) for i in range(n)]


def test_tampering_is_found(transactional_db):
    events = _chain(5)
    AuditEvent.objects.filter(pk=events[2].pk).update(details={"i": 999})  # someone edits a row in the database
    result = audit.verify()
    assert not result.ok and result.first_bad_seq == events[2].seq and "changed" in result.problem
    with pytest.raises(CommandError, match=f"broken at event {events[2].seq}"):
        call_command("govai_audit", "verify")
    AuditEvent.objects.filter(pk=events[2].pk).update(details={"i": 2}, actor="api:someone-else")
    assert audit.verify().problem == "its hash does not match its content"
    AuditEvent.objects.filter(pk=events[2].pk).update(actor=events[2].actor)
    assert audit.verify().ok
    AuditEvent.objects.filter(pk=events[3].pk).delete()  # queryset delete, bypassing the model's refusal
    result = audit.verify()
    assert not result.ok and "missing" in result.problem


def test_rows_cannot_be_changed_through_the_model(transactional_db):
    event = _chain(1)[0]
    event.outcome = "changed"
    with pytest.raises(ValueError, match="append-only"):
        event.save()
    with pytest.raises(ValueError, match="append-only"):
        event.delete()


def test_erasure_blanks_a_person_and_leaves_a_verifiable_tombstone(rules, llm, worker):  # noqa: F811
    job = wait_final(ask(QUESTION, collections=["rules"], case_context="Applicant e-mail jaan.tamm@example.ee"))
    _chain(2)
    out = StringIO()
    call_command("govai_audit", "erase", "EE38001085718", "--by", "dpo@example.gov", stdout=out)
    assert "2 audit events" in out.getvalue()
    call_command("govai_audit", "erase", "jaan.tamm@example.ee", "--by", "dpo@example.gov", stdout=StringIO())
    job.refresh_from_db()
    assert job.pii_map == {} and job.question == "[erased]" and job.case_context == ""
    assert not AuditEvent.objects.filter(user_id="EE38001085718").exists()
    tombstones = AuditEvent.objects.filter(action="gdpr.erased")
    assert tombstones.count() == 2 and "EE38001085718" not in json.dumps(list(tombstones.values_list("details", flat=True)))
    assert audit.verify().ok  # the chain still holds: digests were kept
    with pytest.raises(CommandError, match="at least 4"):
        call_command("govai_audit", "erase", "EE", "--by", "x")


def test_retention_prunes_the_oldest_events_and_the_rest_still_verifies(transactional_db):
    import datetime as dt

    from django.utils import timezone

    events = _chain(6)
    # the first three are old: back-date them as they would be (their hashes cover the time, so re-hash them)
    old = timezone.now() - dt.timedelta(days=400)
    previous = ""
    for event in AuditEvent.objects.order_by("seq"):
        if event.seq <= events[2].seq:
            event.created_at = old
        event.prev_hash = previous
        event.hash = audit.event_hash(event)
        AuditEvent.objects.filter(pk=event.pk).update(created_at=event.created_at, prev_hash=event.prev_hash, hash=event.hash)
        previous = event.hash
    assert audit.verify().ok
    out = StringIO()
    call_command("govai_audit", "prune", "--days", "365", stdout=out)
    assert out.getvalue().startswith("3 ") or out.getvalue().startswith("4 ")  # the config event may be among them
    assert not AuditEvent.objects.filter(created_at__lt=timezone.now() - dt.timedelta(days=365)).exists()
    assert AuditEvent.objects.filter(action="audit.pruned").exists()
    assert audit.verify().ok


def test_a_case_trail_is_exported(rules, llm, worker, tmp_path):  # noqa: F811
    job = wait_final(ask(QUESTION, collections=["rules"]))
    audit.record("suggestion.decision", actor="widget:kask", outcome="accept", object_ref="s-1", details={"case": "HB-1"})
    target = tmp_path / "trail.jsonl"
    call_command("govai_audit", "export", "--job", str(job.uid), "--out", str(target), stderr=StringIO())
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert {line.get("action") for line in lines if line["type"] == "event"} == {"answer.asked", "answer.final"}
    [job_record] = [line for line in lines if line["type"] == "answer_job"]
    assert job_record["id"] == str(job.uid) and job_record["sources"] and job_record["prompt_messages"]
    case = StringIO()
    call_command("govai_audit", "export", "--case", "HB-1", stdout=case, stderr=StringIO())
    assert json.loads(case.getvalue().splitlines()[0])["actor"] == "widget:kask"
    with pytest.raises(CommandError, match="Say what to export"):
        call_command("govai_audit", "export")


def test_concurrent_writers_form_one_chain(transactional_db):
    def write(n: int) -> None:
        for i in range(10):
            audit.record("test.concurrent", actor=f"writer{n}", details={"i": i})
        connection.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seqs = list(AuditEvent.objects.values_list("seq", flat=True))
    assert len(seqs) == len(set(seqs)) and seqs == sorted(seqs) and seqs == list(range(1, len(seqs) + 1))
    assert AuditEvent.objects.filter(action="test.concurrent").count() == 40
    assert audit.verify().ok

"""The audit trail: append-only, hash-chained, verifiable, exportable, erasable per person.

* :func:`record` appends an event under a PostgreSQL advisory lock, so concurrent writers
  form one chain; the first event a process writes after the settings changed is preceded
  by a ``config.changed`` event with the (secret-masked) settings.
* :func:`verify` walks the chain and reports the first row whose hash, link or payload
  digest does not hold.
* :func:`export` gives every event about a case, answer job or actor (appeals, freedom of
  information requests).
* :func:`erase` blanks a person's data in events, answer jobs and suggestions, keeps the
  digests (the chain still verifies) and appends a tombstone.
* :func:`prune` removes events older than the retention period from the start of the
  chain and appends an anchor so the rest still verifies.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings as django_settings
from django.db import connection, transaction
from django.utils import timezone

from govai_plugin.conf import govai_settings
from govai_plugin.models import AuditEvent

_LIMITS = {"actor": 300, "user_id": 255, "action": 100, "outcome": 64, "object_ref": 200}
_LOCK = 0x60_7A_1A_0D  # advisory lock key for appending to the chain
_SECRET_WORDS = ("SECRET", "KEY", "PASSWORD", "TOKEN")
_config_seen: dict[str, str] = {}


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def payload_digest(user_id: str, details: dict[str, Any]) -> str:
    return hashlib.sha256(_canonical({"user_id": user_id, "details": details})).hexdigest()


def event_hash(event: AuditEvent) -> str:
    head = {"seq": event.seq, "created_at": event.created_at.isoformat(), "actor": event.actor, "action": event.action,
            "outcome": event.outcome, "object_ref": event.object_ref, "payload": event.payload_digest,
            "prev": event.prev_hash}
    return hashlib.sha256(_canonical(head)).hexdigest()


def record(action: str, *, actor: str, outcome: str = "ok", user_id: str = "", object_ref: str = "",
           details: dict[str, Any] | None = None) -> AuditEvent:
    """Append one event. Over-long values are cut to the column size, never refused:
    an audit write must not fail because a caller sent a long header."""
    _note_config_change()
    return _append(action, actor=actor, outcome=outcome, user_id=user_id, object_ref=object_ref, details=details or {})


def _append(action: str, *, actor: str, outcome: str, user_id: str, object_ref: str, details: dict[str, Any]) -> AuditEvent:
    values = {"action": action, "actor": actor, "outcome": outcome, "user_id": user_id, "object_ref": object_ref}
    values = {key: str(value or "")[: _LIMITS[key]] for key, value in values.items()}
    details = json.loads(_canonical(details))  # what is stored is exactly what was hashed
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK])
        last = AuditEvent.objects.exclude(seq=None).order_by("-seq").values("seq", "hash").first()
        event = AuditEvent(seq=(last["seq"] + 1) if last else 1, prev_hash=last["hash"] if last else "",
                           created_at=timezone.now(), details=details, **values)
        event.payload_digest = payload_digest(event.user_id, details)
        event.hash = event_hash(event)
        event.save()
    return event


def _settings_snapshot() -> dict[str, Any]:
    def mask(value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            return {k: mask(v, str(k)) for k, v in value.items()}
        if any(word in key.upper() for word in _SECRET_WORDS) and value:
            return "***"
        return value

    return mask(govai_settings.merged)


def _note_config_change() -> None:
    snapshot = _settings_snapshot()
    digest = hashlib.sha256(_canonical(snapshot)).hexdigest()
    if _config_seen.get("digest") == digest:
        return
    last = AuditEvent.objects.filter(action="config.changed").order_by("-seq").values("details").first()
    if not last or last["details"].get("digest") != digest:
        _append("config.changed", actor="system", outcome="ok", user_id="", object_ref="GOVAI",
                details={"digest": digest, "settings": snapshot,
                         "settings_module": getattr(django_settings, "SETTINGS_MODULE", "")})
    _config_seen["digest"] = digest


# --- verification ---------------------------------------------------------------------------


@dataclass
class Verification:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    problem: str = ""


def verify() -> Verification:
    """Recompute every hash and link; check each payload against its digest (unless erased)."""
    previous_hash, previous_seq, checked = None, None, 0
    for event in AuditEvent.objects.exclude(seq=None).order_by("seq").iterator(chunk_size=2000):
        checked += 1
        if previous_seq is not None and event.seq != previous_seq + 1:
            return Verification(False, checked, event.seq, f"events {previous_seq + 1}–{event.seq - 1} are missing")
        if previous_hash is not None and event.prev_hash != previous_hash:
            return Verification(False, checked, event.seq, "its link to the previous event does not match")
        if previous_hash is None and event.seq != 1 and event.action != "audit.pruned":
            anchor = AuditEvent.objects.filter(action="audit.pruned", details__last_hash=event.prev_hash).exists()
            if not anchor:
                return Verification(False, checked, event.seq, "the chain does not start at 1 and no pruning anchor explains it")
        if event_hash(event) != event.hash:
            return Verification(False, checked, event.seq, "its hash does not match its content")
        if event.erased_at is None and payload_digest(event.user_id, event.details) != event.payload_digest:
            return Verification(False, checked, event.seq, "its user id or details were changed")
        previous_hash, previous_seq = event.hash, event.seq
    return Verification(True, checked)


# --- export ---------------------------------------------------------------------------------------


def export(*, case: str = "", job: str = "", actor: str = "") -> Iterator[dict[str, Any]]:
    """Every event about a case (reference), an answer job (id) or an actor, in chain order,
    with the answer jobs they name."""
    from django.db.models import Q

    from govai_plugin.models import AnswerJob, Suggestion

    query = Q()
    job_ids: set[str] = {job} if job else set()
    if case:
        query |= Q(object_ref=case) | Q(details__case=case)
        suggestions = Suggestion.objects.filter(case_ref=case).select_related("answer_job")
        job_ids |= {str(s.answer_job.uid) for s in suggestions}
        query |= Q(object_ref__in=[str(s.uid) for s in suggestions])
    if job:
        query |= Q(object_ref=job)
    if actor:
        query |= Q(actor=actor)
    if job_ids:
        query |= Q(object_ref__in=job_ids)
    if not query:
        return
    for event in AuditEvent.objects.filter(query).order_by("seq"):
        yield {"type": "event", "seq": event.seq, "time": event.created_at.isoformat(), "actor": event.actor,
               "user_id": event.user_id, "action": event.action, "outcome": event.outcome, "object": event.object_ref,
               "details": event.details, "hash": event.hash, "prev_hash": event.prev_hash,
               "erased": event.erased_at is not None}
        if event.object_ref and event.object_ref not in job_ids and AnswerJob.objects.filter(uid=_uuid(event.object_ref)).exists():
            job_ids.add(event.object_ref)
    for job_row in AnswerJob.objects.filter(uid__in=[u for u in map(_uuid, job_ids) if u]).order_by("created_at"):
        yield {"type": "answer_job", "id": str(job_row.uid), "actor": job_row.actor, "status": job_row.status,
               "use_case": job_row.use_case, "question": job_row.question, "case_context": job_row.case_context,
               "prompt_version": job_row.prompt_version, "model": job_row.model, "prompt_messages": job_row.prompt_messages,
               "sources": [{k: s.get(k) for k in ("number", "chunk_id", "document_id", "document_title", "document_version",
                                                   "heading_path", "char_start", "char_end")} for s in job_row.sources],
               "answer": job_row.answer_text, "citations": job_row.citations, "findings": job_row.findings,
               "abstain_reason": job_row.abstain_reason, "error": job_row.error,
               "created_at": job_row.created_at.isoformat()}


def _uuid(value: str) -> str | None:
    import uuid

    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return None


# --- erasure and retention ----------------------------------------------------------------------------


def erase(value: str, *, requested_by: str) -> dict[str, int]:
    """Erase a person's data (e.g. their personal code or e-mail) wherever it is stored:
    audit payloads (digests kept), answer jobs (question, context, answer, placeholder map),
    suggestion texts. Appends a tombstone with counts and a digest of the value, not the value."""
    from django.db.models import Q

    from govai_plugin.models import AnswerJob, Suggestion

    value = value.strip()
    if len(value) < 4:
        raise ValueError("Give the value to erase (at least 4 characters), e.g. a personal code or an e-mail address.")
    now = timezone.now()
    with transaction.atomic():
        events = AuditEvent.objects.filter(Q(user_id=value) | Q(details__icontains=value) | Q(object_ref=value))
        event_count = events.update(user_id="", details={"erased": True}, erased_at=now)
        jobs = AnswerJob.objects.filter(Q(question__icontains=value) | Q(case_context__icontains=value) |
                                        Q(answer_text__icontains=value) | Q(pii_map__icontains=value))
        job_ids = list(jobs.values_list("pk", flat=True))
        AnswerJob.objects.filter(pk__in=job_ids).update(
            question="[erased]", case_context="", answer_text="[erased]", partial_text="", pii_map={}, prompt_messages=[])
        suggestion_count = Suggestion.objects.filter(Q(answer_job_id__in=job_ids) | Q(final_text__icontains=value)).update(
            final_text="[erased]", diff="", reason="")
    counts = {"audit_events": event_count, "answer_jobs": len(job_ids), "suggestions": suggestion_count}
    _append("gdpr.erased", actor=requested_by[:300] or "admin", outcome="ok", user_id="", object_ref="",
            details={"value_sha256": hashlib.sha256(value.encode()).hexdigest(), **counts})
    return counts


def prune(*, older_than_days: int | None = None) -> int:
    """Delete events older than the retention period (``AUDIT.RETENTION_DAYS``) from the start of the chain."""
    days = older_than_days if older_than_days is not None else govai_settings.AUDIT["RETENTION_DAYS"]
    if not days:
        return 0
    cutoff = timezone.now() - dt.timedelta(days=days)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK])
        old = AuditEvent.objects.filter(created_at__lt=cutoff).exclude(action="audit.pruned").order_by("seq")
        last = old.values("seq", "hash").last()
        if last is None:
            return 0
        count = AuditEvent.objects.filter(seq__lte=last["seq"]).count()
        AuditEvent.objects.filter(seq__lte=last["seq"])._raw_delete(AuditEvent.objects.db)
    _append("audit.pruned", actor="system", outcome="ok", user_id="", object_ref="",
            details={"through_seq": last["seq"], "last_hash": last["hash"], "deleted": count, "retention_days": days})
    return count

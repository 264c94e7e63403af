"""Suggestions for cases: a case event comes in, the case and its registry data are read,
a grounded draft is generated, written back to the case, and reviewed by a person.

    case system ──signed webhook──► receive_event() ──► CaseEvent row, task process_case_event
      process_event(): read the case (adapter) + registries (allowlisted fields)
                       → ask() with the case as context (guard hooks pseudonymise it)
                       → Suggestion row (drafting) → generation task
      answer_final signal → Suggestion draft → task write_back_suggestion
      write_back(): attach to the case with an idempotency key (retried, never twice)
      decide(): accept / edit (diff kept) / reject (reason), via API, widget or case system
      visible_to(): who may see and decide which suggestion (case-system grant + collection reads)
      a cited document gets a new version → suggestions citing it are flagged for re-review
"""

from __future__ import annotations

import difflib
import hashlib
import hmac
import json
import logging
import time
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.dispatch import receiver
from django.utils import timezone

from govai_plugin import safejson
from govai_plugin.conf import govai_settings
from govai_plugin.exceptions import (
    ConfigurationError,
    GovAIError,
    InvalidRequest,
    NotFound,
    Replayed,
    RetryableError,
    SignatureInvalid,
)
from govai_plugin.hooks.manager import get_hooks
from govai_plugin.models import AnswerJob, ApiClient, CaseEvent, Document, Suggestion
from govai_plugin.ports import CaseRecord, CaseSystem, Registry, SuggestionPayload
from govai_plugin.services import access, audit
from govai_plugin.services.answers import ask
from govai_plugin.signals import answer_final

logger = logging.getLogger(__name__)

#: The question asked for a case; it is also the retrieval query, so it names the case.
#: Placeholders: {title}, {type} and the case's allowlisted CONTEXT_FIELDS.
DEFAULT_QUESTION = ("{title} ({type}): which rules apply to this case, what do they require, "
                    "and what is missing from the file?")
ACTIONS = {"accept": Suggestion.Status.ACCEPTED, "edit": Suggestion.Status.EDITED, "reject": Suggestion.Status.REJECTED}
CASE_EVENTS = {"case.created", "case.updated"}
DECISION_EVENT = "suggestion.decided"


# --- configuration and adapters ---------------------------------------------------------------


def system_config(name: str) -> dict[str, Any]:
    systems = govai_settings.CASES["SYSTEMS"]
    if name not in systems:
        raise NotFound(f"No case system {name!r} is configured.")
    return systems[name]


def case_system(name: str) -> CaseSystem:
    cfg = system_config(name)
    spec = get_hooks().adapters().get(cfg.get("ADAPTER", ""))
    if spec is None or spec.kind != "case-system" or spec.factory is None:
        raise ConfigurationError(f"Case system {name!r}: no case-system adapter named {cfg.get('ADAPTER')!r} is installed.")
    return spec.factory(name, cfg)


def registry(name: str) -> Registry:
    registries = govai_settings.REGISTRIES
    if name not in registries:
        raise ConfigurationError(f"No registry {name!r} is configured (GOVAI['REGISTRIES']).")
    cfg = registries[name]
    adapters = get_hooks().adapters()
    spec = adapters.get(cfg.get("ADAPTER", "soap-registry"))
    if spec is None or spec.factory is None:
        raise ConfigurationError(f"Registry {name!r}: the adapter {cfg.get('ADAPTER', 'soap-registry')!r} is not installed.")
    xroad = None
    if cfg.get("XROAD_SERVICE"):
        if "xroad" not in adapters:
            raise ConfigurationError(f"Registry {name!r} routes through X-Road, but the X-Road adapter is not installed.")
        xroad = adapters["xroad"].factory()
    return spec.factory(name, cfg, xroad=xroad)


# --- webhook -------------------------------------------------------------------------------------


def signature(secret: str, timestamp: str, event_id: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of "{timestamp}.{event_id}." + body>`` with the shared secret."""
    mac = hmac.new(secret.encode(), f"{timestamp}.{event_id}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def receive_event(system: str, *, timestamp: str | None, event_id: str | None, signed: str | None, body: bytes) -> CaseEvent:
    """Check a webhook call and record the event; processing happens in a task."""
    cfg = system_config(system)
    cases = govai_settings.CASES
    if len(body) > cases["MAX_EVENT_BYTES"]:
        raise InvalidRequest(f"The event is larger than {cases['MAX_EVENT_BYTES']:,} bytes.")
    if not timestamp or not event_id or not signed:
        raise SignatureInvalid("Send X-GovAI-Timestamp, X-GovAI-Event-Id and X-GovAI-Signature with every event.")
    if len(event_id) > 200 or not event_id.isprintable():
        raise InvalidRequest("X-GovAI-Event-Id must be at most 200 printable characters.")
    secret = cfg.get("SECRET") or ""
    if not secret:
        raise ConfigurationError(f"Case system {system!r} has no webhook SECRET configured.")
    if not hmac.compare_digest(signature(secret, timestamp, event_id, body), signed.strip()):
        raise SignatureInvalid("The event's signature does not match (HMAC-SHA256 over timestamp, event id and body).")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise SignatureInvalid("X-GovAI-Timestamp must be Unix seconds.") from None
    if abs(time.time() - sent_at) > cases["WEBHOOK_TOLERANCE_SECONDS"]:
        raise SignatureInvalid(f"The event's timestamp is more than {cases['WEBHOOK_TOLERANCE_SECONDS']} s away from now; "
                               "send it again with a fresh timestamp and signature.")
    try:
        payload = safejson.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidRequest(f"The event is not JSON: {exc}") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
        raise InvalidRequest('The event must be a JSON object with a "type".')
    case_ref = payload.get("case_id", "")
    if payload["type"] in CASE_EVENTS and (not isinstance(case_ref, str) or not case_ref or len(case_ref) > 500):
        raise InvalidRequest('A case event needs "case_id" (a string of at most 500 characters).')
    try:
        with transaction.atomic():
            event = CaseEvent.objects.create(system=system, event_id=event_id, event_type=payload["type"][:64],
                                             case_ref=case_ref if isinstance(case_ref, str) else "", payload=payload)
    except IntegrityError:
        raise Replayed(f"The event {event_id!r} was already received; it is not processed again.") from None
    audit.record("case.event", actor=f"case:{system}", object_ref=event_id, details={"type": event.event_type, "case": event.case_ref})
    from govai_plugin.tasks import process_case_event

    transaction.on_commit(lambda: process_case_event.delay(event.pk))
    return event


# --- processing ---------------------------------------------------------------------------------------


def process_event(event_id: int, *, attempt: int = 1, last_attempt: bool = True) -> CaseEvent | None:
    event = CaseEvent.objects.filter(pk=event_id).first()
    if event is None or event.outcome != CaseEvent.Outcome.RECEIVED:
        return event  # processed already (a redelivered task): nothing to do
    CaseEvent.objects.filter(pk=event.pk).update(attempts=attempt)
    try:
        if event.event_type in CASE_EVENTS:
            detail = _draft_for_event(event)
        elif event.event_type == DECISION_EVENT:
            data = event.payload
            suggestion = Suggestion.objects.filter(uid=_uuid(data.get("suggestion_id")), system=event.system).first()
            if suggestion is None:
                raise NotFound("The event names no suggestion of this case system.")
            decide(suggestion, str(data.get("action", "")), reviewer=str(data.get("reviewer", ""))[:200],
                   text=data.get("text") or "", reason=data.get("reason") or "", via="case_system")
            detail = f"decision recorded on {suggestion.uid}"
        else:
            return _close(event, CaseEvent.Outcome.IGNORED, f"event type {event.event_type!r} is not handled")
    except RetryableError as exc:
        if not last_attempt:
            raise
        return _close(event, CaseEvent.Outcome.FAILED, f"gave up after {attempt} attempts: {exc}")
    except NotFound as exc:
        return _close(event, CaseEvent.Outcome.UNKNOWN_CASE, str(exc))
    except GovAIError as exc:
        return _close(event, CaseEvent.Outcome.FAILED, str(exc))
    return _close(event, CaseEvent.Outcome.PROCESSED, detail)


def _close(event: CaseEvent, outcome: str, detail: str) -> CaseEvent:
    CaseEvent.objects.filter(pk=event.pk).update(outcome=outcome, detail=detail[:5000], processed_at=timezone.now())
    event.refresh_from_db()
    audit.record("case.event.processed", actor=f"case:{event.system}", outcome=outcome, object_ref=event.event_id,
                 details={"detail": detail[:500]})
    return event


def _uuid(value: Any) -> str | None:
    import uuid

    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return None


def case_context(system: str, case: CaseRecord) -> tuple[str, list[str]]:
    """The case as prompt context: allowlisted case fields and registry data, and which
    registry fields were used."""
    cfg = system_config(system)
    lines = [f"Case {case.case_ref}" + (f" ({case.case_type})" if case.case_type else "") + (f": {case.title}" if case.title else "")]
    for name in cfg.get("CONTEXT_FIELDS", []):
        if name in case.fields and case.fields[name] not in (None, ""):
            lines.append(f"{name}: {case.fields[name]}")
    used: list[str] = []
    for name in cfg.get("REGISTRIES", []):
        data = registry(name).lookup(case)
        for key, value in data.items():
            lines.append(f"{name} register, {key}: {value}")
            used.append(f"{name}.{key}")
    return "\n".join(lines), used


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""


def question_for(cfg: dict[str, Any], case: CaseRecord) -> str:
    values = _Blank({name: case.fields.get(name, "") for name in cfg.get("CONTEXT_FIELDS", [])})
    values.update(title=case.title or "A case", type=case.case_type or "case")
    try:
        question = (cfg.get("QUESTION") or DEFAULT_QUESTION).format_map(values)
    except (ValueError, IndexError) as exc:
        raise ConfigurationError(f"The case system's QUESTION is not a valid template: {exc}") from None
    return question.replace("()", "").strip()


def _draft_for_event(event: CaseEvent) -> str:
    cfg = system_config(event.system)
    if Suggestion.objects.filter(event=event).exists():
        return "suggestion already drafted"
    case = case_system(event.system).read_case(event.case_ref)
    context, used = case_context(event.system, case)
    with transaction.atomic():
        job = ask(
            question_for(cfg, case),
            collections=cfg.get("COLLECTIONS") or None,
            use_case=cfg.get("USE_CASE") or "case_summary",
            case_context=context[: govai_settings.ANSWERS["MAX_CONTEXT_CHARS"]],
            actor=f"case:{event.system}",
            names=[str(case.fields[f]) for f in cfg.get("NAME_FIELDS", []) if case.fields.get(f)][:50],
            enqueue=True,
        )
        suggestion = Suggestion.objects.create(system=event.system, case_ref=event.case_ref, event=event, answer_job=job,
                                               context_sources=used)
        if job.is_final:  # abstained before generation: the abstention is the suggestion
            _drafted(suggestion, job)
    return f"suggestion {suggestion.uid}"


@receiver(answer_final)
def _on_answer_final(sender, job: AnswerJob, **kwargs) -> None:
    suggestion = Suggestion.objects.filter(answer_job=job, status=Suggestion.Status.DRAFTING).first()
    if suggestion is not None:
        _drafted(suggestion, job)


def _drafted(suggestion: Suggestion, job: AnswerJob) -> None:
    status = Suggestion.Status.FAILED if job.status == AnswerJob.Status.FAILED else Suggestion.Status.DRAFT
    updated = Suggestion.objects.filter(pk=suggestion.pk, status=Suggestion.Status.DRAFTING).update(status=status)
    if updated:
        from govai_plugin.tasks import write_back_suggestion

        transaction.on_commit(lambda: write_back_suggestion.delay(suggestion.pk))


# --- write-back --------------------------------------------------------------------------------------------


def payload(suggestion: Suggestion) -> SuggestionPayload:
    job = suggestion.answer_job
    if job.status == AnswerJob.Status.SUCCEEDED:
        text = job.answer_text
    elif job.status == AnswerJob.Status.ABSTAINED:
        text = f"No suggestion: {job.abstain_detail or job.abstain_reason}"
    else:
        text = f"No suggestion could be drafted: {job.error}"
    citations = [
        {k: c.get(k) for k in ("number", "document_title", "document_version", "heading_path", "page", "char_start", "char_end")}
        for c in job.citations
    ]
    return SuggestionPayload(suggestion_id=str(suggestion.uid), status=suggestion.status, text=text,
                             label=govai_settings.ANSWERS["LABEL"], citations=citations, abstain_reason=job.abstain_reason)


def write_back(suggestion_id: int, *, attempt: int, last_attempt: bool) -> Suggestion | None:
    suggestion = Suggestion.objects.select_related("answer_job").filter(pk=suggestion_id).first()
    if suggestion is None or suggestion.writeback != Suggestion.WriteBack.PENDING:
        return suggestion
    Suggestion.objects.filter(pk=suggestion.pk).update(writeback_attempts=attempt)
    try:
        ref = case_system(suggestion.system).attach_suggestion(
            suggestion.case_ref, payload(suggestion), idempotency_key=suggestion.idempotency_key)
    except RetryableError as exc:
        if not last_attempt:
            Suggestion.objects.filter(pk=suggestion.pk).update(writeback_error=f"attempt {attempt}: {exc}")
            raise
        return _written(suggestion, Suggestion.WriteBack.FAILED, error=f"gave up after {attempt} attempts: {exc}")
    except GovAIError as exc:
        return _written(suggestion, Suggestion.WriteBack.FAILED, error=str(exc))
    return _written(suggestion, Suggestion.WriteBack.DONE, ref=ref)


def _written(suggestion: Suggestion, state: str, *, ref: str = "", error: str = "") -> Suggestion:
    with transaction.atomic():  # the state and its audit event are seen together, or not at all
        Suggestion.objects.filter(pk=suggestion.pk).update(writeback=state, external_ref=ref[:500], writeback_error=error[:5000])
        audit.record("suggestion.writeback", actor=f"case:{suggestion.system}", outcome="ok" if state == "done" else "failed",
                     object_ref=str(suggestion.uid), details={"case": suggestion.case_ref, "ref": ref, "error": error[:500]})
    suggestion.refresh_from_db()
    return suggestion


# --- who may see and decide a suggestion -------------------------------------------------------------------------


def visible_to(viewer: Any) -> QuerySet[Suggestion]:
    """The suggestions ``viewer`` may see and decide: the one rule every review path applies.

    An API client (with ``can_review_suggestions``) sees a suggestion when its case system
    names the client in ``REVIEWERS`` and the client may read every collection the
    suggestion's sources came from; a suggestion without sources (an abstention before any
    passage was found) needs the case-system grant only. A signed-in portal user with
    ``govai_plugin.change_suggestion`` (the review widget) sees, per case system, what that
    system's ``WIDGET_CLIENT`` would see. Anyone else sees nothing.
    """
    rows = Suggestion.objects.none()
    for client, systems in _acting_clients(viewer).items():
        slugs = list(access.readable_collections(client).values_list("slug", flat=True))
        rows |= Suggestion.objects.filter(system__in=systems).sources_within(slugs)
    return rows.select_related("answer_job")


def _acting_clients(viewer: Any) -> dict[ApiClient, list[str]]:
    """Whose grants apply, and for which case systems (those that name the client in REVIEWERS)."""
    systems = govai_settings.CASES["SYSTEMS"]
    if isinstance(viewer, ApiClient):
        names = dict.fromkeys(systems, viewer.name) if viewer.can_review_suggestions else {}
    elif getattr(viewer, "is_authenticated", False) and viewer.has_perm("govai_plugin.change_suggestion"):
        names = {system: cfg.get("WIDGET_CLIENT") for system, cfg in systems.items()}
    else:
        names = {}
    granted = {system: name for system, name in names.items() if isinstance(name, str) and name in _reviewers(systems[system])}
    clients = {c.name: c for c in ApiClient.objects.filter(name__in=set(granted.values()), is_active=True)}
    acting: dict[ApiClient, list[str]] = {}
    for system, name in granted.items():
        if name in clients:
            acting.setdefault(clients[name], []).append(system)
    return acting


def _reviewers(cfg: dict[str, Any]) -> set[str]:
    reviewers = cfg.get("REVIEWERS")
    return {r for r in reviewers if isinstance(r, str)} if isinstance(reviewers, (list, tuple)) else set()


def get_visible(viewer: Any, uid: Any) -> Suggestion:
    """One suggestion ``viewer`` may see; one it may not is answered exactly like one that does not exist."""
    suggestion = visible_to(viewer).filter(uid=uid).first()
    if suggestion is None:
        raise NotFound("No suggestion has this id.")
    return suggestion


def listed(viewer: Any, *, system: str = "", case: str = "", status: str = "", limit: int = 200) -> list[Suggestion]:
    """The suggestions ``viewer`` may see, newest first, filtered by case system, case and status."""
    rows = visible_to(viewer)
    for field, value in (("system", system), ("case_ref", case), ("status", status)):
        if value:
            rows = rows.filter(**{field: value})
    return list(rows[:limit])


def review(viewer: Any, uid: Any, action: str, *, reviewer: str = "", text: str = "", reason: str = "") -> Suggestion:
    """A decision through the API (the client names the ``reviewer``) or the widget (the
    signed-in user is the reviewer), on a suggestion the viewer may see."""
    suggestion = get_visible(viewer, uid)
    if isinstance(viewer, ApiClient):
        return decide(suggestion, action, reviewer=reviewer, text=text, reason=reason, via="api")
    return decide(suggestion, action, reviewer=viewer.get_username(), text=text, reason=reason, via="widget")


# --- review ----------------------------------------------------------------------------------------------------


def decide(suggestion: Suggestion, action: str, *, reviewer: str, text: str = "", reason: str = "",
           via: str = "api") -> Suggestion:
    """Record a caseworker's decision: accept, edit (with the new text; the diff is kept) or
    reject (with a reason). A suggestion is decided once."""
    if action not in ACTIONS:
        raise InvalidRequest(f"action must be one of {', '.join(ACTIONS)}, not {action!r}.")
    if not reviewer or not str(reviewer).strip():
        raise InvalidRequest("Say who reviewed it (reviewer).")
    if not isinstance(text, str) or not isinstance(reason, str):
        raise InvalidRequest("text and reason must be strings.")
    if len(text) > 50_000 or len(reason) > 5_000:
        raise InvalidRequest("The edited text (50,000) or the reason (5,000 characters) is too long.")
    original = payload(suggestion).text
    if action == "edit" and (not text.strip() or text.strip() == original.strip()):
        raise InvalidRequest("An edit needs the edited text, different from the draft.")
    if action == "reject" and not reason.strip():
        raise InvalidRequest("A rejection needs a reason.")
    final = {"accept": original, "edit": text, "reject": ""}[action]
    diff = "".join(difflib.unified_diff(original.splitlines(True), text.splitlines(True), "suggestion", "edited")) if action == "edit" else ""
    updated = Suggestion.objects.filter(pk=suggestion.pk, status=Suggestion.Status.DRAFT).update(
        status=ACTIONS[action], reviewer=reviewer.strip()[:200], reviewed_at=timezone.now(), final_text=final, diff=diff,
        reason=reason.strip(), decided_via=via, needs_review=False,
    )
    suggestion.refresh_from_db()
    if not updated:
        raise InvalidRequest(f"This suggestion is {suggestion.status}; only a draft can be decided.")
    audit.record("suggestion.decision", actor=f"{via}:{reviewer.strip()[:200]}", outcome=action,
                 object_ref=str(suggestion.uid), details={"case": suggestion.case_ref, "system": suggestion.system,
                                                          "reason": reason.strip()[:1000]})
    return suggestion


def flag_superseded(previous: Document, current: Document) -> int:
    """Flag open and accepted suggestions that cited ``previous`` for re-review."""
    open_states = [Suggestion.Status.DRAFT, Suggestion.Status.ACCEPTED, Suggestion.Status.EDITED]
    flagged = Suggestion.objects.filter(
        status__in=open_states, answer_job__citations__contains=[{"document_id": str(previous.uid)}]
    ).update(needs_review=True, review_flag=f"{previous.title!r} has a new version ({current.version}) since this "
                                            f"suggestion cited version {previous.version}.")
    if flagged:
        logger.info("suggestions_flagged document=%s count=%d", previous.uid, flagged)
    return flagged


def pull_decisions(system: str | None = None) -> int:
    """Ask the case systems that record decisions (``read_decision``) about written drafts;
    record what they say. For a cron job or beat schedule; returns how many were recorded."""
    recorded = 0
    rows = Suggestion.objects.select_related("answer_job").filter(status=Suggestion.Status.DRAFT,
                                                                  writeback=Suggestion.WriteBack.DONE).exclude(external_ref="")
    if system:
        rows = rows.filter(system=system)
    adapters: dict[str, CaseSystem] = {}
    for suggestion in rows:
        try:
            adapter = adapters.setdefault(suggestion.system, case_system(suggestion.system))
            decision = adapter.read_decision(suggestion.case_ref, suggestion.external_ref)
            if decision is None:
                continue
            decide(suggestion, decision.action, reviewer=decision.reviewer, text=decision.text, reason=decision.reason,
                   via="case_system")
            recorded += 1
        except GovAIError as exc:  # one system or suggestion failing does not stop the others
            logger.warning("decision_pull_failed suggestion=%s error=%s", suggestion.uid, exc)
    return recorded


def retry_failed_writebacks(system: str | None = None) -> int:
    """Send failed write-backs again (after the case system was fixed); same idempotency keys."""
    rows = Suggestion.objects.filter(writeback=Suggestion.WriteBack.FAILED)
    if system:
        rows = rows.filter(system=system)
    ids = list(rows.values_list("pk", flat=True))
    Suggestion.objects.filter(pk__in=ids).update(writeback=Suggestion.WriteBack.PENDING, writeback_error="")
    from govai_plugin.tasks import write_back_suggestion

    for pk in ids:
        write_back_suggestion.delay(pk)
    return len(ids)

"""Grounded answers: ``ask()`` retrieves and enqueues; ``run_generation()`` runs in a Celery worker.

ask():  guard input → retrieve (the client's collections only) → abstain if no passage
        is similar enough → build the prompt from the use case with numbered sources →
        store the job → enqueue generation after the transaction commits.
run_generation(): generate on the text-generation server (streaming into the job
        row) → output checks → resolve [n] markers to passages → abstain if the model
        says the sources do not cover the question or conflict → record.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import time
from typing import Any

from django.db import transaction
from django.utils import timezone

from govai_plugin.conf import govai_settings
from govai_plugin.services import answerability, audit, calibration, support
from govai_plugin.pii import Pseudonyms, detect
from govai_plugin.exceptions import GovAIError, InvalidRequest, RetryableError
from govai_plugin.hooks.manager import get_hooks
from govai_plugin.models import AnswerJob, ApiClient
from govai_plugin.services.search import build_query, run_query
from govai_plugin.types import GenerationParams, Prompt, SearchHit

logger = logging.getLogger(__name__)

INSUFFICIENT = "INSUFFICIENT_SOURCES:"
CONFLICTING = "CONFLICTING_SOURCES:"
CITATION = re.compile(r"\[(\d{1,3})\]")
_PARTIAL_EVERY = 0.25  # seconds between streamed-text writes to the job row


def ask(
    question: str,
    *,
    client: ApiClient | None = None,
    actor: str = "",
    collections: list[str] | None = None,
    use_case: str | None = None,
    case_context: str = "",
    mode: str | None = None,
    languages: list[str] | tuple[str, ...] = (),
    metadata: dict[str, Any] | None = None,
    in_force_on: dt.date | None = None,
    names: list[str] | tuple[str, ...] = (),
    enqueue: bool = True,
) -> AnswerJob:
    """Validate, retrieve and queue an answer; returns the job (already final if it abstained).

    Personal data in the question and the case context (and ``names`` of people in the case)
    is replaced by placeholders before retrieval, storage and the model; the answer gets the
    values back (see :mod:`govai_plugin.pii`)."""
    cfg = govai_settings.ANSWERS
    hooks = get_hooks()
    use_case = use_case or cfg["DEFAULT_USE_CASE"]
    cases = hooks.use_cases()
    if use_case not in cases:
        raise InvalidRequest(f"Unknown use case {use_case!r}; use one of {', '.join(sorted(cases))}.")
    if not isinstance(question, str) or not question.strip():
        raise InvalidRequest("The question is empty.")
    question = question.strip()
    if len(question) > cfg["MAX_QUESTION_CHARS"]:
        raise InvalidRequest(f"The question has {len(question):,} characters; the limit is {cfg['MAX_QUESTION_CHARS']:,}.")
    if len(case_context or "") > cfg["MAX_CONTEXT_CHARS"]:
        raise InvalidRequest(f"The case context is longer than {cfg['MAX_CONTEXT_CHARS']:,} characters.")
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) and len(n) <= 200 for n in names) or len(names) > 50:
        raise InvalidRequest("names must be a list of at most 50 person names of at most 200 characters.")
    question = _guarded(hooks, question, {"kind": "question", "names": list(names)})
    case_context = _guarded(hooks, case_context, {"kind": "context", "names": list(names)}) if case_context else ""
    pseudonyms = Pseudonyms()
    question = pseudonymise(hooks, question, pseudonyms, names)
    case_context = pseudonymise(hooks, case_context, pseudonyms, names)

    query = build_query(
        question, client=client, collections=collections, mode=mode, top_k=cfg["TOP_K"],
        languages=languages, metadata=metadata, in_force_on=in_force_on,
    )
    started = time.perf_counter()
    searched = run_query(query)
    hits = searched.hits
    retrieval_ms = (time.perf_counter() - started) * 1000
    job = AnswerJob(
        client=client,
        actor=actor or (f"api:{client.name}" if client else "local"),
        use_case=use_case,
        question=question,
        case_context=case_context,
        collection_ids=list(query.collection_ids),
        search={
            "mode": query.mode, "languages": list(query.languages), "metadata": query.metadata,
            "in_force_on": in_force_on.isoformat() if in_force_on else None,
            "language": query.language,  # detected from the question; None when unsure
            # RETRIEVAL.TRANSLATE_QUERIES: what was searched besides the question (never in the prompt)
            "translations": searched.translations, "translation_errors": searched.translation_errors,
        },
        retrieval_ms=retrieval_ms,
        pii_map=pseudonyms.values,
    )
    best = max((h.dense_similarity or 0.0 for h in hits), default=0.0)
    early = retrieval_abstention(query, hits)
    if early:
        _abstain(job, *early)
    else:
        prompt = hooks.build_prompt(cases[use_case], question, hits, {"case": case_context})
        job.sources = [_source(n, h) for n, h in enumerate(prompt.sources, start=1)]
        job.prompt_messages = prompt.messages
        job.prompt_version = prompt.template_version
        job.save()
        if enqueue:
            from govai_plugin.tasks import generate_answer

            transaction.on_commit(lambda: generate_answer.delay(job.pk))
    audit.record("answer.asked", actor=job.actor, object_ref=str(job.uid), details={
        "use_case": job.use_case, "question": job.question, "collections": job.collection_ids, "search": job.search,
        "retrieved": _passage_refs(job.sources), "prompt_version": job.prompt_version, "status": job.status,
        "pseudonymised": len(job.pii_map)})
    if job.is_final:
        _audit_final(job, output="")
    logger.info("answer_queued job=%s status=%s hits=%d best=%.3f", job.uid, job.status, len(hits), best)
    return job


def run_generation(job_id: int, *, attempt: int, last_attempt: bool) -> AnswerJob | None:
    """Generate and post-process one job. Idempotent: a finished job is left alone.

    Raises :class:`RetryableError` when the server failed transiently and this was not
    the last attempt (Celery retries); records the error as final otherwise.
    """
    job = AnswerJob.objects.filter(pk=job_id).first()
    if job is None or job.is_final:
        return job
    now = timezone.now()
    AnswerJob.objects.filter(pk=job.pk).update(
        status=AnswerJob.Status.RUNNING, started_at=job.started_at or now, attempts=attempt, partial_text=""
    )
    job.refresh_from_db()
    hooks = get_hooks()
    cfg = govai_settings.LLM
    pseudonyms = Pseudonyms(job.pii_map)
    hits = [_hit(s) for s in job.sources]
    check_context = {"use_case": job.use_case, "instructions": _instructions(hooks, job)}
    streamed: list[str] = []
    last_write = [time.monotonic()]
    withheld = [False]

    def on_token(piece: str) -> None:
        if not streamed:
            AnswerJob.objects.filter(pk=job.pk, first_token_at__isnull=True).update(first_token_at=timezone.now())
        streamed.append(piece)
        if not withheld[0] and time.monotonic() - last_write[0] >= _PARTIAL_EVERY:
            # What is streamed passes the same output checks as the final answer.
            partial, findings = hooks.check_output("".join(streamed), hits, check_context)
            withheld[0] = any(f.severity == "error" for f in findings)
            AnswerJob.objects.filter(pk=job.pk, status=AnswerJob.Status.RUNNING).update(
                partial_text="" if withheld[0] else pseudonyms.restore(partial))
            last_write[0] = time.monotonic()

    prompt = Prompt(messages=job.prompt_messages, use_case=job.use_case, template_version=job.prompt_version)
    params = GenerationParams(max_tokens=cfg["MAX_TOKENS"], temperature=cfg["TEMPERATURE"], timeout=cfg["TIMEOUT"], on_token=on_token)
    try:
        judged = _judge_answerability(job, hits, attempt, cfg["TIMEOUT"])
        generation = None if judged.get("abstain") else hooks.generate(prompt, params)
    except RetryableError as exc:
        logger.warning("generation_failed job=%s attempt=%d retryable=1 error=%s", job.uid, attempt, exc)
        if not last_attempt:
            AnswerJob.objects.filter(pk=job.pk).update(status=AnswerJob.Status.QUEUED, error=f"attempt {attempt}: {exc}")
            raise
        return _fail(job, f"The text-generation server failed {attempt} times; last error: {exc}")
    except GovAIError as exc:  # GenerationError, ConfigurationError: retrying will not help
        logger.warning("generation_failed job=%s attempt=%d retryable=0 error=%s", job.uid, attempt, exc)
        return _fail(job, str(exc))
    except Exception as exc:  # a plugin's bug must not leave the job "running" for ever
        logger.exception("generation_crashed job=%s attempt=%d", job.uid, attempt)
        return _fail(job, f"Unexpected error in text generation: {type(exc).__name__}: {exc}")

    if generation is None:  # the answerability step abstained: no text was generated
        text = ""
        updates: dict[str, Any] = {
            "model": str(judged.get("model", ""))[:200], "partial_text": "", "finished_at": timezone.now(), "findings": [],
            "error": "", "status": AnswerJob.Status.ABSTAINED, "abstain_reason": answerability.REASON,
            "abstain_detail": answerability.abstain_detail(judged), "answer_text": "",
        }
    else:
        text, findings = hooks.check_output(generation.text.strip(), hits, check_context)
        updates = {
            "model": generation.model[:200],
            "prompt_tokens": generation.prompt_tokens,
            "completion_tokens": generation.completion_tokens,
            "partial_text": "",
            "finished_at": timezone.now(),
            "findings": [{"kind": f.kind, "message": f.message, "severity": f.severity} for f in findings],
            "error": "",
        }
        reason = _model_abstention(text)
        blocking = [f for f in findings if f.severity == "error"]
        if blocking:
            updates.update(status=AnswerJob.Status.ABSTAINED, abstain_reason="output_withheld", answer_text="",
                           abstain_detail=f"The draft failed an output check and is withheld: {blocking[0].message}")
            text = ""  # nothing of it is kept, not even in the audit trail
        elif reason:
            updates.update(status=AnswerJob.Status.ABSTAINED, abstain_reason=reason[0], abstain_detail=reason[1], answer_text="")
        else:
            citations = _citations(text, job.sources)
            if not citations:
                updates["findings"].append({"kind": "uncited", "message": "the answer cites no source", "severity": "warning"})
            updates["support"] = support.check(text, job.sources)
            for sentence in updates["support"]["sentences"]:
                if not sentence["supported"]:
                    updates["findings"].append({"kind": "unsupported_sentence", "severity": "warning",
                                                "message": f"sentence {sentence['index'] + 1}: {sentence['reason']}"})
            updates.update(status=AnswerJob.Status.SUCCEEDED, answer_text=pseudonyms.restore(text), citations=citations)
    # Only the run that still holds the job records its result (a redelivered duplicate does not).
    with transaction.atomic():  # the final status and its audit record become visible together
        recorded = AnswerJob.objects.filter(pk=job.pk, status=AnswerJob.Status.RUNNING, attempts=attempt).update(**updates)
        job.refresh_from_db()
        if recorded:
            _audit_final(job, output=text)  # the model's own text: pseudonymised
    logger.info("answer_done job=%s status=%s tokens=%s", job.uid, job.status, job.completion_tokens)
    return job


def _judge_answerability(job: AnswerJob, hits: list[SearchHit], attempt: int, timeout: float) -> dict[str, Any]:
    """The answerability step (services/answerability.py), recorded on the job at once; a retried
    attempt reuses the judgement of an earlier one."""
    if job.answerability.get("status") in ("judged", "skipped"):
        record = dict(job.answerability)
        record["abstain"] = record.get("status") == "judged" and record.get("threshold") is not None \
            and record["p_yes"] < record["threshold"]
        return record
    record = answerability.judge(job, hits, timeout)
    stored = {k: v for k, v in record.items() if k != "abstain"}
    AnswerJob.objects.filter(pk=job.pk, attempts=attempt).update(answerability=stored, p_answerable=record.get("p_yes"))
    job.answerability, job.p_answerable = stored, record.get("p_yes")
    logger.info("answerability job=%s status=%s p_yes=%s threshold=%s", job.uid, record["status"], record.get("p_yes"),
                record.get("threshold"))
    return record


def retrieval_abstention(query, hits: list[SearchHit]) -> tuple[str, str] | None:
    """(reason, detail) when the answer abstains before the model: the caller may read no
    collection, or no passage reaches ``ANSWERS.MIN_SIMILARITY`` (per embedding model: services/calibration.py)."""
    best = max((h.dense_similarity or 0.0 for h in hits), default=0.0)
    if not query.collection_ids:
        return "outside_collections", "You may not read any collection that could answer this."
    # No value for this embedding model (govai.E128): the gate is skipped, the later steps still abstain.
    gate = calibration.threshold_or_none("MIN_SIMILARITY") if query.mode != "fulltext" else None
    if not hits or (gate is not None and best < gate):
        return "no_source", f"No passage in the collections you may use is close enough to the question (best similarity {best:.2f})."
    return None


# -- helpers ---------------------------------------------------------------------


def pseudonymise(hooks, text: str, pseudonyms: Pseudonyms, names: list[str] | tuple[str, ...] = ()) -> str:
    """Replace personal data in ``text`` by ``pseudonyms``' placeholders (GOVAI["PII"])."""
    cfg = govai_settings.PII
    if not text or not cfg["ENABLED"]:
        return text
    disabled = set(cfg["DISABLED_KINDS"])
    patterns = [p for p in hooks.pii_patterns() if p.kind not in disabled]
    for found in reversed(detect(text, patterns, names if "PERSON" not in disabled else ())):
        text = text[: found.start] + pseudonyms.placeholder(found.kind, found.value) + text[found.end :]
    return text


def _instructions(hooks, job: AnswerJob) -> list[str]:
    """The text of the instructions the model was given: an answer must not repeat it."""
    texts = [m["content"] for m in job.prompt_messages if m.get("role") == "system"]
    use_case = hooks.use_cases().get(job.use_case)
    if use_case is not None:
        texts += [part for part in re.split(r"\{\w+\}", use_case.user_template) if part.strip()]
    return texts


def _guarded(hooks, text: str, context: dict[str, Any]) -> str:
    findings = hooks.guard_input(text, context)
    blocking = [f for f in findings if f.block]
    if blocking:
        raise InvalidRequest(f"The {context['kind']} was refused: {blocking[0].message}")
    # Replacements (pseudonymisation) from the end backwards so offsets stay valid.
    for finding in sorted((f for f in findings if f.replacement is not None), key=lambda f: f.start, reverse=True):
        text = text[: finding.start] + finding.replacement + text[finding.end :]
    return text


def _abstain(job: AnswerJob, reason: str, detail: str) -> None:
    job.status = AnswerJob.Status.ABSTAINED
    job.abstain_reason = reason
    job.abstain_detail = detail
    job.finished_at = timezone.now()
    job.save()


def _fail(job: AnswerJob, message: str) -> AnswerJob:
    with transaction.atomic():
        AnswerJob.objects.filter(pk=job.pk).update(status=AnswerJob.Status.FAILED, error=message, finished_at=timezone.now())
        job.refresh_from_db()
        _audit_final(job, output="")
    return job


def _passage_refs(sources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Which passages, exactly: chunk, document, version and a hash of the text."""
    return [{"number": s["number"], "chunk_id": s["chunk_id"], "document_id": s["document_id"],
             "document_version": s["document_version"], "sha256": hashlib.sha256(s["text"].encode()).hexdigest()}
            for s in sources]


def _audit_final(job: AnswerJob, *, output: str) -> None:
    cfg = govai_settings.LLM
    audit.record("answer.final", actor=job.actor, outcome=job.status, object_ref=str(job.uid), details={
        "use_case": job.use_case, "prompt_version": job.prompt_version, "model": job.model,
        "parameters": {"max_tokens": cfg["MAX_TOKENS"], "temperature": cfg["TEMPERATURE"]},
        "passages": _passage_refs(job.sources), "cited": [c["number"] for c in job.citations],
        "output": output, "abstain_reason": job.abstain_reason, "answerability": job.answerability, "error": job.error[:2000],
        "findings": job.findings, "tokens": [job.prompt_tokens, job.completion_tokens]})


def _model_abstention(text: str) -> tuple[str, str] | None:
    head = text.lstrip()
    if head.upper().startswith(INSUFFICIENT):
        return "sources_do_not_cover", head[len(INSUFFICIENT):].strip()
    if head.upper().startswith(CONFLICTING):
        return "sources_conflict", head[len(CONFLICTING):].strip()
    return None


def _source(number: int, hit: SearchHit) -> dict[str, Any]:
    return {
        "number": number, "chunk_id": hit.chunk_id, "document_id": hit.document_id, "document_title": hit.document_title,
        "document_version": hit.document_version, "collection": hit.collection, "heading_path": hit.heading_path,
        "page": hit.page, "char_start": hit.char_start, "char_end": hit.char_end, "text": hit.text, "score": hit.score,
        "dense_similarity": hit.dense_similarity, "language": hit.language,
    }


def _hit(source: dict[str, Any]) -> SearchHit:
    return SearchHit(
        chunk_id=source["chunk_id"], document_id=source["document_id"], document_title=source["document_title"],
        document_version=source["document_version"], collection=source["collection"], heading_path=source["heading_path"],
        page=source["page"], char_start=source["char_start"], char_end=source["char_end"], text=source["text"],
        score=source["score"], dense_similarity=source.get("dense_similarity"), language=source.get("language", ""),
    )


def _citations(text: str, sources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each cited marker once, in order of first use, resolved to its passage."""
    seen: list[int] = []
    for match in CITATION.finditer(text):
        number = int(match.group(1))
        if 1 <= number <= len(sources) and number not in seen:
            seen.append(number)
    return [{k: v for k, v in sources[n - 1].items() if k != "text"} | {"marker": f"[{n}]"} for n in seen]

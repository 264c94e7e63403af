"""Suggestions in the case system: a signed case event → the case (REST) and registry data
(zeep, SOAP) → a cited draft by a real Celery worker → written back to the case once →
reviewed. Every remote part is a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import time
import uuid

import pytest

from adapters.soap_registry.plugin import SoapRegistry
from govai_plugin.exceptions import RegistryError, RegistryUnavailable
from govai_plugin.models import AuditEvent, CaseEvent, Suggestion
from govai_plugin.ports import CaseRecord
from govai_plugin.services.access import create_collection
from govai_plugin.services.ingest import ingest_bytes
from govai_plugin.testing.waiting import wait_for
from tests.conftest import CORPUS
from tests.servers.case_system import CaseSystem
from tests.servers.openai_compat import ChatServer
from tests.servers.population_register import PopulationRegister

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "webhook-shared-secret-for-tests"
OTHER_SECRET = "the-other-case-systems-webhook-secret"
REPLY = "The applicant's household income of 850.00 is below the limit, so the benefit applies [1]. The tenancy agreement is missing [2]."
PERSON = {"givenName": "Mari", "familyName": "Maasikas", "dateOfBirth": "1980-01-08", "householdSize": 1, "children": 0,
          "monthlyIncome": "850.00", "address": {"street": "Tamme 5", "municipality": "Northbridge", "postalCode": "10115"}}
CASE = {"title": "Housing benefit application", "type": "housing-benefit",
        "fields": {"applicant_id": "38001085718", "applicant_name": "Mari Maasikas", "requested": "housing benefit", "rent": "450"}}


@pytest.fixture
def rules(transactional_db):
    collection = create_collection("rules")
    for name in ("housing-benefit-policy.md", "housing-benefit-faq.html"):
        ingest_bytes(collection, name, (CORPUS / "en" / name).read_bytes())
    return collection


@pytest.fixture
def remote():
    with ChatServer(reply=REPLY) as llm, PopulationRegister() as register, CaseSystem(SECRET) as cases:
        register.people["38001085718"] = PERSON
        cases.cases["HB-2026-001"] = CASE
        yield llm, register, cases


def webhook_system(cases: CaseSystem, **extra) -> dict:
    """A case system on the generic webhook/REST contract, served by the stand-in ``cases``."""
    return {"ADAPTER": "case-webhook", "SECRET": cases.secret, "CASE_URL": cases.url + "/api/cases/{case_id}",
            "SUGGESTION_URL": cases.url + "/api/cases/{case_id}/suggestions", "TIMEOUT": 2.0, **extra}


def govai(llm, register, systems: dict) -> dict:
    return {
        "LLM": {"BASE_URL": llm.url, "MODEL": "fake-llm-1", "TIMEOUT": 5.0, "RETRY_BACKOFF": 0.05, "MAX_ATTEMPTS": 2},
        "CASES": {"RETRY_BACKOFF": 0.05, "WRITEBACK_ATTEMPTS": 3, "SYSTEMS": systems},
        "REGISTRIES": {"population": {
            "WSDL": register.url + "?wsdl", "OPERATION": "getPerson", "INPUT": {"personalCode": "applicant_id"},
            "OUTPUT_FIELDS": ["householdSize", "children", "monthlyIncome", "address.municipality"], "TIMEOUT": 2.0,
        }},
    }


@pytest.fixture
def configured(settings, remote, rules):
    llm, register, cases = remote
    settings.GOVAI = govai(llm, register, {"casesys": webhook_system(
        cases, CONTEXT_FIELDS=["requested", "rent"], REGISTRIES=["population"], COLLECTIONS=["rules"],
        REVIEWERS=["caseapp", "portal"], WIDGET_CLIENT="portal")})
    return remote


def webhook(live_server) -> str:
    return f"{live_server.url}/api/v1/cases/casesys/events"


def written(cases) -> list[dict]:
    return cases.suggestions.get("HB-2026-001", [])


def test_a_case_event_becomes_a_cited_suggestion_in_the_case_built_from_registry_data(configured, worker, live_server):
    llm, register, cases = configured
    response = cases.send_event(webhook(live_server), {"type": "case.created", "case_id": "HB-2026-001"})
    assert response.status_code == 202, response.text
    suggestion = wait_for(lambda: Suggestion.objects.filter(writeback="done").first(), what="the write-back")
    # the write-back's audit event is the last thing the worker writes: wait for it, not for a moment
    wait_for(lambda: AuditEvent.objects.filter(action="suggestion.writeback", outcome="ok").exists(), what="its audit event")
    assert suggestion.status == "draft" and suggestion.case_ref == "HB-2026-001"
    assert suggestion.context_sources == ["population.householdSize", "population.children", "population.monthlyIncome",
                                          "population.address.municipality"]
    [note] = written(cases)
    assert note["id"] == suggestion.external_ref
    body = note["suggestion"]
    assert body["suggestion_id"] == str(suggestion.uid) and "[1]" in body["text"] and body["label"]
    assert body["citations"][0]["document_title"] and body["citations"][0]["char_end"] > 0
    # what reached the model: the allowlisted case fields and registry fields, nothing else
    prompt = json.dumps(llm.requests[-1]["body"]["messages"])
    assert "monthlyIncome: 850.00" in prompt and "householdSize: 1" in prompt and "municipality: Northbridge" in prompt
    assert "rent: 450" in prompt
    for secret in ("Mari", "Maasikas", "38001085718", "Tamme", "1980-01-08"):
        assert secret not in prompt
    assert register.calls == ["38001085718"]
    event = CaseEvent.objects.get()
    assert event.outcome == "processed"
    assert {e.action for e in AuditEvent.objects.exclude(action="config.changed")} >= {"case.event", "case.event.processed", "suggestion.writeback"}


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"secret": "wrong-secret-of-at-least-32-bytes!"}, 401, "bad_signature"),
        ({"timestamp": int(time.time()) - 3600}, 401, "bad_signature"),
        ({"timestamp": int(time.time()) + 3600}, 401, "bad_signature"),
    ],
)
def test_events_with_a_bad_signature_or_stale_timestamp_are_refused(configured, live_server, change, status, code):
    llm, register, cases = configured
    response = cases.send_event(webhook(live_server), {"type": "case.created", "case_id": "HB-2026-001"}, **change)
    assert response.status_code == status and response.json()["error"] == code
    assert not CaseEvent.objects.exists() and not llm.requests and not register.calls
    assert AuditEvent.objects.filter(action="case.event").get().outcome == code


def test_replayed_malformed_oversized_and_unsigned_events(configured, live_server, settings):
    import requests

    llm, register, cases = configured
    url = webhook(live_server)
    first = cases.send_event(url, {"type": "case.updated", "case_id": "nope"}, event_id="evt-1")
    again = cases.send_event(url, {"type": "case.updated", "case_id": "nope"}, event_id="evt-1")
    assert first.status_code == 202 and again.status_code == 409 and "already received" in again.json()["detail"]
    assert cases.send_event(url, ["not", "an", "object"]).status_code == 400
    assert cases.send_event(url, {"type": "case.created"}).status_code == 400  # no case_id
    assert cases.send_event(url, {"type": "case.created", "case_id": "x" * 501}).status_code == 400
    assert cases.send_event(url, {"type": "case.created", "case_id": "A", "pad": "x" * 300_000}).status_code == 413
    unsigned = requests.post(url, json={"type": "case.created", "case_id": "A"}, timeout=10)
    assert unsigned.status_code == 401 and "X-GovAI-Signature" in unsigned.json()["detail"]
    assert cases.send_event(f"{live_server.url}/api/v1/cases/other/events", {"type": "x"}).status_code == 404
    assert CaseEvent.objects.count() == 1


def test_a_deeply_nested_event_is_refused_with_a_json_400(configured, live_server):
    llm, register, cases = configured
    nested: list = []
    for _ in range(500):  # deeper than safejson's 64 levels (10,000 would crash the sender's own json.dumps)
        nested = [nested]
    response = cases.send_event(webhook(live_server), {"type": "case.created", "case_id": "A", "extra": nested})
    assert response.status_code == 400 and "deeper than 64" in response.json()["detail"], response.content
    assert not CaseEvent.objects.exists()


def test_an_unknown_case_is_recorded_and_nothing_is_drafted(configured, worker, live_server):
    llm, register, cases = configured
    cases.send_event(webhook(live_server), {"type": "case.created", "case_id": "NO-SUCH-CASE"})
    event = wait_for(lambda: CaseEvent.objects.exclude(outcome="received").first())
    assert event.outcome == "unknown_case" and "NO-SUCH-CASE" in event.detail
    assert not Suggestion.objects.exists() and not llm.requests


def test_a_registry_fault_is_final_and_a_registry_outage_is_retried(configured, worker, live_server):
    llm, register, cases = configured
    del register.people["38001085718"]
    cases.send_event(webhook(live_server), {"type": "case.created", "case_id": "HB-2026-001"})
    event = wait_for(lambda: CaseEvent.objects.exclude(outcome="received").first())
    assert event.outcome == "failed" and "fault" in event.detail and event.attempts == 1
    register.people["38001085718"] = PERSON
    register.mode = "503"
    cases.send_event(webhook(live_server), {"type": "case.updated", "case_id": "HB-2026-001"})
    event = wait_for(lambda: CaseEvent.objects.filter(event_type="case.updated").exclude(outcome="received").first())
    assert event.outcome == "failed" and event.attempts == 3 and "gave up after 3 attempts" in event.detail
    assert not Suggestion.objects.exists() and not llm.requests


def test_a_failed_write_back_is_retried_and_written_once(configured, worker, live_server):
    llm, register, cases = configured
    cases.fail_writes = 2
    cases.send_event(webhook(live_server), {"type": "case.created", "case_id": "HB-2026-001"})
    suggestion = wait_for(lambda: Suggestion.objects.filter(writeback="done").first())
    assert suggestion.writeback_attempts == 3 and len(written(cases)) == 1
    keys = [r["headers"]["Idempotency-Key"] for r in cases.requests if r["method"] == "POST"]
    assert keys == [suggestion.idempotency_key] * 3
    # a redelivered write-back task changes nothing
    from govai_plugin.services.suggestions import write_back

    write_back(suggestion.pk, attempt=1, last_attempt=True)
    assert len(written(cases)) == 1


def test_a_write_back_the_case_system_rejects_is_recorded_and_the_draft_stays_reviewable(configured, worker, live_server):
    llm, register, cases = configured
    cases.reject_writes = True
    cases.send_event(webhook(live_server), {"type": "case.created", "case_id": "HB-2026-001"})
    suggestion = wait_for(lambda: Suggestion.objects.filter(writeback="failed").first())
    assert "422" in suggestion.writeback_error and suggestion.status == "draft" and suggestion.writeback_attempts == 1


@pytest.fixture
def drafted(configured, worker, live_server):
    llm, register, cases = configured
    cases.send_event(webhook(live_server), {"type": "case.created", "case_id": "HB-2026-001"})
    return wait_for(lambda: Suggestion.objects.filter(writeback="done").first())


def test_review_through_the_api_accept_edit_reject(drafted, rules, api_client_factory):
    reviewer = api_client_factory("caseapp", read=[rules], can_review_suggestions=True)
    outsider = api_client_factory("outsider", read=[rules])
    url = f"/api/v1/suggestions/{drafted.uid}"
    assert outsider.get(url).status_code == 403
    shown = reviewer.get(url).json()
    assert shown["status"] == "draft" and "[1]" in shown["text"] and shown["citations"] and shown["sources"] and shown["label"]
    bad = [
        ({"action": "approve", "reviewer": "kask"}, "action"),
        ({"action": "accept"}, "reviewer"),
        ({"action": "edit", "reviewer": "kask"}, "edited text"),
        ({"action": "edit", "reviewer": "kask", "text": " \n "}, "edited text"),
        ({"action": "edit", "reviewer": "kask", "text": shown["text"]}, "edited text"),
        ({"action": "reject", "reviewer": "kask"}, "reason"),
        ({"action": "reject", "reviewer": "kask", "reason": "  "}, "reason"),
        (["accept"], "action"),
        ({"action": "edit", "reviewer": "kask", "text": "x" * 50_001}, "text"),
    ]
    for body, word in bad:
        response = reviewer.post(url + "/decision", body, format="json")
        assert response.status_code == 400 and word in json.dumps(response.json()), (body, response.json())
    edited = shown["text"].replace("is missing", "must be requested from the applicant")
    response = reviewer.post(url + "/decision", {"action": "edit", "reviewer": "kask", "text": edited}, format="json")
    assert response.status_code == 200
    decided = response.json()
    assert decided["status"] == "edited" and decided["final_text"] == edited and decided["decided_via"] == "api"
    assert "-" in decided["diff"] and "+" in decided["diff"] and "must be requested" in decided["diff"]
    again = reviewer.post(url + "/decision", {"action": "accept", "reviewer": "kask"}, format="json")
    assert again.status_code == 400 and "only a draft" in again.json()["detail"]
    assert AuditEvent.objects.get(action="suggestion.decision").outcome == "edit"


@pytest.mark.parametrize("query", [
    "case=%00", "status=%00", "system=%00", "case=HB%00-1", "status=draft%00",  # NUL: PostgreSQL text cannot hold it
    "status=approved", "status=DRAFT",  # not a status
    pytest.param("case=" + "x" * 501, id="case=501-chars"),  # longer than any stored value
    pytest.param("case=" + "x" * 20_000, id="case=20000-chars"),
    pytest.param("system=" + "s" * 65, id="system=65-chars"),
])
def test_hostile_list_filters_are_a_json_400(api_client_factory, query):
    reviewer = api_client_factory("caseapp", can_review_suggestions=True)
    response = reviewer.get(f"/api/v1/suggestions?{query}")
    assert response.status_code == 400, (query, response.content[:200])
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"] == "invalid_request" and body["detail"] and body["fields"]


@pytest.mark.parametrize("query", [
    "system=&case=&status=",  # empty: no filter
    "unknown=%00",  # not a parameter of this list
    "case=%ED%A0%80%01",  # not UTF-8 (read as U+FFFD) and a control character: a value no case has
])
def test_harmless_odd_list_filters_give_an_empty_list(api_client_factory, query):
    reviewer = api_client_factory("caseapp", can_review_suggestions=True)
    response = reviewer.get(f"/api/v1/suggestions?{query}")
    assert response.status_code == 200 and response.json() == []


def test_the_schema_says_what_each_decision_needs(client):
    schema = client.get("/api/v1/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    components = schema["components"]["schemas"]
    body = schema["paths"]["/api/v1/suggestions/{uid}/decision"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/DecisionRequest"}
    assert components["DecisionRequest"]["discriminator"] == {"propertyName": "action", "mapping": {
        action: f"#/components/schemas/{action.title()}DecisionRequest" for action in ("accept", "edit", "reject")}}
    edit, reject = components["EditDecisionRequest"], components["RejectDecisionRequest"]
    assert {"action", "text"} <= set(edit["required"]) and edit["properties"]["text"]["pattern"] == r"\S"
    assert {"action", "reason"} <= set(reject["required"]) and reject["properties"]["reason"]["pattern"] == r"\S"
    assert components["AcceptDecisionRequest"]["required"] == ["action"]
    parameters = {p["name"]: p["schema"] for p in schema["paths"]["/api/v1/suggestions"]["get"]["parameters"]}
    assert parameters["status"]["enum"] == ["", "drafting", "draft", "accepted", "edited", "rejected", "failed"]
    # a value without NUL characters, or empty (no filter)
    assert parameters["case"]["oneOf"] == [{"type": "string", "maxLength": 500, "pattern": r"^[^\u0000]+$"},
                                           {"type": "string", "maxLength": 0}]
    assert parameters["system"]["oneOf"][0]["maxLength"] == 64


# --- who may see a suggestion: two case systems, two collections ------------------------------------------------


HOUSING_NOTE = """# Housing benefit application: rent and household

A housing benefit application states the monthly rent, the household size and the monthly income
of the applicant. The housing benefit is paid for the rent of the dwelling the applicant lives in.
"""


@pytest.fixture
def two_systems(settings, remote, rules, worker, live_server):
    """Three drafted suggestions for the same case number: casesys drafts from collection "rules" (A);
    othersys, another case system, from "rules" and "other" (B, a note on the same topic that "rules"
    lacks), so its sources come from both; quietsys searches an empty collection and abstains with
    no sources. (Copies of A's documents in B would tie with A's and leave the order to chance.)"""
    llm, register, cases = remote
    other = create_collection("other")
    ingest_bytes(other, "housing-benefit-rent-note.md", HOUSING_NOTE.encode())
    create_collection("empty")
    with CaseSystem(OTHER_SECRET) as second:
        cases.cases["HB-2026-001"] = second.cases["HB-2026-001"] = CASE
        everyone = ["reads-a", "reads-b", "reads-both", "portal"]
        settings.GOVAI = govai(llm, register, {
            "casesys": webhook_system(cases, COLLECTIONS=["rules"], REVIEWERS=everyone + ["reads-both-casesys-only"],
                                      WIDGET_CLIENT="portal"),
            "othersys": webhook_system(second, COLLECTIONS=["rules", "other"], REVIEWERS=everyone, WIDGET_CLIENT="portal"),
            "quietsys": webhook_system(second, COLLECTIONS=["empty"], REVIEWERS=everyone + ["portal-quiet"],
                                       WIDGET_CLIENT="portal-quiet"),
        })
        for system, sender in (("casesys", cases), ("othersys", second), ("quietsys", second)):
            response = sender.send_event(f"{live_server.url}/api/v1/cases/{system}/events",
                                         {"type": "case.created", "case_id": "HB-2026-001"})
            assert response.status_code == 202, response.text
        wait_for(lambda: Suggestion.objects.filter(writeback="done").count() == 3, what="three written-back suggestions")
        drafted = {s.system: s for s in Suggestion.objects.select_related("answer_job")}
        sources = {name: {src["collection"] for src in s.answer_job.sources} for name, s in drafted.items()}
        assert sources == {"casesys": {"rules"}, "othersys": {"rules", "other"}, "quietsys": set()}, sources
        assert drafted["quietsys"].answer_job.status == "abstained" and drafted["quietsys"].status == "draft"
        yield drafted


#: client -> the case systems whose suggestion it may see (the rule: its case system names the
#: client in REVIEWERS, and the client reads every collection the sources came from)
VISIBLE = {
    "reads-a": {"casesys", "quietsys"},  # not othersys: part of its sources are in "other"
    "reads-b": {"quietsys"},  # not othersys either: reading one of its collections is not enough
    "reads-both": {"casesys", "othersys", "quietsys"},
    "reads-both-casesys-only": {"casesys"},  # reads everything, but only casesys granted it
    "no-case-system": set(),  # reads everything, no case system names it: not even the abstention
}


@pytest.fixture
def reviewers(two_systems, api_client_factory):
    from govai_plugin.models import Collection

    a, b = Collection.objects.get(slug="rules"), Collection.objects.get(slug="other")
    reads = {"reads-a": [a], "reads-b": [b], "reads-both": [a, b], "reads-both-casesys-only": [a, b], "no-case-system": [a, b]}
    return {name: api_client_factory(name, read=collections, can_review_suggestions=True) for name, collections in reads.items()}


def test_a_client_sees_only_suggestions_of_its_case_systems_drawn_from_collections_it_reads(two_systems, reviewers):
    missing = reviewers["reads-both"].get(f"/api/v1/suggestions/{uuid.uuid4()}")
    for name, http in reviewers.items():
        listed = {s["system"] for s in http.get("/api/v1/suggestions").json()}
        assert listed == VISIBLE[name], name
        assert {s["system"] for s in http.get("/api/v1/suggestions?case=HB-2026-001&status=draft").json()} == VISIBLE[name]
        for system, suggestion in two_systems.items():
            url = f"/api/v1/suggestions/{suggestion.uid}"
            by_system = http.get(f"/api/v1/suggestions?system={system}").json()
            detail, stream = http.get(url), http.get(url + "/stream")
            if system in VISIBLE[name]:
                assert [s["id"] for s in by_system] == [str(suggestion.uid)]
                assert detail.status_code == 200 and detail.json()["text"], (name, system)
                assert stream.status_code == 200 and b"event: done" in b"".join(stream.streaming_content)
            else:
                assert by_system == [], (name, system)
                # refused exactly like an id that does not exist: nothing says it is there
                assert (detail.status_code, detail.json()) == (404, missing.json()), (name, system)
                assert stream.status_code == 404 and stream.json() == missing.json(), (name, system)


def test_only_a_client_that_may_see_a_suggestion_can_decide_it(two_systems, reviewers):
    theirs = two_systems["othersys"]
    url = f"/api/v1/suggestions/{theirs.uid}/decision"
    for name in ("reads-a", "reads-b", "reads-both-casesys-only", "no-case-system"):
        for body in ({"action": "accept", "reviewer": "kask"}, {"action": "reject", "reviewer": "kask", "reason": "no"},
                     {"action": "edit", "reviewer": "kask", "text": "Something else [1]."}):
            response = reviewers[name].post(url, body, format="json")
            assert response.status_code == 404 and response.json()["error"] == "not_found", (name, body)
    theirs.refresh_from_db()
    assert theirs.status == "draft" and not AuditEvent.objects.filter(action="suggestion.decision").exists()
    accepted = reviewers["reads-both"].post(url, {"action": "accept", "reviewer": "kask"}, format="json")
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    # a suggestion without sources: the case-system grant is enough
    quiet = reviewers["reads-b"].post(f"/api/v1/suggestions/{two_systems['quietsys'].uid}/decision",
                                      {"action": "reject", "reviewer": "kask", "reason": "No rules found."}, format="json")
    assert quiet.status_code == 200 and quiet.json()["status"] == "rejected"
    assert AuditEvent.objects.filter(action="suggestion.decision").count() == 2


def test_the_case_system_can_send_the_decision(drafted, configured, live_server):
    llm, register, cases = configured
    response = cases.send_event(webhook(live_server), {"type": "suggestion.decided", "suggestion_id": str(drafted.uid),
                                                       "action": "reject", "reviewer": "EE38001085718",
                                                       "reason": "The applicant withdrew the application."})
    assert response.status_code == 202
    drafted = wait_for(lambda: Suggestion.objects.filter(pk=drafted.pk, status="rejected").first())
    assert drafted.decided_via == "case_system" and drafted.reason == "The applicant withdrew the application."


def test_a_new_version_of_a_cited_document_flags_the_suggestion_for_re_review(drafted, rules):
    cited = drafted.answer_job.citations[0]["document_title"]
    name = "housing-benefit-policy.md" if "Policy" in cited else "housing-benefit-faq.html"
    text = (CORPUS / "en" / name).read_text() + "\n\nAmended on 1 December 2026: the income limit is raised.\n"
    ingest_bytes(rules, name, text.encode())
    drafted.refresh_from_db()
    assert drafted.needs_review and "new version (2)" in drafted.review_flag


def test_the_registry_adapter_returns_only_allowlisted_fields_and_maps_errors(settings):
    with PopulationRegister() as register:
        register.people["38001085718"] = PERSON
        cfg = {"WSDL": register.url + "?wsdl", "OPERATION": "getPerson", "INPUT": {"personalCode": "applicant_id"},
               "OUTPUT_FIELDS": ["monthlyIncome", "address.municipality", "householdSize"], "TIMEOUT": 1.0, "CACHE_SECONDS": 60}
        registry = SoapRegistry("population", cfg)
        case = CaseRecord("HB-1", fields={"applicant_id": "38001085718"})
        assert registry.lookup(case) == {"monthlyIncome": "850.00", "address.municipality": "Northbridge", "householdSize": 1}
        registry.lookup(case)
        assert register.calls == ["38001085718"]  # the second lookup came from the cache
        assert registry.lookup(CaseRecord("HB-2", fields={})) == {}  # nothing to look up with
        uncached = SoapRegistry("population", {**cfg, "CACHE_SECONDS": 0})
        with pytest.raises(RegistryError, match="fault"):
            uncached.lookup(CaseRecord("HB-3", fields={"applicant_id": "00000000000"}))
        register.mode = "slow"
        with pytest.raises(RegistryUnavailable, match="did not answer"):
            uncached.lookup(case)
        register.mode = "503"
        with pytest.raises(RegistryUnavailable, match="503"):
            uncached.lookup(case)
        register.mode = "garbage"
        with pytest.raises(RegistryError):
            uncached.lookup(case)


def test_a_zgw_case_gets_the_suggestion_as_a_linked_document(settings, remote, rules, worker, live_server):
    from tests.servers.zgw import ZGWServer

    llm, register, _ = remote
    with ZGWServer("govai", "zgw-secret-of-at-least-32-bytes-long") as zgw:
        zaak = zgw.add_zaak("Aanvraag huurtoeslag (housing benefit application)",
                            {"applicant_id": "38001085718", "requested": "housing benefit", "rent": "450"})
        settings.GOVAI = {
            "LLM": {"BASE_URL": llm.url, "MODEL": "fake-llm-1", "TIMEOUT": 5.0, "RETRY_BACKOFF": 0.05, "MAX_ATTEMPTS": 2},
            "CASES": {"RETRY_BACKOFF": 0.05, "WRITEBACK_ATTEMPTS": 3, "SYSTEMS": {"openzaak": {
                "ADAPTER": "zgw", "SECRET": SECRET, "ZAKEN_API": zgw.url + "/zaken/api/v1",
                "DOCUMENTEN_API": zgw.url + "/documenten/api/v1", "CLIENT_ID": "govai", "SECRET_KEY": "zgw-secret-of-at-least-32-bytes-long",
                "BRONORGANISATIE": "002220647", "INFORMATIEOBJECTTYPE": zgw.url + "/catalogi/api/v1/informatieobjecttypen/7",
                "CONTEXT_FIELDS": ["requested", "rent"], "REGISTRIES": ["population"], "COLLECTIONS": ["rules"],
            }}},
            "REGISTRIES": {"population": {"WSDL": register.url + "?wsdl", "OPERATION": "getPerson",
                                          "INPUT": {"personalCode": "applicant_id"}, "OUTPUT_FIELDS": ["monthlyIncome"]}},
        }
        zgw.fail_posts = 1  # the first write fails: the retry must not write twice
        sender = CaseSystem(SECRET)
        response = sender.send_event(f"{live_server.url}/api/v1/cases/openzaak/events", {"type": "case.created", "case_id": zaak})
        assert response.status_code == 202, response.text
        suggestion = wait_for(lambda: Suggestion.objects.filter(system="openzaak").exclude(writeback="pending").first())
        assert suggestion.writeback == "done", suggestion.writeback_error
        [document] = zgw.documents
        [link] = zgw.links
        assert link["zaak"].endswith(zaak) and link["informatieobject"] == document["url"] == suggestion.external_ref
        text = base64.b64decode(document["inhoud"]).decode()
        assert "[1]" in text and "Sources:" in text and document["informatieobjecttype"].endswith("/7")
        assert all(c["client_id"] == "govai" and c["user_id"] for c in zgw.seen_claims)
        assert "monthlyIncome: 850.00" in json.dumps(llm.requests[-1]["body"]["messages"])
        # a repeated write-back (a redelivered task) finds the document and the link: nothing new
        from govai_plugin.services import suggestions as service

        Suggestion.objects.filter(pk=suggestion.pk).update(writeback="pending")
        service.write_back(suggestion.pk, attempt=1, last_attempt=True)
        assert len(zgw.documents) == 1 and len(zgw.links) == 1
        # reading the zaak again shows the linked document with its title
        from govai_plugin.services.suggestions import case_system

        case = case_system("openzaak").read_case(zaak)
        assert case.fields["rent"] == "450" and case.documents[0]["title"].startswith("AI-suggestie")


def test_the_zgw_adapter_refuses_bad_configuration_and_maps_errors():
    from adapters.zgw.plugin import ZGWCaseSystem
    from govai_plugin.exceptions import CaseSystemUnavailable, ConfigurationError, NotFound
    from tests.servers.zgw import ZGWServer

    with pytest.raises(ConfigurationError, match="RSIN"):
        ZGWCaseSystem("z", {"ZAKEN_API": "http://x", "DOCUMENTEN_API": "http://x", "CLIENT_ID": "c", "SECRET_KEY": "s",
                            "BRONORGANISATIE": "123", "INFORMATIEOBJECTTYPE": "http://x/t"})
    with ZGWServer("govai", "right-secret-of-at-least-32-bytes!") as zgw:
        cfg = {"ZAKEN_API": zgw.url + "/zaken/api/v1", "DOCUMENTEN_API": zgw.url + "/documenten/api/v1", "CLIENT_ID": "govai",
               "SECRET_KEY": "wrong-secret-of-at-least-32-bytes!", "BRONORGANISATIE": "002220647", "INFORMATIEOBJECTTYPE": zgw.url + "/t"}
        zaak = zgw.add_zaak("x", {})
        from govai_plugin.exceptions import CaseSystemError

        with pytest.raises(CaseSystemError, match="403"):
            ZGWCaseSystem("z", cfg).read_case(zaak)
        good = ZGWCaseSystem("z", {**cfg, "SECRET_KEY": "right-secret-of-at-least-32-bytes!"})
        with pytest.raises(NotFound):
            good.read_case(str(uuid.uuid4()))
        assert good.read_case(zaak).title == "x"
    with pytest.raises(CaseSystemUnavailable):
        ZGWCaseSystem("z", {**cfg, "SECRET_KEY": "right-secret-of-at-least-32-bytes!"}).read_case(zaak)  # the server is gone


def test_a_registry_can_be_read_through_xroad_with_its_headers(settings):
    from govai_plugin.services.suggestions import registry
    from tests.servers.security_server import SecurityServer

    with PopulationRegister() as register, SecurityServer() as ss:
        register.people["38001085718"] = PERSON
        ss.add_service("EE/GOV/70000010/rr/getPerson", "WSDL", register.url, description=register.url + "?wsdl",
                       allow=("EE/GOV/70000002/portal",))
        population = {"WSDL": register.url + "?wsdl", "OPERATION": "getPerson", "INPUT": {"personalCode": "applicant_id"},
                      "OUTPUT_FIELDS": ["monthlyIncome"], "XROAD_SERVICE": "EE/GOV/70000010/rr/getPerson", "TIMEOUT": 5.0}
        settings.GOVAI = {"XROAD": {"SECURITY_SERVER_URL": ss.url, "CLIENT_ID": "EE/GOV/70000002/portal"},
                          "REGISTRIES": {"population": population}}
        case = CaseRecord("HB-1", fields={"applicant_id": "38001085718"})
        assert registry("population").lookup(case) == {"monthlyIncome": "850.00"}
        from lxml import etree

        header = etree.fromstring(ss.forwarded[-1]["body"]).find("{http://schemas.xmlsoap.org/soap/envelope/}Header")
        xrd, ident = "{http://x-road.eu/xsd/xroad.xsd}", "{http://x-road.eu/xsd/identifiers}"
        assert [etree.QName(e).localname for e in header] == ["client", "service", "id", "protocolVersion"]
        assert header.findtext(f"{xrd}client/{ident}memberCode") == "70000002"
        assert header.findtext(f"{xrd}service/{ident}serviceCode") == "getPerson"
        assert header.findtext(f"{xrd}protocolVersion") == "4.0"
        settings.GOVAI = {"XROAD": {"SECURITY_SERVER_URL": ss.url, "CLIENT_ID": "EE/COM/80000003/shop"},
                          "REGISTRIES": {"population": population}}
        with pytest.raises(RegistryError, match="(?i)access_?denied"):
            registry("population").lookup(case)


def test_decisions_recorded_in_the_case_system_are_pulled_and_failed_write_backs_sent_again(configured, worker, live_server,
                                                                                             settings):
    from django.core.management import call_command

    llm, register, cases = configured
    settings.GOVAI["CASES"]["SYSTEMS"]["casesys"]["DECISION_URL"] = cases.url + "/api/cases/{case_id}/suggestions/{suggestion_ref}/decision"
    cases.reject_writes = True
    cases.send_event(webhook(live_server), {"type": "case.created", "case_id": "HB-2026-001"})
    suggestion = wait_for(lambda: Suggestion.objects.filter(writeback="failed").first())
    cases.reject_writes = False  # the case system was fixed
    call_command("govai_cases", "retry-writebacks")
    suggestion = wait_for(lambda: Suggestion.objects.filter(pk=suggestion.pk, writeback="done").first())
    assert len(written(cases)) == 1
    call_command("govai_cases", "pull-decisions")  # nothing decided yet
    assert Suggestion.objects.get(pk=suggestion.pk).status == "draft"
    cases.decisions[suggestion.external_ref] = {"action": "accept", "reviewer": "EE38001085718"}
    from io import StringIO

    out = StringIO()
    call_command("govai_cases", "pull-decisions", stdout=out)
    assert "1 decision(s) recorded" in out.getvalue()
    suggestion.refresh_from_db()
    assert suggestion.status == "accepted" and suggestion.decided_via == "case_system" and suggestion.reviewer == "EE38001085718"
    listing = StringIO()
    call_command("govai_cases", "suggestions", "--case", "HB-2026-001", stdout=listing)
    assert str(suggestion.uid) in listing.getvalue() and "accepted" in listing.getvalue()

"""The REST provider as the Security Server reaches it: headers, grants, audit, limits,
and the OpenAPI descriptions to register. End-to-end calls through the stand-in are
in test_end_to_end.py."""

from __future__ import annotations

import io
import json
import uuid

import pytest
from django.core.cache import cache
from django.test import Client
from drf_spectacular.validation import validate_schema

from adapters.xroad.identifiers import RESERVED_SERVICE_CODES
from adapters.xroad.models import XRoadClient
from govai_plugin.hooks import hookimpl
from govai_plugin.hooks.manager import get_plugin_manager
from govai_plugin.models import AnswerJob, AuditEvent
from tests.adapters.xroad.conftest import PORTAL, QUESTION, STRANGER

pytestmark = pytest.mark.django_db(transaction=True)

ASK = "/xroad/rest/ask/answers"
SEARCH = "/xroad/rest/search/passages"


def xroad_headers(client: str | None = PORTAL, **extra: str) -> dict[str, str]:
    """What a Security Server forwards: X-Road-Client, X-Road-Id, X-Road-Request-Id (+ optional ones)."""
    meta = {"HTTP_X_ROAD_ID": str(uuid.uuid4()), "HTTP_X_ROAD_REQUEST_ID": str(uuid.uuid4())}
    if client is not None:
        meta["HTTP_X_ROAD_CLIENT"] = client
    meta.update({f"HTTP_{k.upper().replace('-', '_')}": v for k, v in extra.items()})
    return meta


@pytest.fixture
def http(xroad_settings, rules):
    return Client()


def post(http, path, body, **meta):
    return http.post(path, json.dumps(body), content_type="application/json", **meta)


def test_search_with_a_granted_client_returns_passages_and_is_audited(http):
    meta = xroad_headers(x_road_userid="EE38001085718", x_road_issue="CASE-2026-17", x_road_represented_party="COM/12345")
    response = post(http, SEARCH, {"query": "decision time housing benefit"}, **meta)
    assert response.status_code == 200, response.content
    hits = response.json()["hits"]
    assert hits and all(h["collection"] == "rules" for h in hits)
    event = AuditEvent.objects.get(action="xroad.rest.search")
    assert event.actor == f"xroad:{PORTAL}" and event.outcome == "ok" and event.user_id == "EE38001085718"
    assert event.details["message_id"] == meta["HTTP_X_ROAD_ID"]
    assert event.details["request_id"] == meta["HTTP_X_ROAD_REQUEST_ID"]
    assert event.details["issue"] == "CASE-2026-17" and event.details["represented_party"] == "COM/12345"


def test_ask_records_the_xroad_client_as_the_actor(http, llm, worker):
    response = post(http, ASK + "?wait=20", {"question": QUESTION}, **xroad_headers())
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "succeeded" and body["citations"][0]["document_title"]
    job = AnswerJob.objects.get(uid=body["id"])
    assert job.actor == f"xroad:{PORTAL}"
    assert AuditEvent.objects.get(action="xroad.rest.ask").object_ref == body["id"]


def test_ask_without_waiting_gives_a_job_path_relative_to_the_service(http, llm, worker):
    response = post(http, ASK, {"question": QUESTION}, **xroad_headers())
    assert response.status_code == 202
    body = response.json()
    assert body["url"] == f"answers/{body['id']}" and response["Location"] == body["url"]
    job = http.get(f"/xroad/rest/ask/{body['url']}", **xroad_headers())
    assert job.status_code == 200 and job.json()["id"] == body["id"]


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        (xroad_headers(client=None), "X-Road-Client: missing"),
        (xroad_headers(client="EE/GOV"), "X-Road-Client"),
        (xroad_headers(client="EE/GOV/70000002/portal/extra"), "X-Road-Client"),
        (xroad_headers(client="EE/GOV/7000 0002/portal"), "Invalid member code"),
        (xroad_headers(client="EE/GOV/70000002/por;tal"), "Invalid subsystem code"),
        (xroad_headers(client="EE/GOV/%ZZ/portal"), "X-Road-Client"),
        ({**xroad_headers(), "HTTP_X_ROAD_ID": ""}, "X-Road-Id: missing"),
        ({**xroad_headers(), "HTTP_X_ROAD_ID": "a b"}, "X-Road-Id"),
        ({**xroad_headers(), "HTTP_X_ROAD_ID": "x" * 256}, "X-Road-Id"),
        (xroad_headers(x_road_userid="EE 3800"), "X-Road-UserId"),
        (xroad_headers(x_road_issue="line\x01break"), "X-Road-Issue"),
        (xroad_headers(x_road_issue="i" * 1001), "X-Road-Issue"),
        (xroad_headers(x_road_represented_party="A/B/C"), "X-Road-Represented-Party"),
        (xroad_headers(x_road_represented_party="COM/12 345"), "X-Road-Represented-Party"),
    ],
)
def test_malformed_xroad_headers_are_refused_with_400_and_audited(http, meta, message):
    response = post(http, SEARCH, {"query": "housing"}, **meta)
    assert response.status_code == 400, response.content
    assert message in response.json()["detail"]
    event = AuditEvent.objects.filter(action__startswith="xroad.").get()
    assert event.outcome == "bad_header" and event.details["status"] == 400


def test_a_client_nobody_granted_is_refused_with_403(http):
    response = post(http, SEARCH, {"query": "housing"}, **xroad_headers(client=STRANGER))
    assert response.status_code == 403
    assert STRANGER in response.json()["detail"]
    assert AuditEvent.objects.filter(action__startswith="xroad.").get().outcome == "access_denied"


def test_a_client_may_use_only_the_services_it_was_granted(http, xroad_settings, llm):
    xroad_settings.GOVAI = {**xroad_settings.GOVAI, "XROAD": {"CLIENTS": {PORTAL: {"services": ["search"], "collections": ["rules"]}}}}
    assert post(http, SEARCH, {"query": "housing"}, **xroad_headers()).status_code == 200
    refused = post(http, ASK, {"question": QUESTION}, **xroad_headers())
    assert refused.status_code == 403 and "'ask'" in refused.json()["detail"]
    assert not AnswerJob.objects.exists()


def test_a_grant_to_a_member_covers_its_subsystems_and_the_admin_can_disable_it(http, xroad_settings):
    xroad_settings.GOVAI = {**xroad_settings.GOVAI, "XROAD": {"CLIENTS": {}}}
    from adapters.xroad.access import ensure_api_client, set_collections

    row = XRoadClient.objects.create(identifier="EE/GOV/70000009", services=["search"],
                                     api_client=ensure_api_client("EE/GOV/70000009"))
    set_collections(row, ["rules"])
    assert post(http, SEARCH, {"query": "housing"}, **xroad_headers(client="EE/GOV/70000009/any-subsystem")).status_code == 200
    row.is_active = False
    row.save()
    assert post(http, SEARCH, {"query": "housing"}, **xroad_headers(client="EE/GOV/70000009/any-subsystem")).status_code == 403


def test_collections_outside_the_grant_are_not_searchable(http):
    response = post(http, SEARCH, {"query": "housing", "collections": ["secret"]}, **xroad_headers())
    assert response.status_code == 404


def test_settings_decide_the_grant_of_the_clients_they_name(http, xroad_settings):
    post(http, SEARCH, {"query": "housing"}, **xroad_headers())
    row = XRoadClient.objects.get(identifier=PORTAL)
    assert row.from_settings and list(row.api_client.collections.values_list("slug", flat=True)) == ["rules"]
    xroad_settings.GOVAI = {**xroad_settings.GOVAI, "XROAD": {"CLIENTS": {PORTAL: {"services": ["search"], "collections": []}}}}
    response = post(http, SEARCH, {"query": "housing"}, **xroad_headers())
    assert response.status_code == 200 and response.json()["hits"] == []


def test_calls_from_outside_the_security_server_addresses_are_refused(http, xroad_settings):
    xroad_settings.GOVAI = {**xroad_settings.GOVAI, "XROAD": {**xroad_settings.GOVAI["XROAD"], "ALLOWED_ADDRESSES": ["10.1.2.3/32"]}}
    response = post(http, SEARCH, {"query": "housing"}, **xroad_headers())
    assert response.status_code == 403 and "Security Server address" in response.json()["detail"]
    assert AuditEvent.objects.filter(action__startswith="xroad.").get().outcome == "address_not_allowed"


def test_oversized_malformed_and_hostile_bodies(http, xroad_settings):
    xroad_settings.GOVAI = {**xroad_settings.GOVAI, "XROAD": {**xroad_settings.GOVAI["XROAD"], "MAX_BODY_BYTES": 2000}}
    big = post(http, SEARCH, {"query": "x" * 5000}, **xroad_headers())
    assert big.status_code == 413 and "2,000 bytes" in big.json()["detail"]
    broken = http.post(SEARCH, "{not json", content_type="application/json", **xroad_headers())
    assert broken.status_code == 400
    wrong = post(http, ASK, {"question": ["not", "a", "string"]}, **xroad_headers())
    assert wrong.status_code == 400
    empty = post(http, ASK, {"question": "   "}, **xroad_headers())
    assert empty.status_code == 400 and "question" in json.dumps(empty.json())  # named, whichever layer refuses it
    injected = post(http, SEARCH, {"query": "'; DROP TABLE govai_plugin_chunk; --"}, **xroad_headers())
    assert injected.status_code == 200
    assert not AnswerJob.objects.exists()
    assert [e.outcome for e in AuditEvent.objects.filter(action__startswith="xroad.")] == ["too_large", "parse_error", "invalid_request", "invalid_request", "ok"]


def test_a_client_sees_only_its_own_jobs(http, xroad_settings, llm, worker):
    job = post(http, ASK, {"question": QUESTION}, **xroad_headers()).json()
    xroad_settings.GOVAI = {**xroad_settings.GOVAI, "XROAD": {"CLIENTS": {
        PORTAL: {"services": ["ask"], "collections": ["rules"]},
        "EE/GOV/70000004/other": {"services": ["ask"], "collections": ["rules"]}}}}
    other = http.get(f"/xroad/rest/ask/answers/{job['id']}", **xroad_headers(client="EE/GOV/70000004/other"))
    assert other.status_code == 404


@pytest.mark.parametrize(("service", "paths"), [("ask", {"/answers", "/answers/{uid}"}), ("search", {"/passages"})])
def test_each_service_has_a_valid_openapi_3_description_to_register(xroad_settings, service, paths):
    response = Client().get(f"/xroad/openapi/{service}?format=json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    validate_schema(schema)
    assert schema["openapi"].startswith("3.") and set(schema["paths"]) == paths
    assert schema["components"]["securitySchemes"]["XRoadClient"]["name"] == "X-Road-Client"
    operation_ids = {op["operationId"] for item in schema["paths"].values() for op in item.values()}
    assert not operation_ids & RESERVED_SERVICE_CODES


def test_an_administrator_grants_a_client_in_the_admin(http, xroad_settings, django_user_model):
    xroad_settings.GOVAI = {**xroad_settings.GOVAI, "XROAD": {"CLIENTS": {}}}
    admin = django_user_model.objects.create_superuser("admin", "admin@example.gov", "pw")
    browser = Client()
    browser.force_login(admin)
    from govai_plugin.models import Collection

    rules = Collection.objects.get(slug="rules")
    form = {"identifier": "EE/GOV/70000005/caseapp", "services": '["search"]', "is_active": "on", "note": "pilot",
            "collections": [rules.pk]}
    response = browser.post("/admin/govai_xroad/xroadclient/add/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    row = XRoadClient.objects.get(identifier="EE/GOV/70000005/caseapp")
    assert list(row.api_client.collections.values_list("slug", flat=True)) == ["rules"]
    assert post(http, SEARCH, {"query": "housing"}, **xroad_headers(client="EE/GOV/70000005/caseapp")).status_code == 200
    bad = browser.post("/admin/govai_xroad/xroadclient/add/", {**form, "identifier": "EE/GOV"})
    assert bad.status_code == 200 and "INSTANCE/CLASS/MEMBER" in bad.content.decode()
    bad = browser.post("/admin/govai_xroad/xroadclient/add/", {**form, "identifier": "EE/GOV/1/x", "services": '["delete"]'})
    assert bad.status_code == 200 and not XRoadClient.objects.filter(identifier="EE/GOV/1/x").exists()


def chunked(http, path, data: bytes, **meta):
    """A chunked request as a chunk-decoding WSGI server (gunicorn) hands it to Django."""
    environ = {"CONTENT_TYPE": "application/json", "CONTENT_LENGTH": "", "HTTP_TRANSFER_ENCODING": "chunked",
               "wsgi.input": io.BytesIO(data), "wsgi.input_terminated": True, **meta}
    return http.post(path, **environ)


def test_a_chunked_body_is_read_up_to_the_size_limit(http, xroad_settings):
    response = chunked(http, SEARCH, json.dumps({"query": "decision time housing benefit"}).encode(), **xroad_headers())
    assert response.status_code == 200, response.content
    assert response.json()["hits"]
    xroad_settings.GOVAI = {**xroad_settings.GOVAI, "XROAD": {**xroad_settings.GOVAI["XROAD"], "MAX_BODY_BYTES": 2000}}
    big = chunked(http, SEARCH, json.dumps({"query": "x" * 5000}).encode(), **xroad_headers())
    assert big.status_code == 413 and big.json() == {"error": "too_large", "detail": "The request body is larger than 2,000 bytes."}
    undecoded = chunked(http, SEARCH, b'{"query": "x"}', **{**xroad_headers(), "wsgi.input_terminated": False})
    assert undecoded.status_code == 411 and "gunicorn" in undecoded.json()["detail"]
    assert [e.outcome for e in AuditEvent.objects.filter(action__startswith="xroad.")] == ["ok", "too_large", "length_required"]


def test_a_caller_outside_the_security_server_addresses_cannot_make_the_provider_read_a_body(http, xroad_settings):
    xroad_settings.GOVAI = {**xroad_settings.GOVAI, "XROAD": {**xroad_settings.GOVAI["XROAD"], "MAX_BODY_BYTES": 2000,
                                                                "ALLOWED_ADDRESSES": ["10.1.2.3/32"]}}
    response = chunked(http, SEARCH, json.dumps({"query": "x" * 5000}).encode(), **xroad_headers())
    assert response.status_code == 403 and "Security Server address" in response.json()["detail"]


@pytest.mark.parametrize("path", ["/xroad/rest/ask/nothing", "/xroad/rest/ask/answers/not-a-uuid", "/xroad/rest/unknown/x",
                                  "/xroad/elsewhere"])
def test_an_unknown_path_is_a_json_404(http, path):
    response = http.post(path, "{}", content_type="application/json", **xroad_headers())
    assert response.status_code == 404 and response["Content-Type"] == "application/json; charset=utf-8"
    assert response.json()["error"] == "not_found" and path in response.json()["detail"]
    assert AuditEvent.objects.get(action="xroad.rest.not_found").details["path"] == path


def test_json_nested_100000_deep_is_a_400(http):
    response = http.post(SEARCH, "[" * 100_000 + "]" * 100_000, content_type="application/json", **xroad_headers())
    assert response.status_code == 400 and response["Content-Type"] == "application/json; charset=utf-8"
    assert "deeper" in response.json()["detail"]


class _FailingReranker:
    @hookimpl
    def govai_rerank(self, query, hits):
        raise RuntimeError("a plugin's bug")


def test_an_unexpected_error_is_json_and_logged(http, caplog):
    pm = get_plugin_manager()
    plugin = _FailingReranker()
    pm.register(plugin, name="test.failing-reranker")
    try:
        response = post(http, SEARCH, {"query": "housing benefit"}, **xroad_headers())
    finally:
        pm.unregister(plugin)
    assert response.status_code == 500 and response["Content-Type"] == "application/json; charset=utf-8"
    assert set(response.json()) == {"error", "detail"} and "a plugin's bug" not in response.content.decode()
    assert any(r.exc_info and "a plugin's bug" in str(r.exc_info[1]) for r in caplog.records)
    assert AuditEvent.objects.get(action="xroad.rest.search").details["status"] == 500


def _declared(service: str, path: str, method: str) -> set[int]:
    schema = json.loads(Client().get(f"/xroad/openapi/{service}?format=json").content)
    return {int(code) for code in schema["paths"][path][method]["responses"]}


def test_every_status_the_endpoints_answer_is_declared_in_their_openapi(http, xroad_settings):
    """Real 200/400/403/404/405/406/411/413/415/429 answers, each declared for its operation."""
    answered: dict[tuple[str, str, str], set[int]] = {("search", "/passages", "post"): set(), ("ask", "/answers/{uid}", "get"): set()}
    search = answered[("search", "/passages", "post")]
    job = answered[("ask", "/answers/{uid}", "get")]
    search.add(post(http, SEARCH, {"query": "housing"}, **xroad_headers()).status_code)  # 200
    search.add(post(http, SEARCH, {"query": "housing"}, **xroad_headers(client="EE/GOV")).status_code)  # 400
    search.add(post(http, SEARCH, {"query": "housing"}, **xroad_headers(client=STRANGER)).status_code)  # 403
    search.add(post(http, SEARCH, {"query": "housing", "collections": ["secret"]}, **xroad_headers()).status_code)  # 404
    search.add(http.get(SEARCH, **xroad_headers()).status_code)  # 405
    search.add(post(http, SEARCH, {"query": "housing"}, HTTP_ACCEPT="text/html", **xroad_headers()).status_code)  # 406
    search.add(chunked(http, SEARCH, b"{}", **{**xroad_headers(), "wsgi.input_terminated": False}).status_code)  # 411
    search.add(http.post(SEARCH, "query=x", content_type="text/plain", **xroad_headers()).status_code)  # 415
    job.add(http.get(f"{ASK}/{uuid.uuid4()}", **xroad_headers()).status_code)  # 404
    job.add(http.get(f"{ASK}/{uuid.uuid4()}", HTTP_ACCEPT="application/xml", **xroad_headers()).status_code)  # 406
    xroad_settings.GOVAI = {**xroad_settings.GOVAI, "XROAD": {**xroad_settings.GOVAI["XROAD"], "MAX_BODY_BYTES": 100}}
    search.add(post(http, SEARCH, {"query": "x" * 200}, **xroad_headers()).status_code)  # 413
    cache.clear()  # the limits below count from here
    xroad_settings.GOVAI = {**xroad_settings.GOVAI, "API": {"RATE_LIMITS": {"search": "2/min", "default": "1/min"}}}
    for _ in range(3):
        search.add(post(http, SEARCH, {"query": "housing"}, **xroad_headers()).status_code)  # 429 at the third
        job.add(http.get(f"{ASK}/{uuid.uuid4()}", **xroad_headers()).status_code)  # 429 at the second
    assert search == {200, 400, 403, 404, 405, 406, 411, 413, 415, 429}
    assert {404, 406, 429} <= job
    for (service, path, method), statuses in answered.items():
        assert statuses <= _declared(service, path, method), (path, statuses - _declared(service, path, method))


def test_json_answers_name_their_charset(http, xroad_settings):
    for response in (post(http, SEARCH, {"query": "housing"}, **xroad_headers()),
                     post(http, SEARCH, {"query": "housing"}, **xroad_headers(client=STRANGER)),
                     http.get(f"{ASK}/{uuid.uuid4()}", **xroad_headers())):
        assert response["Content-Type"] == "application/json; charset=utf-8", response.status_code

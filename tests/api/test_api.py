"""The REST API: authentication, per-client isolation, uploads and hostile input."""

from __future__ import annotations

import pytest
import yaml
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from govai_plugin.models import ApiClient, Document
from govai_plugin.services.access import create_collection
from tests.conftest import CORPUS, MALFORMED, ROOT

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_tenants(sample, api_client_factory):
    """'sample' belongs to tenant A; tenant B has its own collection with a secret document."""
    private = create_collection("tenant-b")
    alice = api_client_factory("alice", read=[sample])
    bob = api_client_factory("bob", write=[private])
    upload = bob.post(
        "/api/v1/collections/tenant-b/documents",
        {"file": SimpleUploadedFile("secret.md", b"# Secret\n\nThe tenant B housing benefit code word is AUBERGINE.\n")},
        format="multipart",
    )
    assert upload.status_code == 201, upload.data
    return alice, bob, upload.data[0]["document"]


def test_requests_without_a_valid_key_are_refused(sample):
    anonymous = APIClient()
    assert anonymous.get("/api/v1/collections").status_code == 401
    for header in ("Bearer nope", "Bearer govai_abc_def", "Token", "Bearer a b", "Basic Zm9vOmJhcg=="):
        anonymous.credentials(HTTP_AUTHORIZATION=header)
        response = anonymous.get("/api/v1/collections")
        assert response.status_code in (401, 403), header
        assert response.data["error"]


def test_deactivated_client_is_refused(api_client_factory, sample):
    http = api_client_factory("gone", read=[sample])
    ApiClient.objects.filter(name="gone").update(is_active=False)
    assert http.get("/api/v1/collections").status_code == 401


def test_keys_are_stored_only_as_hashes(api_client_factory):
    http = api_client_factory("hashy")
    key = http._credentials["HTTP_AUTHORIZATION"].split()[1]
    client = ApiClient.objects.get(name="hashy")
    assert key.split("_")[2] not in (client.key_hash, client.key_id) and len(client.key_hash) == 64


def test_a_client_sees_only_its_collections_through_every_endpoint(two_tenants):
    alice, bob, secret_id = two_tenants
    assert [c["slug"] for c in alice.get("/api/v1/collections").data] == ["sample"]
    assert alice.get("/api/v1/collections/tenant-b").status_code == 404
    assert alice.get("/api/v1/collections/tenant-b/documents").status_code == 404
    assert alice.get(f"/api/v1/documents/{secret_id}").status_code == 404
    assert alice.delete(f"/api/v1/documents/{secret_id}").status_code == 404
    assert alice.post("/api/v1/search", {"query": "code word", "collections": ["tenant-b"]}, format="json").status_code == 404
    everything = alice.post("/api/v1/search", {"query": "tenant B housing benefit code word AUBERGINE", "top_k": 100}, format="json")
    assert everything.status_code == 200
    assert all("AUBERGINE" not in hit["text"] for hit in everything.data["hits"])
    assert {hit["collection"] for hit in everything.data["hits"]} == {"sample"}
    # ...while the owner does find it.
    own = bob.post("/api/v1/search", {"query": "code word AUBERGINE"}, format="json")
    assert "AUBERGINE" in own.data["hits"][0]["text"]


def test_read_only_client_cannot_change_a_collection(two_tenants, api_client_factory):
    _, _, secret_id = two_tenants
    reader = api_client_factory("reader", read=[Document.objects.get(uid=secret_id).collection])
    upload = reader.post("/api/v1/collections/tenant-b/documents", {"file": SimpleUploadedFile("x.md", b"# X\n\ny\n")}, format="multipart")
    assert upload.status_code == 403 and upload.data["error"] == "forbidden"
    assert reader.delete(f"/api/v1/documents/{secret_id}").status_code == 403
    assert reader.get(f"/api/v1/documents/{secret_id}").status_code == 200


def test_upload_list_get_delete(api_client_factory):
    http = api_client_factory("writer", can_create_collections=True)
    created = http.post("/api/v1/collections", {"slug": "policies", "name": "Policies"}, format="json")
    assert created.status_code == 201
    body = (CORPUS / "en" / "housing-benefit-policy.md").read_bytes()
    first = http.post("/api/v1/collections/policies/documents", {"file": SimpleUploadedFile("policy.md", body)}, format="multipart")
    assert first.status_code == 201 and first.data[0]["status"] == "created" and first.data[0]["chunks"] > 3
    again = http.post("/api/v1/collections/policies/documents", {"file": SimpleUploadedFile("policy.md", body)}, format="multipart")
    assert again.status_code == 200 and again.data[0]["status"] == "unchanged"
    changed = http.post(
        "/api/v1/collections/policies/documents",
        {"file": SimpleUploadedFile("policy.md", body.replace(b"1,150 euros", b"1,200 euros")), "effective_from": "2026-01-01"},
        format="multipart",
    )
    assert changed.status_code == 201 and changed.data[0]["version"] == 2
    listing = http.get("/api/v1/collections/policies/documents")
    assert listing.data["count"] == 1 and listing.data["results"][0]["version"] == 2
    assert http.get("/api/v1/collections/policies/documents?all_versions=true").data["count"] == 2
    doc_id = changed.data[0]["document"]
    detail = http.get(f"/api/v1/documents/{doc_id}").data
    assert detail["supersedes"] == first.data[0]["document"] and detail["effective_from"] == "2026-01-01"
    assert http.delete(f"/api/v1/documents/{doc_id}").status_code == 204
    assert http.get(f"/api/v1/documents/{doc_id}").status_code == 404
    assert not Document.objects.filter(collection__slug="policies").exists()


def test_collection_creation_needs_permission_and_a_valid_slug(api_client_factory):
    plain = api_client_factory("plain")
    assert plain.post("/api/v1/collections", {"slug": "x"}, format="json").status_code == 403
    admin = api_client_factory("admin", can_create_collections=True)
    for slug in ("Bad Slug", "../etc", "", "x" * 65):
        assert admin.post("/api/v1/collections", {"slug": slug}, format="json").status_code == 400, slug
    assert admin.post("/api/v1/collections", {"slug": "ok"}, format="json").status_code == 201
    again = admin.post("/api/v1/collections", {"slug": "ok"}, format="json")
    assert again.status_code == 409 and again.json()["error"] == "conflict"  # well-formed, but the name is taken
    assert admin.post("/api/v1/collections", {"slug": 5}, format="json").status_code == 400  # a string, as documented


@pytest.fixture
def writer(api_client_factory, collection):
    return api_client_factory("w", write=[collection])


@pytest.mark.parametrize("name", ["encrypted.pdf", "truncated.pdf", "empty.txt", "corrupt.docx", "unsupported.xlsx", "binary.txt"])
def test_bad_uploads_get_422_naming_the_file(writer, collection, name):
    response = writer.post(
        "/api/v1/collections/scratch/documents", {"file": SimpleUploadedFile(name, (MALFORMED / name).read_bytes())}, format="multipart"
    )
    assert response.status_code == 422  # documented as an array of outcomes, like 200 and 201
    assert response.data[0]["source"] == name and response.data[0]["status"] == "failed" and response.data[0]["message"]
    assert not collection.documents.exists()


def test_hostile_file_names_are_reduced_to_a_base_name(writer, collection):
    response = writer.post(
        "/api/v1/collections/scratch/documents",
        {"file": SimpleUploadedFile("../../etc/passwd.txt", b"Just some text about benefits.\n")},
        format="multipart",
    )
    assert response.status_code == 201
    assert collection.documents.get().source_key == "passwd.txt"


def test_oversized_upload_is_refused_with_413(writer, settings):
    settings.GOVAI = {"API": {"MAX_UPLOAD_BYTES": 1000}}
    response = writer.post(
        "/api/v1/collections/scratch/documents", {"file": SimpleUploadedFile("big.txt", b"a " * 2000)}, format="multipart"
    )
    assert response.status_code == 413 and response.data["error"] == "too_large"


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"file": "not a file"},
        {"metadata": "{broken"},
        {"metadata": "[1, 2]"},
        {"effective_from": "yesterday"},
        {"effective_from": "2025-02-01", "effective_to": "2025-01-01"},
        {"language": "x" * 40},
    ],
)
def test_malformed_upload_fields_get_400(writer, fields):
    data = dict(fields)
    if "file" not in data:
        data["file"] = SimpleUploadedFile("ok.md", b"# T\n\ntext\n")
    if fields == {}:
        data = {}
    response = writer.post("/api/v1/collections/scratch/documents", data, format="multipart")
    assert response.status_code == 400, response.data
    assert response.data["error"] == "invalid_request"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"query": ""},
        {"query": "x" * 2001},
        {"query": "ok", "mode": "magic"},
        {"query": "ok", "top_k": 0},
        {"query": "ok", "top_k": 10_000},
        {"query": "ok", "top_k": "many"},
        {"query": "ok", "collections": "sample"},
        {"query": "ok", "metadata": "nope"},
        {"query": "ok", "in_force_on": "31/12/2024"},
        {"query": ["a", "list"]},
        {"query": "ok\u0000"},
    ],
)
def test_malformed_searches_get_400(sample, api_client_factory, body):
    http = api_client_factory("searcher", read=[sample])
    response = http.post("/api/v1/search", body, format="json")
    assert response.status_code == 400, response.data
    assert response.data["error"] == "invalid_request" and response.data["detail"]


def test_search_rejects_non_json_bodies(sample, api_client_factory):
    http = api_client_factory("searcher", read=[sample])
    response = http.generic("POST", "/api/v1/search", "{not json", content_type="application/json")
    assert response.status_code == 400
    response = http.generic("POST", "/api/v1/search", "query=x", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415


def test_search_returns_ranked_hits_with_locations(sample, api_client_factory):
    http = api_client_factory("searcher", read=[sample])
    response = http.post("/api/v1/search", {"query": "Is child benefit counted as income?", "top_k": 3}, format="json")
    assert response.status_code == 200
    hit = response.data["hits"][0]
    assert "Child benefit" in hit["text"] and hit["char_end"] > hit["char_start"] and hit["document_title"]


def test_committed_openapi_schema_matches_the_code():
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiYamlRenderer

    generated = SchemaGenerator(urlconf="govai_plugin.urls").get_schema(request=None, public=True)
    committed = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text())
    assert committed == yaml.safe_load(OpenApiYamlRenderer().render(generated)), "docs/openapi.yaml is stale: run `make schema`"


def test_each_client_has_its_own_request_limit_per_scope(db, settings, api_client_factory, sample):
    settings.GOVAI = {"API": {"RATE_LIMITS": {"search": "2/min", "default": ""}}}
    first, second = api_client_factory("first", read=[sample]), api_client_factory("second", read=[sample])
    for _ in range(2):
        assert first.post("/api/v1/search", {"query": "housing benefit"}, format="json").status_code == 200
    refused = first.post("/api/v1/search", {"query": "housing benefit"}, format="json")
    assert refused.status_code == 429 and refused.json()["error"] == "throttled" and int(refused["Retry-After"]) > 0
    assert second.post("/api/v1/search", {"query": "housing benefit"}, format="json").status_code == 200  # another client is not affected
    assert first.get("/api/v1/collections").status_code == 200  # another scope is not affected ("" = no limit)


def test_anonymous_callers_are_limited_by_address(db, settings):
    from rest_framework.test import APIClient

    settings.GOVAI = {"API": {"RATE_LIMITS": {"default": "1/min"}}}
    assert APIClient().get("/api/v1/transparency", REMOTE_ADDR="192.0.2.1").status_code == 200
    assert APIClient().get("/api/v1/transparency", REMOTE_ADDR="192.0.2.1").status_code == 429
    assert APIClient().get("/api/v1/transparency", REMOTE_ADDR="192.0.2.2").status_code == 200


@pytest.mark.parametrize("rate", ["30", "30/fortnight", "0/min", 30])
def test_a_malformed_rate_fails_the_check(settings, rate):
    from govai_plugin.checks import check_ingestion

    settings.GOVAI = {"API": {"RATE_LIMITS": {"ask": rate}}}
    assert "govai.E046" in [e.id for e in check_ingestion()]


def test_api_responses_are_not_cached_framed_or_sniffed(db, api_client_factory, sample):
    http = api_client_factory("headers", read=[sample])
    for response in (http.get("/api/v1/collections"), http.post("/api/v1/search", {"query": ""}, format="json"),
                     APIClient().get("/api/v1/answers")):
        assert response["Cache-Control"] == "no-store"
        assert response["X-Content-Type-Options"] == "nosniff" and response["X-Frame-Options"] == "DENY"


# --- Inputs that reached a 500, and errors that were HTML (issue 10, item 9) ---------------------

@pytest.mark.parametrize("path, body", [
    ("/api/v1/search", {"query": "housing benefit", "metadata": {"topic\u0000": "x"}}),
    ("/api/v1/search", {"query": "housing benefit", "metadata": {"topic": "x\u0000y"}}),
    ("/api/v1/search", {"query": "housing benefit", "metadata": {"topic": {"deeper": ["\u0000"]}}}),
    ("/api/v1/answers", {"question": "What is the income limit?", "metadata": {"\u0000": 1}}),
    ("/api/v1/answers", {"question": "What is the income limit?", "metadata": {"topic": "\u0000"}}),
])
def test_nul_characters_in_metadata_are_refused_with_400(sample, api_client_factory, path, body):
    """PostgreSQL's jsonb cannot hold NUL: the metadata filter query failed with a server error."""
    http = api_client_factory("nul", read=[sample])
    response = http.post(path, body, format="json")
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    assert "metadata" in response.json()["fields"]


def test_nul_characters_are_refused_by_the_search_service_too(sample):
    """X-Road and the commands reach the same service the API does."""
    from govai_plugin.exceptions import InvalidRequest
    from govai_plugin.services.search import search

    for kwargs in ({"metadata": {"a\x00": 1}}, {"languages": ["e\x00n"]}, {"collections": ["sample\x00"]}):
        with pytest.raises(InvalidRequest, match="NUL"):
            search("housing benefit", **kwargs)


@pytest.mark.parametrize("path", ["/api/v1/search", "/api/v1/answers", "/api/v1/collections"])
def test_json_nested_10000_deep_is_a_400(sample, api_client_factory, path):
    http = api_client_factory("deep", read=[sample], can_create_collections=True)
    for body in ("[" * 10_000 + "]" * 10_000, '{"query": ' + '{"a": ' * 10_000 + "1" + "}" * 10_001):
        response = http.generic("POST", path, body, content_type="application/json")
        assert response.status_code == 400 and response.json()["error"] == "invalid_request", path


def test_a_multipart_metadata_field_nested_too_deep_is_a_400(writer):
    metadata = "[" * 10_000 + "]" * 10_000
    response = writer.post("/api/v1/collections/scratch/documents",
                           {"file": SimpleUploadedFile("ok.md", b"# T\n\ntext\n"), "metadata": metadata}, format="multipart")
    assert response.status_code == 400 and response.json()["fields"]["metadata"]


def test_bodies_over_the_request_limit_are_a_json_413(sample, writer, api_client_factory, settings):
    """Django refuses fields over DATA_UPLOAD_MAX_MEMORY_SIZE with RequestDataTooBig: it was an HTML 400."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    upload = writer.post("/api/v1/collections/scratch/documents",
                         {"file": SimpleUploadedFile("ok.md", b"# T\n\ntext\n"), "language": "x" * 20_000}, format="multipart")
    assert upload.status_code == 413 and upload["Content-Type"] == "application/json"
    assert upload.json()["error"] == "too_large"
    http = api_client_factory("big", read=[sample])
    search = http.post("/api/v1/search", {"query": "housing " * 2_000}, format="json")
    assert search.status_code == 413 and search.json()["error"] == "too_large"


def test_unknown_api_paths_are_a_json_404(api_client_factory):
    http = api_client_factory("lost")
    for path in ("/api/v1/nothing-here", "/api/v1/documents/not-a-uuid", "/api/v1/answers/%0A/stream"):
        response = http.get(path)
        assert response.status_code == 404 and response.json()["error"] == "not_found", path
    assert http.delete("/api/v1/documents/null,null").status_code == 404  # no CSRF page for API clients


def test_malformed_paging_parameters_are_a_400(api_client_factory, collection):
    http = api_client_factory("pager", read=[collection])
    for query in ("limit=abc", "limit=0", "offset=-1", "all_versions=maybe", "limit="):
        response = http.get(f"/api/v1/collections/scratch/documents?{query}")
        assert response.status_code == 400 and response.json()["fields"], query
    assert http.get("/api/v1/collections/scratch/documents?limit=1&offset=0&all_versions=true").status_code == 200


@pytest.fixture
def broken_plugin(tmp_path, monkeypatch, settings):
    """An institution's plugin with a bug: the search pipeline fails in a way nobody expected."""
    (tmp_path / "buggy_reranker.py").write_text(
        "from govai_plugin.hooks import hookimpl\n\n@hookimpl\ndef govai_rerank(query, hits):\n"
        "    raise KeyError('score')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    settings.GOVAI = {"PLUGINS": ["buggy_reranker"]}


def test_an_unexpected_error_is_logged_with_its_traceback_and_answered_in_json(broken_plugin, sample, api_client_factory,
                                                                              caplog, settings):
    settings.DEBUG = False
    http = api_client_factory("unlucky", read=[sample])
    with caplog.at_level("ERROR", logger="django.request"):
        response = http.post("/api/v1/search", {"query": "housing benefit", "mode": "fulltext"}, format="json")
    assert response.status_code == 500 and response["Content-Type"] == "application/json"
    assert response.json() == {"error": "server_error", "detail": "The server failed to answer; the error has been logged."}
    [record] = [r for r in caplog.records if r.name == "django.request"]
    assert record.exc_info and record.exc_info[0] is KeyError and "/api/v1/search" in record.getMessage()


def test_the_sample_portal_logs_server_errors_to_the_console():
    from django.conf import settings

    assert settings.LOGGING["loggers"]["django.request"] == {"handlers": ["console"], "level": "ERROR", "propagate": False}


# --- Defaults (item 13) --------------------------------------------------------------------------

def test_failed_authentications_are_throttled_per_key_and_address(db, settings, api_client_factory):
    settings.GOVAI = {"API": {"AUTH_FAILURE_LIMIT": "3/min", "RATE_LIMITS": {"default": ""}}}
    good = api_client_factory("good")
    good_key_id = good.govai_client.key_id
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION=f"Bearer govai_{good_key_id}_guessed-secret")
    for _ in range(3):
        assert bad.get("/api/v1/collections", REMOTE_ADDR="192.0.2.7").status_code == 401
    refused = bad.get("/api/v1/collections", REMOTE_ADDR="192.0.2.7")
    assert refused.status_code == 429 and refused.json()["error"] == "throttled" and int(refused["Retry-After"]) > 0
    # That key id is not checked from that address now, not even with the right secret: guessing gains nothing.
    assert good.get("/api/v1/collections", REMOTE_ADDR="192.0.2.7").status_code == 429
    # Another client behind the same address (a proxy, a NAT) is not locked out, nor is the
    # key from another address, nor are callers without a key; a spoofed X-Forwarded-For changes nothing.
    other = api_client_factory("other")
    assert other.get("/api/v1/collections", REMOTE_ADDR="192.0.2.7").status_code == 200
    assert good.get("/api/v1/collections", REMOTE_ADDR="192.0.2.8").status_code == 200
    assert APIClient().get("/api/v1/transparency", REMOTE_ADDR="192.0.2.7").status_code == 200
    assert bad.get("/api/v1/collections", REMOTE_ADDR="192.0.2.7", HTTP_X_FORWARDED_FOR="198.51.100.1").status_code == 429
    # Malformed keys share one bucket per address; an IPv6 caller counts per /64.
    for address in ("2001:db8::1", "2001:db8::2", "2001:db8::3"):
        bad.credentials(HTTP_AUTHORIZATION="Bearer nonsense")
        assert bad.get("/api/v1/collections", REMOTE_ADDR=address).status_code == 401
    assert bad.get("/api/v1/collections", REMOTE_ADDR="2001:db8::ffff").status_code == 429
    assert bad.get("/api/v1/collections", REMOTE_ADDR="2001:db9::1").status_code == 401


def test_parallel_failed_authentications_are_all_counted(db, settings):
    from concurrent.futures import ThreadPoolExecutor

    from django.test import RequestFactory

    from govai_plugin.api.throttling import FailedAuthThrottle

    settings.GOVAI = {"API": {"AUTH_FAILURE_LIMIT": "100/min"}}
    request = RequestFactory().get("/", REMOTE_ADDR="192.0.2.20")
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: FailedAuthThrottle().record_failure(request, "abc"), range(100)))
    assert FailedAuthThrottle().wait_before_trying(request, "abc") is not None
    assert FailedAuthThrottle().wait_before_trying(request, "abd") is None


def test_successful_authentications_are_not_counted(db, settings, api_client_factory):
    settings.GOVAI = {"API": {"AUTH_FAILURE_LIMIT": "2/min", "RATE_LIMITS": {"default": ""}}}
    good = api_client_factory("good")
    for _ in range(5):
        assert good.get("/api/v1/collections", REMOTE_ADDR="192.0.2.9").status_code == 200


def test_a_key_id_that_is_not_hex_is_refused_before_the_database(db):
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION="Bearer govai_ab\x00cd_secret")
    response = http.get("/api/v1/collections")
    assert response.status_code == 401 and response.json()["error"] == "authentication_failed"


def test_the_sample_portal_has_debug_off_unless_asked(tmp_path):
    import os
    import subprocess
    import sys

    def debug(**env) -> str:
        environ = {k: v for k, v in os.environ.items() if k != "DJANGO_DEBUG"} | env
        code = "import settings.base as s; print(s.DEBUG, s.SESSION_COOKIE_SECURE)"
        return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environ, capture_output=True, text=True,
                              check=True).stdout.split()

    assert debug() == ["False", "True"]
    assert debug(DJANGO_DEBUG="1") == ["True", "False"]
    demo = (ROOT / "Makefile").read_text()
    assert "DJANGO_DEBUG=1 $(BIN)/python manage.py runserver" in demo  # the demo turns it on, explicitly


# --- Responses as documented (item 12) -------------------------------------------------------------

def test_support_is_null_until_an_answer_is_checked(api_client_factory):
    from govai_plugin.models import AnswerJob

    http = api_client_factory("asker")
    job = AnswerJob.objects.create(client=http.govai_client, use_case="caseworker_qa", question="q", status="abstained",
                                   abstain_reason="no_source")
    assert http.get(f"/api/v1/answers/{job.uid}").json()["support"] is None


def test_every_operation_documents_its_errors():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator(urlconf="govai_plugin.urls").get_schema(request=None, public=True)
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert {"401", "429"} <= codes, (method, path)
            assert "{" not in path or "404" in codes, (method, path)
            assert method != "post" or ({"400", "413"} <= codes and operation["requestBody"]["required"]), (method, path)
    documents = schema["paths"]["/api/v1/collections/{slug}/documents"]
    page = documents["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert page["$ref"].endswith("/DocumentPage")
    assert documents["post"]["responses"]["422"]["content"]["application/json"]["schema"]["type"] == "array"
    components = schema["components"]["schemas"]
    assert components["AnswerJob"]["properties"]["support"]["nullable"] is True
    search = components["SearchRequestRequest"]["properties"]
    assert search["metadata"]["type"] == "object" and not search["metadata"].get("nullable")
    assert search["query"]["pattern"] and search["query"]["maxLength"] == 2000
    assert components["AnswerRequestRequest"]["properties"]["question"]["pattern"]

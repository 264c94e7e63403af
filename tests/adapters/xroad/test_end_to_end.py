"""Both directions through the Security Server stand-in: consumers in another process
(curl for REST, our zeep-based consumer command for SOAP) get cited answers from our
provider (the sample portal in gunicorn, a real Celery worker, an OpenAI-compatible
server), the bodies forwarded chunked as a real Security Server sends them; the
consumer's discovery and error mapping against the stand-in."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid

import pytest
import requests
from lxml import etree

from adapters.xroad import soap
from adapters.xroad.consumer import XRoadConsumer, XRoadError, XRoadTransientError, normalise_type
from adapters.xroad.identifiers import ServiceId
from govai_plugin.exceptions import RetryableError
from govai_plugin.models import AnswerJob, AuditEvent
from tests.adapters.xroad.conftest import PORTAL, PROVIDER, QUESTION, STRANGER, register
from tests.adapters.xroad.test_soap_provider import message, search_body
from tests.conftest import ROOT
from tests.servers.security_server import SecurityServer

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args: str) -> subprocess.CompletedProcess:
    """A command in a separate process, as a consumer system would be."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "settings.test"}
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_a_curl_client_gets_a_cited_answer_over_rest_through_the_security_server(security_server, worker):
    curl = shutil.which("curl")
    assert curl, "curl is needed for this test (apt-get install curl)"
    url = f"{security_server.url}/r1/{PROVIDER}/assistant/answers?wait=20"
    done = run(curl, "-sS", "-i", "-X", "POST", url, "-H", f"X-Road-Client: {PORTAL}", "-H", "X-Road-UserId: EE38001085718",
               "-H", "X-Road-Issue: CASE-2026-17", "-H", "Content-Type: application/json",
               "--data", json.dumps({"question": QUESTION}))
    assert done.returncode == 0, done.stderr
    head, _, body = done.stdout.replace("\r\n", "\n").partition("\n\n")
    assert head.startswith("HTTP/1.1 200"), done.stdout
    headers = {line.split(":", 1)[0].lower(): line.split(":", 1)[1].strip() for line in head.splitlines()[1:]}
    assert headers["x-road-service"] == f"{PROVIDER}/assistant" and headers["x-road-client"] == PORTAL
    assert headers["x-road-request-hash"] and headers["x-road-id"] and "x-road-error" not in headers
    answer = json.loads(body)
    assert answer["status"] == "succeeded" and "[1]" in answer["answer"] and answer["label"]
    assert answer["citations"][0]["document_title"] and answer["citations"][0]["char_end"] > 0
    # the provider saw what a Security Server forwards, and audited it
    forwarded = security_server.forwarded[-1]["headers"]
    assert forwarded["X-Road-Client"] == PORTAL and forwarded["X-Road-Request-Id"] and "User-Agent" not in forwarded
    event = AuditEvent.objects.get(action="xroad.rest.ask")
    assert event.user_id == "EE38001085718" and event.details["issue"] == "CASE-2026-17"
    assert event.details["message_id"] == headers["x-road-id"] and event.object_ref == answer["id"]


def test_a_zeep_client_gets_a_cited_answer_over_soap_through_the_security_server(security_server, worker, tmp_path):
    common = ("--security-server", security_server.url, "--client", PORTAL)
    wsdl = tmp_path / "assistant.wsdl"
    fetched = run(sys.executable, "manage.py", "govai_xroad", *common, "wsdl", f"{PROVIDER}/askAssistant", "--out", str(wsdl))
    assert fetched.returncode == 0, fetched.stderr
    assert b"xrd:version" in wsdl.read_bytes()
    assert b'location="http://example.org/xroad-endpoint"' in wsdl.read_bytes()  # as X-Road's getWsdl hands it out
    done = run(sys.executable, "manage.py", "govai_xroad", *common, "soap", f"{PROVIDER}/askAssistant", "--wsdl", str(wsdl),
               "--arg", f"question={QUESTION}", "--arg", "collection=rules", "--arg", "waitSeconds=20",
               "--user-id", "EE38001085718", "--issue", "CASE-2026-17")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    body, header = result["body"], result["header"]
    assert body["status"] == "succeeded" and "[1]" in body["answer"] and body["citation"][0]["documentTitle"]
    assert header["client"]["memberCode"] == "70000002" and header["service"]["serviceCode"] == "askAssistant"
    assert header["userId"] == "EE38001085718" and header["protocolVersion"] == "4.0"
    job = AnswerJob.objects.get(uid=body["jobId"])
    assert job.actor == f"xroad:{PORTAL}"


def test_the_consumer_passes_user_and_issue_and_reads_the_provider_answer(security_server, worker):
    consumer = XRoadConsumer(security_server.url, PORTAL)
    body = consumer.rest_json("POST", f"{PROVIDER}/passages", "passages", json={"query": "housing benefit decision"},
                              user_id="EE38001085718", issue="CASE-9")
    assert body["hits"]
    sent = security_server.forwarded[-1]["headers"]
    assert sent["X-Road-UserId"] == "EE38001085718" and sent["X-Road-Issue"] == "CASE-9"
    missing = consumer.rest("GET", f"{PROVIDER}/assistant", f"answers/{uuid.uuid4()}")
    assert missing.status_code == 404  # the provider's own error passes through unchanged


def test_the_consumer_discovers_services_with_the_metaservices(security_server):
    security_server.members = [{"id": {"member_class": "GOV", "member_code": "70000001", "object_type": "MEMBER",
                                       "xroad_instance": "EE"}, "name": "Social Insurance Board"}]
    security_server.add_service(f"{PROVIDER}/hidden", "REST", "http://127.0.0.1:9/", allow=())
    consumer = XRoadConsumer(security_server.url, PORTAL)
    listed = {str(m["service_id"]) for m in consumer.list_methods(PROVIDER)}
    allowed = {str(m["service_id"]) for m in consumer.list_methods(PROVIDER, allowed=True)}
    assert f"{PROVIDER}/hidden" in listed and f"{PROVIDER}/hidden" not in allowed and f"{PROVIDER}/assistant" in allowed
    assert consumer.list_methods(PROVIDER)[0]["endpoint_list"]
    soap_services = {s.service_code for s in consumer.soap_list_methods(PROVIDER, allowed=True)}
    assert soap_services == {"askAssistant", "getAnswer", "searchPassages"}
    description = consumer.get_openapi(f"{PROVIDER}/assistant")
    assert "openapi: 3" in description and "/answers/{uid}" in description
    assert consumer.list_clients()[0]["name"] == "Social Insurance Board"
    listed_cli = run(sys.executable, "manage.py", "govai_xroad", "--security-server", security_server.url, "--client", PORTAL,
                     "list-methods", PROVIDER, "--allowed")
    assert listed_cli.returncode == 0 and f"{PROVIDER}/assistant\tOPENAPI\tPOST /answers" in listed_cli.stdout


@pytest.mark.parametrize("legacy", [False, True], ids=["7.8-spelling", "legacy-spelling"])
def test_security_server_errors_map_to_our_errors(portal, xroad_settings, portal_grant, legacy):
    with SecurityServer(legacy_errors=legacy, timeout=2) as ss:
        register(ss, portal)
        ss.add_service(f"{PROVIDER}/down", "OPENAPI", "http://127.0.0.1:9/", allow=(PORTAL,))
        portal = XRoadConsumer(ss.url, PORTAL)
        stranger = XRoadConsumer(ss.url, STRANGER)

        with pytest.raises(XRoadError) as denied:
            stranger.rest("POST", f"{PROVIDER}/passages", "passages", json={"query": "x"})
        assert normalise_type(denied.value.type) == "server.serverproxy.accessdenied"
        assert not denied.value.retryable and not isinstance(denied.value, RetryableError) and denied.value.detail

        with pytest.raises(XRoadError) as unknown:
            portal.rest("GET", f"{PROVIDER}/nothing")
        assert normalise_type(unknown.value.type).endswith("unknownservice") and not unknown.value.retryable

        with pytest.raises(XRoadTransientError) as down:
            portal.rest("GET", f"{PROVIDER}/down", "x")
        assert normalise_type(down.value.type) == "server.serverproxy.networkerror" and down.value.retryable

        with pytest.raises(XRoadError) as as_xml:  # the error body in XML when the client asks for XML
            stranger.rest("POST", f"{PROVIDER}/passages", "passages", json={"query": "x"}, headers={"Accept": "application/xml"})
        assert normalise_type(as_xml.value.type) == "server.serverproxy.accessdenied" and as_xml.value.detail


def test_soap_faults_from_the_security_server_map_to_our_errors(portal, xroad_settings, portal_grant, tmp_path):
    with SecurityServer(legacy_errors=True) as ss:
        register(ss, portal)
        wsdl = tmp_path / "a.wsdl"
        wsdl.write_bytes(requests.get(f"{portal}/xroad/soap?wsdl", timeout=10).content)
        with pytest.raises(XRoadError) as denied:
            XRoadConsumer(ss.url, STRANGER).soap_call(str(wsdl), f"{PROVIDER}/searchPassages", query="x")
        assert denied.value.type == "Server.ServerProxy.AccessDenied" and denied.value.source == "x-road"
        assert not denied.value.retryable and denied.value.at_fault == "client"  # we lack the access right
        with pytest.raises(XRoadError) as provider_fault:
            XRoadConsumer(ss.url, PORTAL).soap_call(str(wsdl), f"{PROVIDER}/getAnswer", jobId=str(uuid.uuid4()))
        assert provider_fault.value.source == "provider" and "NotFound" in provider_fault.value.type
        ss.services[f"{PROVIDER}/searchPassages"]["url"] = "http://127.0.0.1:9/soap"
        with pytest.raises(XRoadTransientError):
            XRoadConsumer(ss.url, PORTAL).soap_call(str(wsdl), f"{PROVIDER}/searchPassages", query="x")


def test_an_unreachable_security_server_is_a_retryable_error():
    consumer = XRoadConsumer("http://127.0.0.1:9", PORTAL, timeout=2)
    with pytest.raises(XRoadTransientError) as error:
        consumer.rest("GET", ServiceId.parse(f"{PROVIDER}/assistant"))
    assert error.value.type == "client.network_error" and error.value.at_fault == "client"  # our own Security Server


def test_gunicorn_hands_chunked_bodies_to_the_provider_within_the_size_limit(portal, xroad_settings, portal_grant):
    """Straight to the portal in gunicorn, chunked as the provider's Security Server sends:
    read when within GOVAI['XROAD']['MAX_BODY_BYTES'] (1,000,000 by default), refused past it."""
    soap_type = {"Content-Type": "text/xml; charset=utf-8"}
    answer = requests.post(f"{portal}/xroad/soap", data=iter([message("searchPassages", search_body())]), headers=soap_type,
                           timeout=60)
    assert answer.status_code == 200, answer.text
    assert etree.fromstring(answer.content).findall(".//{%s}passage" % soap.NS)
    too_big = requests.post(f"{portal}/xroad/soap", data=iter([b"<" + b"x" * 600_000, b"y" * 600_000]), headers=soap_type,
                            timeout=60)
    assert too_big.status_code == 500 and b"Client.TooLarge" in too_big.content
    rest = {"X-Road-Client": PORTAL, "X-Road-Id": str(uuid.uuid4()), "Content-Type": "application/json"}
    found = requests.post(f"{portal}/xroad/rest/search/passages", data=iter([b'{"query": "housing benefit decision"}']),
                          headers=rest, timeout=60)
    assert found.status_code == 200 and found.json()["hits"] and found.headers["Content-Type"] == "application/json; charset=utf-8"
    refused = requests.post(f"{portal}/xroad/rest/search/passages", data=iter([b'{"query": "' + b"x" * 1_000_000 + b'"}']),
                            headers=rest, timeout=60)
    assert refused.status_code == 413 and refused.json()["error"] == "too_large"
    deep = requests.post(f"{portal}/xroad/rest/search/passages", data=b"[" * 100_000 + b"]" * 100_000, headers=rest, timeout=60)
    assert deep.status_code == 400 and deep.json()["error"]
    unknown = requests.get(f"{portal}/xroad/rest/search/nowhere", headers=rest, timeout=60)
    assert unknown.status_code == 404 and unknown.json()["error"] == "not_found"

"""The SOAP provider (X-Road message protocol 4.0) as the Security Server reaches it:
the WSDL, header echo, and a fault without side effects for every malformed or
hostile message."""

from __future__ import annotations

import io
import tempfile
import uuid

import pytest
from django.test import Client
from lxml import etree

from adapters.xroad import soap
from govai_plugin.models import AnswerJob, AuditEvent
from tests.adapters.xroad.conftest import PORTAL, PROVIDER, QUESTION, STRANGER

pytestmark = pytest.mark.django_db(transaction=True)

NS = {"soapenv": soap.SOAP_ENV, "xrd": soap.XRD, "id": soap.ID, "tns": soap.NS,
      "wsdl": "http://schemas.xmlsoap.org/wsdl/", "soap": "http://schemas.xmlsoap.org/wsdl/soap/",
      "xs": "http://www.w3.org/2001/XMLSchema"}


def identifier(tag: str, ident: str, object_type: str, code: str = "") -> str:
    parts = ident.split("/")
    names = ["xRoadInstance", "memberClass", "memberCode", "subsystemCode"]
    inner = "".join(f"<id:{n}>{v}</id:{n}>" for n, v in zip(names, parts))
    if code:
        inner += f"<id:serviceCode>{code}</id:serviceCode><id:serviceVersion>v1</id:serviceVersion>"
    return f'<xrd:{tag} id:objectType="{object_type}">{inner}</xrd:{tag}>'


def message(code: str, body: str, *, client: str = PORTAL, client_type: str = "SUBSYSTEM", header_code: str | None = None,
            version: str = "4.0", message_id: str | None = None, extra_headers: str = "", prolog: str = "",
            omit: tuple[str, ...] = ()) -> bytes:
    headers = {
        "client": identifier("client", client, client_type),
        "service": identifier("service", PROVIDER, "SERVICE", header_code or code),
        "id": f"<xrd:id>{message_id or uuid.uuid4()}</xrd:id>",
        "userId": "<xrd:userId>EE38001085718</xrd:userId>",
        "issue": "<xrd:issue>CASE-2026-17</xrd:issue>",
        "protocolVersion": f"<xrd:protocolVersion>{version}</xrd:protocolVersion>",
    }
    head = "".join(v for k, v in headers.items() if k not in omit) + extra_headers
    return (
        f'{prolog}<soapenv:Envelope xmlns:soapenv="{soap.SOAP_ENV}" xmlns:xrd="{soap.XRD}" xmlns:id="{soap.ID}" '
        f'xmlns:tns="{soap.NS}"><soapenv:Header>{head}</soapenv:Header>'
        f"<soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"
    ).encode()


def search_body(query: str = "decision time housing benefit") -> str:
    return f"<tns:searchPassages><tns:query>{query}</tns:query></tns:searchPassages>"


@pytest.fixture
def http(xroad_settings, rules):
    return Client()


def call(http, data: bytes, content_type: str = "text/xml; charset=utf-8"):
    response = http.post("/xroad/soap", data, content_type=content_type)
    return response, etree.fromstring(response.content)


def fault_of(root) -> tuple[str, str]:
    fault = root.find("soapenv:Body/soapenv:Fault", NS)
    assert fault is not None, etree.tostring(root)
    return fault.findtext("faultcode"), fault.findtext("faultstring")


def test_search_answers_with_passages_and_echoes_every_header_in_order(http):
    extra = '<repr:representedParty xmlns:repr="http://x-road.eu/xsd/representation.xsd"><repr:partyCode>12345</repr:partyCode></repr:representedParty>'
    request = message("searchPassages", search_body(), extra_headers=extra)
    response, root = call(http, request)
    assert response.status_code == 200, response.content
    sent = etree.fromstring(request).find("soapenv:Header", NS)
    got = root.find("soapenv:Header", NS)
    assert [etree.tostring(e, method="c14n", exclusive=True) for e in got] == [etree.tostring(e, method="c14n", exclusive=True) for e in sent]
    passages = root.findall("soapenv:Body/tns:searchPassagesResponse/tns:passage", NS)
    assert passages and passages[0].findtext("tns:rank", namespaces=NS) == "1"
    assert passages[0].findtext("tns:collection", namespaces=NS) == "rules"
    assert soap.body_schema().validate(etree.ElementTree(root.find("soapenv:Body/tns:searchPassagesResponse", NS)))
    event = AuditEvent.objects.get(action="xroad.soap.searchPassages")
    assert event.actor == f"xroad:{PORTAL}" and event.user_id == "EE38001085718" and event.details["issue"] == "CASE-2026-17"


def test_ask_waits_for_the_cited_answer_and_get_answer_returns_it(http, llm, worker):
    body = f"<tns:askAssistant><tns:question>{QUESTION}</tns:question><tns:waitSeconds>20</tns:waitSeconds></tns:askAssistant>"
    response, root = call(http, message("askAssistant", body))
    assert response.status_code == 200, response.content
    answer = root.find("soapenv:Body/tns:askAssistantResponse", NS)
    assert soap.body_schema().validate(etree.ElementTree(answer))
    assert answer.findtext("tns:status", namespaces=NS) == "succeeded"
    assert "[1]" in answer.findtext("tns:answer", namespaces=NS)
    assert answer.findtext("tns:label", namespaces=NS)
    citation = answer.find("tns:citation", NS)
    assert citation.findtext("tns:number", namespaces=NS) == "1" and citation.findtext("tns:documentTitle", namespaces=NS)
    job_id = answer.findtext("tns:jobId", namespaces=NS)
    again, root2 = call(http, message("getAnswer", f"<tns:getAnswer><tns:jobId>{job_id}</tns:jobId></tns:getAnswer>"))
    assert again.status_code == 200
    assert root2.findtext("soapenv:Body/tns:getAnswerResponse/tns:answer", namespaces=NS) == answer.findtext("tns:answer", namespaces=NS)


BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
)
XXE = '<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'


@pytest.mark.parametrize(
    ("data", "code", "text"),
    [
        (message("searchPassages", search_body(), omit=("client",)), "Client.InvalidXRoadHeader", "xrd:client is missing"),
        (message("searchPassages", search_body(), omit=("service",)), "Client.InvalidXRoadHeader", "xrd:service is missing"),
        (message("searchPassages", search_body(), omit=("id",)), "Client.InvalidXRoadHeader", "xrd:id is missing"),
        (message("searchPassages", search_body(), omit=("protocolVersion",)), "Client.InvalidXRoadHeader", "protocolVersion"),
        (message("searchPassages", search_body(), version="3.1"), "Client.InvalidProtocolVersion", "4.x"),
        (message("searchPassages", search_body(), client_type="SERVICE"), "Client.InvalidXRoadHeader", "objectType"),
        (message("searchPassages", search_body(), client="EE/GOV/700 01/portal"), "Client.InvalidXRoadHeader", "member code"),
        (message("searchPassages", search_body(), message_id="has space"), "Client.InvalidXRoadHeader", "xrd:id"),
        (message("searchPassages", search_body(), extra_headers="<xrd:id>second</xrd:id>"), "Client.InvalidXRoadHeader", "once"),
        (message("searchPassages", search_body(), header_code="askAssistant"), "Client.InvalidBody", "must match"),
        (message("listClients", "<tns:listClients/>"), "Client.UnknownService", "no SOAP service"),
        (message("searchPassages", "<tns:searchPassages><tns:topK>3</tns:topK></tns:searchPassages>"), "Client.InvalidBody", "not valid"),
        (message("searchPassages", "<tns:searchPassages><tns:query>x</tns:query><tns:topK>-1</tns:topK></tns:searchPassages>"),
         "Client.InvalidBody", "not valid"),
        (message("searchPassages", search_body() + search_body()), "Client.InvalidBody", "exactly one"),
        (message("searchPassages", '<other:searchPassages xmlns:other="urn:x"><other:query>q</other:query></other:searchPassages>'),
         "Client.InvalidBody", "namespace"),
        (message("searchPassages", search_body(), client=STRANGER), "Client.AccessDenied", STRANGER),
        (b"<soapenv:Envelope", "Client.InvalidXml", "not well-formed"),
        (b"", "Client.InvalidXml", "empty"),
        (b"<Envelope><Body/></Envelope>", "Client.InvalidSoap", "SOAP 1.1 Envelope"),
        (message("searchPassages", search_body("&lol3;"), prolog=BILLION_LAUGHS), "Client.ForbiddenXml", "DTD"),
        (message("searchPassages", search_body("&xxe;"), prolog=XXE), "Client.ForbiddenXml", "DTD"),
    ],
)
def test_malformed_and_hostile_messages_get_a_soap_fault_and_change_nothing(http, llm, data, code, text):
    response, root = call(http, data)
    assert response.status_code == 500 and response["Content-Type"].startswith("text/xml")
    faultcode, faultstring = fault_of(root)
    assert faultcode == f"soapenv:{code}" and text in faultstring, faultstring
    assert "root:" not in response.content.decode()  # no /etc/passwd in any answer
    assert not AnswerJob.objects.exists() and not llm.requests
    assert AuditEvent.objects.filter(action__startswith="xroad.").get().outcome == code


@pytest.mark.parametrize("version", ["4.0", "4.1", "4.10", " 4.2 "])
def test_every_4_x_protocol_version_is_served(http, version):
    response, root = call(http, message("searchPassages", search_body(), version=version))
    assert response.status_code == 200, response.content
    assert root.findtext("soapenv:Header/xrd:protocolVersion", namespaces=NS) == version  # echoed as sent


@pytest.mark.parametrize("version", ["3.1", "5.0", "4", "40", "4.", "4.x", "v4.0", "14.0"])
def test_other_protocol_versions_are_refused(http, llm, version):
    code, text = fault_of(call(http, message("searchPassages", search_body(), version=version))[1])
    assert code == "soapenv:Client.InvalidProtocolVersion" and repr(version) in text and "4.x" in text


def without(data: bytes, element: str) -> bytes:
    """The message with every ``<id:element>...</id:element>`` removed."""
    root = etree.fromstring(data)
    for el in root.iter(f"{{{soap.ID}}}{element}"):
        el.getparent().remove(el)
    return etree.tostring(root)


def with_service_code_in_client(data: bytes) -> bytes:
    root = etree.fromstring(data)
    etree.SubElement(root.find("soapenv:Header/xrd:client", NS), f"{{{soap.ID}}}serviceCode").text = "searchPassages"
    return etree.tostring(root)


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (message("searchPassages", search_body(), client_type="MEMBER"), "xrd:client has id:objectType MEMBER with an id:subsystemCode"),
        (message("searchPassages", search_body(), client="EE/GOV/70000002"), "xrd:client has id:objectType SUBSYSTEM without"),
        (with_service_code_in_client(message("searchPassages", search_body())), "SUBSYSTEM with a service code"),
        (without(message("searchPassages", search_body()), "serviceCode"), "xrd:service has no id:serviceCode"),
    ],
    ids=["member-with-subsystem", "subsystem-without-subsystem", "client-with-service-code", "service-without-code"],
)
def test_inconsistent_identifiers_get_a_client_fault_and_change_nothing(http, llm, data, text):
    response, root = call(http, data)
    code, faultstring = fault_of(root)
    assert code == "soapenv:Client.InvalidXRoadHeader" and text in faultstring, faultstring
    assert not AnswerJob.objects.exists() and not llm.requests
    assert AuditEvent.objects.filter(action__startswith="xroad.").get().outcome == "Client.InvalidXRoadHeader"


def test_a_member_client_without_a_subsystem_is_served(http, xroad_settings):
    member = PORTAL.rsplit("/", 1)[0]
    xroad_settings.GOVAI = {**xroad_settings.GOVAI, "XROAD": {"CLIENTS": {member: {"services": ["search"], "collections": ["rules"]}}}}
    response, root = call(http, message("searchPassages", search_body(), client=member, client_type="MEMBER"))
    assert response.status_code == 200, response.content
    assert AuditEvent.objects.get(action="xroad.soap.searchPassages").actor == f"xroad:{member}"


def chunked(http, data: bytes, **meta):
    """What a chunk-decoding WSGI server (gunicorn) hands Django for a chunked request: no
    Content-Length, the decoded body in wsgi.input, and wsgi.input_terminated."""
    environ = {"CONTENT_TYPE": "text/xml; charset=utf-8", "CONTENT_LENGTH": "", "HTTP_TRANSFER_ENCODING": "chunked",
               "wsgi.input": io.BytesIO(data), "wsgi.input_terminated": True, **meta}
    response = http.post("/xroad/soap", **environ)
    return response, etree.fromstring(response.content)


def test_a_chunked_message_is_read_up_to_the_size_limit(http, xroad_settings):
    response, root = chunked(http, message("searchPassages", search_body()))
    assert response.status_code == 200, response.content
    assert root.findall("soapenv:Body/tns:searchPassagesResponse/tns:passage", NS)
    xroad_settings.GOVAI = {**xroad_settings.GOVAI, "XROAD": {**xroad_settings.GOVAI["XROAD"], "MAX_BODY_BYTES": 500}}
    assert fault_of(chunked(http, message("searchPassages", search_body("word " * 200)))[1]) == (
        "soapenv:Client.TooLarge", "The message is larger than 500 bytes.")


def test_a_chunked_message_the_web_server_did_not_decode_is_a_clear_fault(http):
    _, root = chunked(http, message("searchPassages", search_body()), **{"wsgi.input_terminated": False})
    code, text = fault_of(root)
    assert code == "soapenv:Server.LengthRequired" and "gunicorn" in text


def test_an_ask_the_client_may_not_use_is_refused_before_anything_runs(http, xroad_settings, llm):
    xroad_settings.GOVAI = {**xroad_settings.GOVAI, "XROAD": {"CLIENTS": {PORTAL: {"services": ["search"], "collections": ["rules"]}}}}
    body = f"<tns:askAssistant><tns:question>{QUESTION}</tns:question></tns:askAssistant>"
    response, root = call(http, message("askAssistant", body))
    assert fault_of(root)[0] == "soapenv:Client.AccessDenied"
    assert not AnswerJob.objects.exists() and not llm.requests


def test_service_errors_become_faults(http):
    body = f"<tns:askAssistant><tns:question>{'q' * 5000}</tns:question></tns:askAssistant>"
    code, text = fault_of(call(http, message("askAssistant", body))[1])
    assert code == "soapenv:Client.InvalidRequest" and "limit" in text
    missing = f"<tns:getAnswer><tns:jobId>{uuid.uuid4()}</tns:jobId></tns:getAnswer>"
    assert fault_of(call(http, message("getAnswer", missing))[1])[0] == "soapenv:Client.NotFound"
    unknown = "<tns:searchPassages><tns:query>q</tns:query><tns:collection>secret</tns:collection></tns:searchPassages>"
    assert fault_of(call(http, message("searchPassages", unknown))[1])[0] == "soapenv:Client.NotFound"


def test_only_post_with_text_xml_within_the_size_limit(http, xroad_settings):
    get = http.get("/xroad/soap")
    assert get.status_code == 500 and "HTTP POST" in fault_of(etree.fromstring(get.content))[1]
    put = http.put("/xroad/soap", message("searchPassages", search_body()), content_type="text/xml")
    assert fault_of(etree.fromstring(put.content))[0] == "soapenv:Client.MethodNotAllowed"
    _, root = call(http, message("searchPassages", search_body()), content_type="application/json")
    assert fault_of(root)[0] == "soapenv:Client.InvalidContentType"
    xroad_settings.GOVAI = {**xroad_settings.GOVAI, "XROAD": {**xroad_settings.GOVAI["XROAD"], "MAX_BODY_BYTES": 500}}
    _, root = call(http, message("searchPassages", search_body("word " * 200)))
    assert fault_of(root) == ("soapenv:Client.TooLarge", "The message is larger than 500 bytes.")
    xroad_settings.GOVAI = {**xroad_settings.GOVAI, "XROAD": {**xroad_settings.GOVAI["XROAD"], "ALLOWED_ADDRESSES": ["10.9.9.9/32"]}}
    _, root = call(http, message("searchPassages", search_body()))
    assert fault_of(root)[0] == "soapenv:Client.AccessDenied"


def test_the_wsdl_is_a_valid_xroad_document_literal_wsdl(xroad_settings):
    response = Client().get("/xroad/soap?wsdl")
    assert response.status_code == 200
    root = etree.fromstring(response.content)
    assert root.tag == "{http://schemas.xmlsoap.org/wsdl/}definitions"
    assert soap.body_schema() is not None  # the body types compile as an XML Schema
    assert root.find("wsdl:binding/soap:binding", NS).get("style") == "document"
    assert root.find("wsdl:service/wsdl:port/soap:address", NS).get("location") == "http://testserver/xroad/soap"
    operations = root.findall("wsdl:binding/wsdl:operation", NS)
    assert {op.get("name") for op in operations} == {"askAssistant", "getAnswer", "searchPassages"}
    # PR-MESS table 2: xrd:version in binding/operation; title and notes in portType/operation/documentation
    documented = {op.get("name"): op for op in root.findall("wsdl:portType/wsdl:operation", NS)}
    assert set(documented) == {"askAssistant", "getAnswer", "searchPassages"}
    for name, op in documented.items():
        assert op.findtext("wsdl:documentation/xrd:title", namespaces=NS), name
        assert op.findtext("wsdl:documentation/xrd:notes", namespaces=NS), name
        assert op.find("xrd:version", NS) is None
    for op in operations:
        assert op.findtext("xrd:version", namespaces=NS) == "v1"
        assert op.find("xrd:title", NS) is None and op.find(".//xrd:title", NS) is None
        for direction in ("wsdl:input", "wsdl:output"):
            parts = [h.get("part") for h in op.findall(f"{direction}/soap:header", NS)]
            assert parts == ["client", "service", "id", "userId", "issue", "protocolVersion"]
            assert op.find(f"{direction}/soap:body", NS).get("use") == "literal"
        element = root.find(f"wsdl:types/xs:schema/xs:element[@name='{op.get('name')}Response']", NS)
        assert element is not None  # document/literal wrapped: <code>Response
    # one part per message, each an element
    for msg in root.findall("wsdl:message", NS):
        if msg.get("name") != "requestheader":
            assert [p.get("element") for p in msg.findall("wsdl:part", NS)] == [f"tns:{msg.get('name')}"]
    # the whole document loads in zeep in strict mode, with the X-Road schemas it imports
    from adapters.xroad.consumer import XRoadConsumer

    with tempfile.NamedTemporaryFile(suffix=".wsdl") as f:
        f.write(response.content)
        f.flush()
        client = XRoadConsumer("http://127.0.0.1:9", PORTAL).soap_client(f.name)
    assert set(client.service._binding._operations) == {"askAssistant", "getAnswer", "searchPassages"}


def test_service_codes_come_from_settings(xroad_settings):
    xroad_settings.GOVAI = {**xroad_settings.GOVAI, "XROAD": {**xroad_settings.GOVAI["XROAD"], "SERVICE_CODES": {
        "ask": "kysiAssistendilt", "answer": "saaVastus", "search": "otsiLoike"}}}
    root = etree.fromstring(Client().get("/xroad/soap?WSDL").content)
    assert {op.get("name") for op in root.findall("wsdl:binding/wsdl:operation", NS)} == {"kysiAssistendilt", "saaVastus", "otsiLoike"}
    assert root.find("wsdl:types/xs:schema/xs:element[@name='otsiLoikeResponse']", NS) is not None

"""The SOAP provider (X-Road message protocol 4.0): askAssistant, getAnswer, searchPassages.

SOAP 1.1, document/literal wrapped, HTTP POST only. The request is first screened by
defusedxml (no DTD, no entity declarations, no external references: the usual XML
attacks are refused before anything else reads the message), then parsed by lxml
with entity resolution and network access off, its X-Road headers validated, its
body validated against the schema in our own WSDL, and the client authorised. The
response copies every request header, in order. Every problem is a SOAP fault
(HTTP 500, as SOAP 1.1 over HTTP requires) and changes nothing; every request,
answered or refused, goes to the audit trail.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import logging
import re
import time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as defused_fromstring
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from lxml import etree

from adapters.xroad import access, body, headers
from adapters.xroad.identifiers import ClientId, IdentifierError
from govai_plugin.conf import govai_settings
from govai_plugin.exceptions import AccessDenied, GovAIError, InvalidRequest, NotFound
from govai_plugin.models import AnswerJob
from govai_plugin.services import audit
from govai_plugin.services.answers import ask
from govai_plugin.services.search import search

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
XRD = "http://x-road.eu/xsd/xroad.xsd"
ID = "http://x-road.eu/xsd/identifiers"
NS = "urn:govai:xroad:assistant:v1"
PROTOCOL_VERSION = "4.0"
#: PR-MESS: versions with the same major number are compatible (X-Road accepts any "4." prefix).
SUPPORTED_PROTOCOL = re.compile(r"4\.[0-9]+(\.[0-9]+)*")
HERE = Path(__file__).resolve().parent
TITLES = {
    "ask": "Ask the assistant: a grounded, cited draft answer, or an abstention with its reason",
    "answer": "Get an answer job by its id (status, answer, citations)",
    "search": "Search the knowledge base: the passages that match a query, with where they are",
}
NOTES = {
    "ask": "The answer is AI-generated and says so in label; each [n] marker cites a passage (document, version, "
           "heading path, page, character span). Waits up to waitSeconds, else returns the jobId to poll with the "
           "answer service.",
    "answer": "Only jobs this client asked for are returned.",
    "search": "Hybrid (default), dense or full-text search over the collections this client was granted.",
}
_HEADER_PARTS = ("client", "service", "id", "userId", "issue", "protocolVersion")
_POLL = 0.1
logger = logging.getLogger(__name__)


class Fault(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code  # "Client.Something" or "Server.Something"


# --- WSDL and schema ------------------------------------------------------------------------


def service_codes() -> dict[str, str]:
    """Internal name ("ask", "answer", "search") -> service code."""
    return dict(govai_settings.XROAD["SERVICE_CODES"])


def wsdl(address: str) -> str:
    codes = service_codes()
    version = govai_settings.XROAD["SERVICE_VERSION"]
    header_lines = "".join(
        f'\n          <soap:header message="tns:requestheader" part="{part}" use="literal"/>' for part in _HEADER_PARTS
    )
    operations, port_operations = [], []
    for name in ("ask", "answer", "search"):
        code = codes[name]
        io = f'<soap:body parts="body" use="literal"/>{header_lines}'
        operations.append(  # PR-MESS table 2: the service code and xrd:version in binding/operation
            f'    <wsdl:operation name="{code}">\n'
            f'      <soap:operation soapAction="" style="document"/>\n'
            f"      <xrd:version>{_xml_text(version)}</xrd:version>\n"
            f"      <wsdl:input>\n          {io}\n      </wsdl:input>\n"
            f"      <wsdl:output>\n          {io}\n      </wsdl:output>\n"
            f"    </wsdl:operation>"
        )
        port_operations.append(  # ... the title and notes in portType/operation/documentation
            f'    <wsdl:operation name="{code}">\n'
            f"      <wsdl:documentation>\n"
            f'        <xrd:title xml:lang="en">{TITLES[name]}</xrd:title>\n'
            f'        <xrd:notes xml:lang="en">{NOTES[name]}</xrd:notes>\n'
            f"      </wsdl:documentation>\n"
            f'      <wsdl:input message="tns:{code}"/>\n'
            f'      <wsdl:output message="tns:{code}Response"/>\n'
            f"    </wsdl:operation>"
        )
    answers = govai_settings.ANSWERS
    return (HERE / "templates" / "assistant.wsdl").read_text().format(
        ns=NS, ask=codes["ask"], answer=codes["answer"], search=codes["search"],
        operations="\n".join(operations), port_operations="\n".join(port_operations), address=_xml_text(address),
        max_text=max(answers["MAX_QUESTION_CHARS"], answers["MAX_CONTEXT_CHARS"]),
        max_wait=f'{float(govai_settings.XROAD["SOAP_WAIT_SECONDS"]):g}',
    )


def _xml_text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")


@functools.lru_cache(maxsize=8)
def _schema_for(document: str) -> etree.XMLSchema:
    root = etree.fromstring(document.encode())
    schema = copy.deepcopy(root.find("wsdl:types/xs:schema", {
        "wsdl": "http://schemas.xmlsoap.org/wsdl/", "xs": "http://www.w3.org/2001/XMLSchema"}))
    for imported in schema.findall("{http://www.w3.org/2001/XMLSchema}import"):
        schema.remove(imported)  # the body types do not use the X-Road header types
    return etree.XMLSchema(schema)


def body_schema() -> etree.XMLSchema:
    """The schema of our request and response bodies, taken from the WSDL we serve."""
    return _schema_for(wsdl("http://localhost/"))


# --- parsing ----------------------------------------------------------------------------------

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def parse_envelope(raw: bytes) -> etree._Element:
    try:
        defused_fromstring(raw, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise Fault("Client.ForbiddenXml", "The message contains a DTD, entity declarations or external references; "
                                           "X-Road messages may not.") from None
    except ParseError as exc:
        raise Fault("Client.InvalidXml", f"The message is not well-formed XML: {exc}.") from None
    try:
        root = etree.fromstring(raw, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise Fault("Client.InvalidXml", f"The message is not well-formed XML: {exc}.") from None
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise Fault("Client.InvalidSoap", "The message is not a SOAP 1.1 Envelope "
                                          "(namespace http://schemas.xmlsoap.org/soap/envelope/).")
    return root


def _one(header: etree._Element, name: str, *, required: bool) -> etree._Element | None:
    found = header.findall(f"{{{XRD}}}{name}")
    if len(found) > 1:
        raise Fault("Client.InvalidXRoadHeader", f"The header xrd:{name} appears {len(found)} times; it may appear once.")
    if not found and required:
        raise Fault("Client.InvalidXRoadHeader", f"The header xrd:{name} is missing; X-Road messages must carry it.")
    return found[0] if found else None


def _identifier(element: etree._Element, allowed_types: tuple[str, ...], what: str) -> tuple[ClientId, list[str]]:
    object_type = element.get(f"{{{ID}}}objectType")
    if object_type not in allowed_types:
        raise Fault("Client.InvalidXRoadHeader",
                    f"xrd:{what} must have id:objectType {' or '.join(allowed_types)}, not {object_type!r}.")
    names = ["xRoadInstance", "memberClass", "memberCode", "subsystemCode", "serviceCode", "serviceVersion"]
    values: dict[str, str] = {}
    for child in element:
        if not isinstance(child.tag, str):
            continue  # a comment or processing instruction
        local = etree.QName(child).localname
        if etree.QName(child).namespace != ID or local not in names or local in values:
            raise Fault("Client.InvalidXRoadHeader", f"xrd:{what} has an unexpected element {child.tag!r}.")
        values[local] = (child.text or "").strip()
    _check_consistent(object_type, values, what)
    try:
        client = ClientId(values.get("xRoadInstance", ""), values.get("memberClass", ""), values.get("memberCode", ""),
                          values.get("subsystemCode") or None)
    except IdentifierError as exc:
        raise Fault("Client.InvalidXRoadHeader", f"xrd:{what}: {exc}") from None
    return client, [values.get("serviceCode", ""), values.get("serviceVersion", "")]


def _check_consistent(object_type: str, values: dict[str, str], what: str) -> None:
    """PR-MESS annex A: a MEMBER has no subsystem code, a SUBSYSTEM has one, only a SERVICE has a service code."""
    problem = ""
    if object_type == "MEMBER" and "subsystemCode" in values:
        problem = "id:objectType MEMBER with an id:subsystemCode (a subsystem is SUBSYSTEM)"
    elif object_type == "SUBSYSTEM" and not values.get("subsystemCode"):
        problem = "id:objectType SUBSYSTEM without an id:subsystemCode"
    elif object_type == "SERVICE" and not values.get("serviceCode"):
        problem = "no id:serviceCode"
    elif object_type != "SERVICE" and {"serviceCode", "serviceVersion"} & set(values):
        problem = f"id:objectType {object_type} with a service code or version"
    if problem:
        raise Fault("Client.InvalidXRoadHeader", f"xrd:{what} has {problem}; the identifier is inconsistent.")


def read_headers(envelope: etree._Element) -> tuple[headers.XRoadRequestInfo, str, etree._Element, etree._Element]:
    """The X-Road request info, the service code called, the Header element and the body wrapper."""
    header = envelope.find(f"{{{SOAP_ENV}}}Header")
    body = envelope.find(f"{{{SOAP_ENV}}}Body")
    if header is None:
        raise Fault("Client.InvalidXRoadHeader", "The message has no SOAP Header; X-Road messages carry their headers there.")
    if body is None:
        raise Fault("Client.InvalidSoap", "The message has no SOAP Body.")
    client_el = _one(header, "client", required=True)
    service_el = _one(header, "service", required=True)
    id_el = _one(header, "id", required=True)
    version_el = _one(header, "protocolVersion", required=True)
    user_el = _one(header, "userId", required=False)
    issue_el = _one(header, "issue", required=False)
    version = (version_el.text or "").strip()
    if not SUPPORTED_PROTOCOL.fullmatch(version):
        raise Fault("Client.InvalidProtocolVersion",
                    f"xrd:protocolVersion is {version!r}; this service speaks 4.x (answers as {PROTOCOL_VERSION} does).")
    client, _ = _identifier(client_el, ("MEMBER", "SUBSYSTEM"), "client")
    _, (service_code, _version) = _identifier(service_el, ("SERVICE",), "service")
    try:
        info = headers.parse(
            client=client, message_id=(id_el.text or "").strip(),
            user_id=(user_el.text or "").strip() if user_el is not None else None,
            issue=(issue_el.text or "").strip() if issue_el is not None else None,
        )
    except headers.BadXRoadHeader as exc:
        raise Fault("Client.InvalidXRoadHeader", str(exc).replace("X-Road-Id", "xrd:id")
                    .replace("X-Road-UserId", "xrd:userId").replace("X-Road-Issue", "xrd:issue")) from None
    wrappers = [child for child in body if isinstance(child.tag, str)]
    if len(wrappers) != 1:
        raise Fault("Client.InvalidBody", f"The SOAP Body must hold exactly one request element, not {len(wrappers)}.")
    wrapper = wrappers[0]
    name = etree.QName(wrapper)
    if name.localname != service_code:
        raise Fault("Client.InvalidBody",
                    f"The request element is {name.localname!r} but xrd:service calls {service_code!r}; they must match.")
    if name.namespace != NS:
        raise Fault("Client.InvalidBody", f"The request element must be in the namespace {NS}.")
    return info, service_code, header, wrapper


# --- operations ---------------------------------------------------------------------------------


def _texts(wrapper: etree._Element, name: str) -> list[str]:
    return [(el.text or "") for el in wrapper.findall(f"{{{NS}}}{name}")]


def _text(wrapper: etree._Element, name: str) -> str | None:
    values = _texts(wrapper, name)
    return values[0] if values else None


def _sub(parent: etree._Element, name: str, value) -> None:
    if value is None or value == "":
        return
    etree.SubElement(parent, f"{{{NS}}}{name}").text = str(value)


def _answer_element(tag: str, job: AnswerJob) -> etree._Element:
    out = etree.Element(f"{{{NS}}}{tag}", nsmap={"tns": NS})
    _sub(out, "jobId", job.uid)
    _sub(out, "status", job.status)
    _sub(out, "answer", job.answer_text)
    _sub(out, "label", govai_settings.ANSWERS["LABEL"])
    _sub(out, "abstainReason", job.abstain_reason)
    _sub(out, "abstainDetail", job.abstain_detail)
    _sub(out, "error", job.error)
    _sub(out, "model", job.model)
    _sub(out, "promptVersion", job.prompt_version)
    for c in job.citations:
        cite = etree.SubElement(out, f"{{{NS}}}citation")
        for name, key in (("number", "number"), ("marker", "marker"), ("chunkId", "chunk_id"), ("documentId", "document_id"),
                          ("documentTitle", "document_title"), ("documentVersion", "document_version")):
            _sub(cite, name, c[key])
        etree.SubElement(cite, f"{{{NS}}}headingPath").text = c.get("heading_path") or ""
        _sub(cite, "page", c.get("page"))
        _sub(cite, "charStart", c["char_start"])
        _sub(cite, "charEnd", c["char_end"])
    return out


def _ask(wrapper, grant, info, code) -> etree._Element:
    cfg = govai_settings.XROAD
    wait = float(cfg["SOAP_WAIT_SECONDS"])
    requested = _text(wrapper, "waitSeconds")
    if requested is not None:
        try:
            wait = min(wait, float(Decimal(requested)))
        except InvalidOperation:
            raise InvalidRequest("waitSeconds must be a number.") from None
    in_force = _text(wrapper, "inForceOn")
    try:
        in_force_on = dt.date.fromisoformat(in_force[:10]) if in_force else None
    except ValueError:
        raise InvalidRequest("inForceOn must be a date, YYYY-MM-DD.") from None
    job = ask(
        _text(wrapper, "question") or "",
        client=grant.api_client,
        collections=_texts(wrapper, "collection") or None,
        use_case=_text(wrapper, "useCase"),
        case_context=_text(wrapper, "caseContext") or "",
        languages=_texts(wrapper, "language"),
        in_force_on=in_force_on,
        actor=f"xroad:{info.client}",
    )
    deadline = time.monotonic() + wait
    while not job.is_final and time.monotonic() < deadline:
        time.sleep(_POLL)
        job.refresh_from_db()
    return _answer_element(f"{code}Response", job)


def _get_answer(wrapper, grant, info, code) -> etree._Element:
    job = AnswerJob.objects.filter(uid=_text(wrapper, "jobId"), client=grant.api_client).first()
    if job is None:
        raise NotFound("No answer job of yours has this id.")
    return _answer_element(f"{code}Response", job)


def _search(wrapper, grant, info, code) -> etree._Element:
    top_k = _text(wrapper, "topK")
    result = search(
        _text(wrapper, "query") or "", client=grant.api_client, collections=_texts(wrapper, "collection") or None,
        mode=_text(wrapper, "mode"), top_k=int(top_k) if top_k else None, languages=_texts(wrapper, "language"),
    )
    out = etree.Element(f"{{{NS}}}{code}Response", nsmap={"tns": NS})
    for rank, hit in enumerate(result.hits, start=1):
        passage = etree.SubElement(out, f"{{{NS}}}passage")
        for name, value in (("rank", rank), ("chunkId", hit.chunk_id), ("documentId", hit.document_id),
                            ("documentTitle", hit.document_title), ("documentVersion", hit.document_version),
                            ("collection", hit.collection)):
            _sub(passage, name, value)
        etree.SubElement(passage, f"{{{NS}}}headingPath").text = hit.heading_path or ""
        _sub(passage, "page", hit.page)
        _sub(passage, "charStart", hit.char_start)
        _sub(passage, "charEnd", hit.char_end)
        _sub(passage, "score", repr(float(hit.score)))
        etree.SubElement(passage, f"{{{NS}}}language").text = hit.language or ""
        etree.SubElement(passage, f"{{{NS}}}text").text = hit.text
    return out


_OPERATIONS = {"ask": (_ask, "ask"), "answer": (_get_answer, "ask"), "search": (_search, "search")}
_ERRORS = [(InvalidRequest, "Client.InvalidRequest"), (NotFound, "Client.NotFound"), (AccessDenied, "Client.AccessDenied")]


# --- responses and the view --------------------------------------------------------------------------


def envelope(header_elements: list[etree._Element], body_element: etree._Element) -> bytes:
    env = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soapenv": SOAP_ENV, "xrd": XRD, "id": ID})
    header = etree.SubElement(env, f"{{{SOAP_ENV}}}Header")
    for element in header_elements:
        header.append(copy.deepcopy(element))
    etree.SubElement(env, f"{{{SOAP_ENV}}}Body").append(body_element)
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


def fault_response(fault: Fault, header_elements: list[etree._Element] | None = None) -> HttpResponse:
    element = etree.Element(f"{{{SOAP_ENV}}}Fault")
    etree.SubElement(element, "faultcode").text = f"soapenv:{fault.code}"
    etree.SubElement(element, "faultstring").text = str(fault)
    return HttpResponse(envelope(header_elements or [], element), status=500, content_type="text/xml; charset=utf-8")


def _handle(request: HttpRequest, state: dict) -> HttpResponse:
    cfg = govai_settings.XROAD
    if request.method != "POST":
        raise Fault("Client.MethodNotAllowed", f"X-Road SOAP messages are sent with HTTP POST, not {request.method}; "
                                                "GET ?wsdl gives the service description.")
    address = request.META.get("REMOTE_ADDR", "")
    if not headers.address_allowed(address, cfg["ALLOWED_ADDRESSES"]):
        raise Fault("Client.AccessDenied", f"{address or 'This address'} is not an allowed Security Server address.")
    limit = cfg["MAX_BODY_BYTES"]
    try:
        raw = body.read(request, limit)  # chunked, as the Security Server sends it, or with a Content-Length
    except body.TooLarge:
        raise Fault("Client.TooLarge", f"The message is larger than {limit:,} bytes.") from None
    except body.LengthRequired as exc:
        raise Fault("Server.LengthRequired", str(exc)) from None
    if not raw.strip():
        raise Fault("Client.InvalidXml", "The message is empty.")
    content_type = request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    if content_type != "text/xml":
        raise Fault("Client.InvalidContentType", f"Send SOAP 1.1 as text/xml, not {content_type or 'no content type'!r}.")
    root = parse_envelope(raw)
    info, code, header, wrapper = read_headers(root)
    state.update(info=info, code=code, header=[el for el in header if isinstance(el.tag, str)])
    operation = {value: key for key, value in service_codes().items()}.get(code)
    if operation is None:
        raise Fault("Client.UnknownService", f"This provider has no SOAP service {code!r}; it has "
                                              f"{', '.join(service_codes().values())}.")
    schema = body_schema()
    if not schema.validate(etree.ElementTree(copy.deepcopy(wrapper))):
        error = schema.error_log.last_error
        raise Fault("Client.InvalidBody", f"The {code} element is not valid: {error.message if error else 'schema error'}.")
    handler, grant_name = _OPERATIONS[operation]
    try:
        grant = access.authorise(info.client, grant_name)
    except access.NotAllowed as exc:
        raise Fault("Client.AccessDenied", str(exc)) from None
    try:
        answer = handler(wrapper, grant, info, code)
    except GovAIError as exc:
        fault_code = next((name for cls, name in _ERRORS if isinstance(exc, cls)), "Server.Unavailable")
        raise Fault(fault_code, str(exc)) from None
    job_id = answer.findtext(f"{{{NS}}}jobId")
    state["object_ref"] = job_id or ""
    return HttpResponse(envelope(state["header"], answer), content_type="text/xml; charset=utf-8")


@csrf_exempt
def soap_view(request: HttpRequest) -> HttpResponse:
    if request.method == "GET" and "wsdl" in {key.lower() for key in request.GET}:
        address = request.build_absolute_uri(request.path)
        return HttpResponse(wsdl(address), content_type="text/xml; charset=utf-8")
    state: dict = {}
    try:
        response = _handle(request, state)
        outcome = "ok"
    except Fault as fault:
        response = fault_response(fault, state.get("header"))
        outcome = fault.code
    except Exception:  # a bug or an outage: a fault, never an HTML error page
        info = state.get("info")
        logger.exception("X-Road SOAP request %s failed", info.message_id if info else "?")
        fault = Fault("Server.InternalError", "The service failed; the provider has logged it with the message id.")
        response = fault_response(fault, state.get("header"))
        outcome = fault.code
    info = state.get("info")
    audit.record(
        f"xroad.soap.{state.get('code', 'unknown')}"[:100],
        actor=f"xroad:{info.client}" if info else "xroad:unidentified",
        outcome=outcome, user_id=info.user_id if info else "", object_ref=state.get("object_ref", ""),
        details={**(info.audit_details() if info else {}), "method": request.method,
                 "remote_address": request.META.get("REMOTE_ADDR", ""), "status": response.status_code},
    )
    return response

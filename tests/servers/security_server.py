"""A stand-in for an X-Road Security Server on 127.0.0.1, for the tests.

It plays the consumer's and the provider's Security Server at once, as the protocol
documents describe them (PR-REST 1.0.4, PR-MESS 4.0, PR-META, PR-MREST), and shares
no code with the adapter it tests:

* REST ``/r1/{INSTANCE}/{CLASS}/{MEMBER}/{SUBSYSTEM}/{SERVICECODE}/{path}``: checks
  ``X-Road-Client``, looks the service up, checks the access right, and forwards to
  the provider with ``X-Road-Client``, ``X-Road-Id`` (made if absent) and a new
  ``X-Road-Request-Id``; drops hop-by-hop headers, ``Host``, ``User-Agent``, ``Server``
  and what clients must not send; adds ``X-Road-Client``, ``X-Road-Service``,
  ``X-Road-Id``, ``X-Road-Request-Id`` and ``X-Road-Request-Hash`` to the answer.
  Its own errors carry ``X-Road-Error`` and a ``{type, message, detail}`` body (XML
  when the client asked for it), in the 7.8 spelling or the older one.
* REST metaservices ``listMethods``, ``allowedMethods``, ``getOpenAPI`` and ``GET /listClients``.
* SOAP ``POST /``: routes by ``xrd:service``, checks access, forwards, adds
  ``xrd:requestHash`` to the answer's header; metaservices ``listMethods``,
  ``allowedMethods`` and ``getWsdl`` (the WSDL as a MIME attachment).

It forwards request bodies (SOAP and REST) as X-Road's own proxy does, with
``Transfer-Encoding: chunked`` and no ``Content-Length`` (an entity of unknown length);
``chunked=False`` sends a ``Content-Length`` instead. Providers standing in on
``http.server`` read either with :func:`read_body`. ``getWsdl`` answers as X-Road's
metaservice handler does: ``multipart/related; type="text/xml"; charset=UTF-8``, the SOAP
part first, then the WSDL (``Content-Transfer-Encoding: binary``, ``Content-ID:
<wsdl=...@x-road.eu>``) with its ``soap:address`` replaced by a placeholder. ``failures``
makes a service's calls fail with a given X-Road error code, as a Security Server would.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import requests
from lxml import etree

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
XRD = "http://x-road.eu/xsd/xroad.xsd"
ID = "http://x-road.eu/xsd/identifiers"
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
              "transfer-encoding", "upgrade", "host", "user-agent", "server", "content-length",
              "x-road-request-hash", "x-road-request-id", "x-road-security-server"}
META = {"listMethods", "allowedMethods", "getOpenAPI"}
#: What X-Road's metaservice handler puts in soap:address of a WSDL it hands out.
WSDL_ENDPOINT_ADDRESS = "http://example.org/xroad-endpoint"
_OLD_PREFIXES = {"server.clientproxy": "Server.ClientProxy", "server.serverproxy": "Server.ServerProxy",
                 "client": "Client", "signer": "Signer"}
#: Codes whose pre-7.8 name is not the new one in CamelCase.
_OLD_NAMES = {"global_conf_outdated": "OutdatedGlobalConf", "io_error": "IOError", "hsm_non_operational": "HSMNonOperational"}


def legacy_type(modern: str) -> str:
    """``server.clientproxy.global_conf_outdated`` -> ``Server.ClientProxy.OutdatedGlobalConf`` (before X-Road 7.8)."""
    for prefix, old in _OLD_PREFIXES.items():
        if modern.startswith(prefix + "."):
            words = modern[len(prefix) + 1:].split(".")
            return ".".join([old] + [_OLD_NAMES.get(w) or "".join(x.capitalize() for x in w.split("_")) for w in words])
    return modern


def read_body(handler: BaseHTTPRequestHandler) -> bytes:
    """A request body with a Content-Length or chunked (``http.server`` decodes neither)."""
    if "chunked" not in (handler.headers.get("Transfer-Encoding") or "").lower():
        length = int(handler.headers.get("Content-Length") or 0)
        return handler.rfile.read(length) if length else b""
    chunks = []
    while size := int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16):
        chunks.append(handler.rfile.read(size))
        handler.rfile.readline()  # the CRLF after each chunk
    while handler.rfile.readline().strip():  # trailers, up to the empty line
        pass
    return b"".join(chunks)


class SecurityServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, *, legacy_errors: bool = False, timeout: float = 30.0, chunked: bool = True) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.legacy_errors = legacy_errors
        self.timeout = timeout
        self.chunked = chunked
        #: service id -> the X-Road error code (7.8 spelling) its calls fail with
        self.failures: dict[str, str] = {}
        #: "INSTANCE/CLASS/MEMBER/SUBSYSTEM/CODE" -> {"type": "REST"|"OPENAPI"|"WSDL", "url", "description", "endpoints"}
        self.services: dict[str, dict] = {}
        #: service id -> client ids allowed to call it
        self.access: dict[str, set[str]] = {}
        self.members: list[dict] = []
        #: what was forwarded to providers: {"method", "url", "headers", "body"}
        self.forwarded: list[dict] = []
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def add_service(self, service_id: str, kind: str, url: str, *, description: str = "",
                    endpoints: list[dict] | None = None, allow: list[str] = ()) -> None:
        self.services[service_id] = {"type": kind, "url": url, "description": description, "endpoints": endpoints or []}
        self.access.setdefault(service_id, set()).update(allow)

    def error_type(self, modern: str) -> str:
        return legacy_type(modern) if self.legacy_errors else modern

    def outgoing(self, body: bytes):
        """A forwarded body: chunked (an iterator, so requests streams it) unless ``chunked=False``."""
        if not body:
            return None
        return iter([body]) if self.chunked else body

    def __enter__(self) -> SecurityServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
        self.server_close()


def _client_id(text: str | None) -> str | None:
    if not text:
        return None
    parts = [unquote(p) for p in text.split("/")]
    if len(parts) not in (3, 4) or not all(parts):
        return None
    return "/".join(parts)


def _request_hash(headers: list[tuple[str, str]], body: bytes) -> str:
    head = hashlib.sha512("".join(f"{k}:{v}\n" for k, v in headers).encode()).digest()
    if not body:
        return base64.b64encode(head).decode()
    return base64.b64encode(hashlib.sha512(head + hashlib.sha512(body).digest()).digest()).decode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: SecurityServer

    def log_message(self, *args):
        pass

    def do_GET(self):
        self._route()

    def do_POST(self):
        self._route()

    def do_PUT(self):
        self._route()

    def do_DELETE(self):
        self._route()

    # --- routing ----------------------------------------------------------------------------

    def _route(self):
        self.body = read_body(self)
        split = urlsplit(self.path)
        if split.path == "/listClients" and self.command == "GET":
            return self._json(200, {"member": self.server.members})
        if split.path.startswith("/r1/"):
            return self._rest(split)
        if split.path == "/" and self.command == "POST":
            return self._soap()
        return self._xroad_error(400, "client.bad_request", f"Unknown path {split.path}")

    # --- REST ----------------------------------------------------------------------------------

    def _rest(self, split):
        parts = split.path[len("/r1/"):].split("/")
        client = _client_id(self.headers.get("X-Road-Client"))
        if client is None:
            return self._xroad_error(400, "client.bad_request", "X-Road-Client is missing or malformed.")
        if len(parts) >= 5 and unquote(parts[4]) in META:
            return self._rest_meta("/".join(unquote(p) for p in parts[:4]), unquote(parts[4]), split, client)
        if len(parts) < 5:
            return self._xroad_error(400, "client.bad_request", "The service id needs INSTANCE/CLASS/MEMBER/SUBSYSTEM/CODE.")
        service_id = "/".join(unquote(p) for p in parts[:5])
        if service_id in self.server.failures:
            code = self.server.failures[service_id]
            return self._xroad_error(500 if code.startswith("server.") else 400, code, f"{code} (stand-in)")
        service = self.server.services.get(service_id)
        if service is None or service["type"] == "WSDL":
            return self._xroad_error(500, "server.serverproxy.unknown_service", f"Unknown service {service_id}")
        if client not in self.server.access.get(service_id, set()):
            return self._xroad_error(500, "server.serverproxy.access_denied",
                                     f"Request is not allowed: {service_id} for {client}")
        rest = "/".join(parts[5:])
        target = service["url"].rstrip("/") + "/" + rest + (f"?{split.query}" if split.query else "")
        message_id = self.headers.get("X-Road-Id") or str(uuid.uuid4())
        request_id = str(uuid.uuid4())
        sent = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        sent.update({"X-Road-Client": client, "X-Road-Id": message_id, "X-Road-Request-Id": request_id})
        sent.setdefault("Accept", "application/json")
        self.server.forwarded.append({"method": self.command, "url": target, "headers": dict(sent), "body": self.body})
        try:
            answer = requests.request(self.command, target, headers=sent, data=self.server.outgoing(self.body),
                                      timeout=self.server.timeout, allow_redirects=False)
        except requests.RequestException as exc:
            return self._xroad_error(500, "server.serverproxy.network_error", f"Cannot reach the service: {exc}")
        headers = [(k, v) for k, v in answer.headers.items()
                   if k.lower() not in HOP_BY_HOP and not k.lower().startswith("x-road-")]
        headers += [("X-Road-Client", client), ("X-Road-Service", service_id), ("X-Road-Id", message_id),
                    ("X-Road-Request-Id", request_id),
                    ("X-Road-Request-Hash", _request_hash(sorted(sent.items()), self.body))]
        self._send(answer.status_code, answer.content, headers)

    def _rest_meta(self, provider: str, code: str, split, client: str):
        if code == "getOpenAPI":
            wanted = parse_qs(split.query).get("serviceCode", [""])[0]
            service = self.server.services.get(f"{provider}/{wanted}")
            if service is None or service["type"] != "OPENAPI":
                return self._xroad_error(500, "server.serverproxy.unknown_service", f"No OpenAPI service {wanted}")
            try:
                answer = requests.get(service["description"], timeout=self.server.timeout)
            except requests.RequestException as exc:
                return self._xroad_error(500, "server.serverproxy.network_error", str(exc))
            return self._send(200, answer.content, [("Content-Type", answer.headers.get("Content-Type", "text/yaml"))])
        listed = []
        for service_id, service in self.server.services.items():
            if not service_id.startswith(provider + "/") or service["type"] == "WSDL":
                continue
            if code == "allowedMethods" and client not in self.server.access.get(service_id, set()):
                continue
            instance, member_class, member_code, subsystem, service_code = service_id.split("/")
            listed.append({"member_class": member_class, "member_code": member_code, "object_type": "SERVICE",
                           "service_code": service_code, "service_type": service["type"], "subsystem_code": subsystem,
                           "xroad_instance": instance, "endpoint_list": service["endpoints"]})
        return self._json(200, {"service": listed})

    # --- SOAP --------------------------------------------------------------------------------------

    def _soap(self):
        try:
            envelope = etree.fromstring(self.body, etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False))
            header = envelope.find(f"{{{SOAP_ENV}}}Header")
            client_el = header.find(f"{{{XRD}}}client")
            service_el = header.find(f"{{{XRD}}}service")
            client = "/".join(c.text for c in client_el)
            names = [etree.QName(c).localname for c in service_el]
            values = dict(zip(names, [c.text for c in service_el]))
        except Exception:  # noqa: BLE001 - anything unreadable is the client's fault here
            return self._soap_fault("client.bad_request", "Malformed SOAP message or X-Road headers")
        provider = "/".join(values.get(k) for k in ("xRoadInstance", "memberClass", "memberCode", "subsystemCode") if values.get(k))
        code = values.get("serviceCode", "")
        if code in ("listMethods", "allowedMethods"):
            return self._soap_list(envelope, header, provider, code, client)
        if code == "getWsdl":
            return self._soap_wsdl(envelope, header, provider, client)
        service_id = f"{provider}/{code}"
        if service_id in self.server.failures:
            return self._soap_fault(self.server.failures[service_id], f"{self.server.failures[service_id]} (stand-in)")
        service = self.server.services.get(service_id)
        if service is None or service["type"] != "WSDL":
            return self._soap_fault("server.serverproxy.unknown_service", f"Unknown service {service_id}")
        if client not in self.server.access.get(service_id, set()):
            return self._soap_fault("server.serverproxy.access_denied", f"Request is not allowed: {service_id} for {client}")
        self.server.forwarded.append({"method": "POST", "url": service["url"], "headers": dict(self.headers), "body": self.body})
        try:
            answer = requests.post(service["url"], data=self.server.outgoing(self.body), timeout=self.server.timeout,
                                   headers={"Content-Type": self.headers.get("Content-Type", "text/xml"),
                                            "SOAPAction": self.headers.get("SOAPAction", '""')})
        except requests.RequestException as exc:
            return self._soap_fault("server.serverproxy.network_error", f"Cannot reach the service: {exc}")
        try:
            reply = etree.fromstring(answer.content, etree.XMLParser(resolve_entities=False, no_network=True))
            reply_header = reply.find(f"{{{SOAP_ENV}}}Header")
            if reply_header is not None:
                digest = etree.SubElement(reply_header, f"{{{XRD}}}requestHash", algorithmId="http://www.w3.org/2001/04/xmlenc#sha512")
                digest.text = base64.b64encode(hashlib.sha512(self.body).digest()).decode()
            content = etree.tostring(reply, xml_declaration=True, encoding="UTF-8")
        except etree.XMLSyntaxError:
            return self._soap_fault("server.serverproxy.service_failed", "The service's answer is not SOAP")
        self._send(answer.status_code, content, [("Content-Type", "text/xml; charset=utf-8")])

    def _soap_reply(self, header, body_child, *, attachment: bytes | None = None):
        env = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soapenv": SOAP_ENV, "xrd": XRD, "id": ID})
        out_header = etree.SubElement(env, f"{{{SOAP_ENV}}}Header")
        for el in list(header):
            out_header.append(copy.deepcopy(el))
        etree.SubElement(env, f"{{{SOAP_ENV}}}Body").append(body_child)
        xml = etree.tostring(env, xml_declaration=True, encoding="UTF-8")
        if attachment is None:
            return self._send(200, xml, [("Content-Type", "text/xml; charset=utf-8")])
        # X-Road's MultipartSoapMessageEncoder: "Content-Type:" without a space, no start parameter.
        boundary = "xroad" + uuid.uuid4().hex
        payload = (f"--{boundary}\r\nContent-Type:text/xml; charset=UTF-8\r\n\r\n".encode() + xml
                   + f"\r\n--{boundary}\r\nContent-Type:text/xml\r\nContent-Transfer-Encoding: binary\r\n"
                     f"Content-ID: <wsdl={uuid.uuid4()}@x-road.eu>\r\n\r\n".encode()
                   + attachment + f"\r\n--{boundary}--\r\n".encode())
        self._send(200, payload, [("Content-Type", f'multipart/related; type="text/xml"; charset=UTF-8; boundary={boundary}')],
                   chunked=self.server.chunked)

    def _soap_list(self, envelope, header, provider, code, client):
        out = etree.Element(f"{{{XRD}}}{code}Response")
        for service_id, service in self.server.services.items():
            if service["type"] != "WSDL" or not service_id.startswith(provider + "/"):
                continue
            if code == "allowedMethods" and client not in self.server.access.get(service_id, set()):
                continue
            instance, member_class, member_code, subsystem, service_code = service_id.split("/")
            el = etree.SubElement(out, f"{{{XRD}}}service", {f"{{{ID}}}objectType": "SERVICE"})
            for name, value in (("xRoadInstance", instance), ("memberClass", member_class), ("memberCode", member_code),
                                ("subsystemCode", subsystem), ("serviceCode", service_code)):
                etree.SubElement(el, f"{{{ID}}}{name}").text = value
        return self._soap_reply(header, out)

    def _soap_wsdl(self, envelope, header, provider, client):
        body = envelope.find(f"{{{SOAP_ENV}}}Body")
        code = body.findtext(f"{{{XRD}}}getWsdl/{{{XRD}}}serviceCode") or ""
        service = self.server.services.get(f"{provider}/{code}")
        if service is None or service["type"] != "WSDL":
            return self._soap_fault("server.serverproxy.unknown_service", f"No SOAP service {code}")
        try:
            wsdl = requests.get(service["description"], timeout=self.server.timeout).content
        except requests.RequestException as exc:
            return self._soap_fault("server.serverproxy.network_error", str(exc))
        out = etree.Element(f"{{{XRD}}}getWsdlResponse")
        etree.SubElement(out, f"{{{XRD}}}serviceCode").text = code
        return self._soap_reply(header, out, attachment=_placeholder_address(wsdl))

    # --- answers -------------------------------------------------------------------------------------

    def _xroad_error(self, status: int, modern_type: str, message: str):
        error_type = self.server.error_type(modern_type)
        detail = str(uuid.uuid4())
        if "xml" in (self.headers.get("Accept") or ""):
            body = (f"<error><type>{error_type}</type><message>{message}</message>"
                    f"<detail>{detail}</detail></error>").encode()
            ctype = "application/xml;charset=utf-8"
        else:
            body = json.dumps({"type": error_type, "message": message, "detail": detail}).encode()
            ctype = "application/json;charset=utf-8"
        self._send(status, body, [("Content-Type", ctype), ("X-Road-Error", error_type)])

    def _soap_fault(self, modern_type: str, message: str):
        env = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soapenv": SOAP_ENV})
        fault = etree.SubElement(etree.SubElement(env, f"{{{SOAP_ENV}}}Body"), f"{{{SOAP_ENV}}}Fault")
        etree.SubElement(fault, "faultcode").text = self.server.error_type(modern_type)
        etree.SubElement(fault, "faultstring").text = message
        etree.SubElement(fault, "faultactor")
        etree.SubElement(etree.SubElement(fault, "detail"), "faultDetail").text = str(uuid.uuid4())
        self._send(500, etree.tostring(env, xml_declaration=True, encoding="UTF-8"), [("Content-Type", "text/xml; charset=utf-8")])

    def _json(self, status: int, data) -> None:
        self._send(status, json.dumps(data).encode(), [("Content-Type", "application/json;charset=utf-8")])

    def _send(self, status: int, body: bytes, headers: list[tuple[str, str]], *, chunked: bool = False) -> None:
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header(*(("Transfer-Encoding", "chunked") if chunked else ("Content-Length", str(len(body)))))
        self.end_headers()
        if not chunked:
            self.wfile.write(body)
            return
        for start in range(0, len(body), 4096):
            piece = body[start:start + 4096]
            self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")


def _placeholder_address(wsdl: bytes) -> bytes:
    """The WSDL with every soap:address location replaced, as X-Road's getWsdl does."""
    root = etree.fromstring(wsdl, etree.XMLParser(resolve_entities=False, no_network=True))
    for address in root.iter("{http://schemas.xmlsoap.org/wsdl/soap/}address"):
        address.set("location", WSDL_ENDPOINT_ADDRESS)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")

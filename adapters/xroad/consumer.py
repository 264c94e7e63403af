"""Calling other members' services through our own Security Server.

REST (message protocol for REST r1) with ``requests``; SOAP (message protocol 4.0)
with ``zeep`` and the X-Road headers. Errors from X-Road (an ``X-Road-Error`` header,
or a SOAP fault whose code names a proxy) and from the provider become
:class:`XRoadError`; those worth retrying (network errors, time-outs, a failed or
unreachable service) are also :class:`~govai_plugin.exceptions.RetryableError`, so a
Celery task retries them like any other outage. Error types are matched without
regard to case or underscores: X-Road 7.8 says ``server.serverproxy.network_error``
where older servers say ``Server.ServerProxy.NetworkError`` (and
``server.clientproxy.global_conf_outdated`` where they said ``OutdatedGlobalConf``).
Every error also says who is at fault (:data:`CODES`).
"""

from __future__ import annotations

import email.parser
import email.policy
import uuid
from pathlib import Path
from typing import Any

import requests
import zeep
import zeep.exceptions
from lxml import etree

from adapters.xroad.identifiers import ClientId, ServiceId
from govai_plugin.conf import govai_settings
from govai_plugin.exceptions import ConfigurationError, GovAIError, RetryableError

XRD = "http://x-road.eu/xsd/xroad.xsd"
ID = "http://x-road.eu/xsd/identifiers"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
XSD_DIR = Path(__file__).resolve().parent / "xsd"

# --- what an error means: retry or not, and whose side must act --------------------------------------------
#
# X-Road error codes (X-Road's ErrorCodes; 7.8 spells them ``server.clientproxy.network_error``,
# older servers ``Server.ClientProxy.NetworkError``), keyed without case or underscores. Each
# says whether a later retry may succeed and who is at fault, relative to the Security Server
# that reported it: "client" and "provider" are fixed; "reporter" is that Security Server's own
# side (``client.*`` and ``server.clientproxy.*``: ours; ``server.serverproxy.*``: the
# provider's); "beyond" the side it was trying to reach (the provider, unless our own Security
# Server is unreachable); "peer" the other Security Server (a signature or certificate it could
# not verify). docs/xroad.md has the table; a code not in it is final, at the reporter.
CODES: dict[str, tuple[bool, str]] = {
    # the network, or the other side being briefly away: retry
    "network_error": (True, "beyond"), "unknown_host": (True, "beyond"), "io_error": (True, "beyond"),
    "timeout": (True, "beyond"), "http_error": (True, "beyond"), "service_failed": (True, "provider"),
    # a Security Server's own passing trouble: retry
    "internal_error": (True, "reporter"), "database_error": (True, "reporter"),
    "global_conf_outdated": (True, "reporter"), "malformed_global_conf": (True, "reporter"),
    "maintenance_mode": (True, "reporter"), "timestamping_failed": (True, "reporter"),
    "timestamper_failed": (True, "reporter"), "logging_failed": (True, "reporter"),
    "hsm_non_operational": (True, "reporter"), "cannot_sign": (True, "reporter"),
    # the request: a retry gets the same answer
    "access_denied": (False, "client"), "unknown_service": (False, "client"), "service_type": (False, "client"),
    "unknown_member": (False, "client"), "invalid_client_identifier": (False, "client"),
    "invalid_protocol_version": (False, "client"), "client_proxy_version_not_supported": (False, "client"),
    "bad_request": (False, "client"), "invalid_request": (False, "client"), "invalid_message": (False, "client"),
    "invalid_content_type": (False, "client"), "invalid_soap_action": (False, "client"),
    "invalid_http_method": (False, "client"), "invalid_soap": (False, "client"), "malformed_soap": (False, "client"),
    "invalid_xml": (False, "client"), "invalid_body": (False, "client"), "missing_header": (False, "client"),
    "missing_header_field": (False, "client"), "duplicate_header_field": (False, "client"),
    "missing_body": (False, "client"), "missing_soap": (False, "client"), "missing_rest": (False, "client"),
    "invalid_rest": (False, "client"), "mime_parsing_failed": (False, "client"),
    "inconsistent_headers": (False, "client"), "invalid_security_server": (False, "client"),
    "not_found": (False, "client"),
    # the provider's configuration or answer: final until someone there acts
    "service_disabled": (False, "provider"), "inconsistent_response": (False, "provider"),
    "service_missing_url": (False, "provider"), "service_malformed_url": (False, "provider"),
    # trust between the Security Servers: final until an administrator acts
    "ssl_authentication_failed": (False, "peer"), "missing_signature": (False, "peer"),
    "invalid_signature_value": (False, "peer"), "signature_verification": (False, "peer"),
    "cert_validation": (False, "peer"),
}
#: Old names that are not the new ones in CamelCase.
ALIASES = {"outdatedglobalconf": "globalconfoutdated"}
_PREFIXES = (("server", "clientproxy"), ("server", "serverproxy"), ("client",), ("signer",))
_TABLE = {code.replace("_", ""): value for code, value in CODES.items()}


def normalise_type(error_type: str) -> str:
    """``Server.ClientProxy.OutdatedGlobalConf`` and ``server.clientproxy.global_conf_outdated`` -> one form."""
    text = (error_type or "").strip()
    if ":" in text.split(".")[0]:
        text = text.split(":", 1)[1]  # a namespace prefix on a SOAP faultcode
    parts = [part.replace("_", "").lower() for part in text.split(".")]
    return ".".join(ALIASES.get(part, part) for part in parts)


def classify(error_type: str) -> tuple[bool, str]:
    """(retryable, at fault: "client" or "provider") of an error a Security Server (or our consumer) reported."""
    parts = normalise_type(error_type).split(".")
    prefix = next((p for p in _PREFIXES if tuple(parts[:len(p)]) == p), ())
    rest = parts[len(prefix):] or [""]
    if rest[0] == "servicefailed":  # the provider failed; what failed says whether to retry
        return (_TABLE.get(rest[1], (True, ""))[0] if len(rest) > 1 else True), "provider"
    retryable, blame = _TABLE.get(rest[0], (False, "reporter"))
    reporter = "provider" if prefix == ("server", "serverproxy") else "client"
    side = {"reporter": reporter, "peer": "client" if reporter == "provider" else "provider",
            "beyond": "client" if prefix == ("client",) else "provider"}.get(blame, blame)
    return retryable, side


def _retry_status(status: int) -> bool:
    """Whether an HTTP error status may pass on a later try (RFC 9110: 408, 429, 5xx but 501)."""
    return status in (408, 429) or (status >= 500 and status != 501)


def classify_provider(error_type: str, status: int | None = None) -> tuple[bool, str]:
    """(retryable, at fault) of the provider's own error: an HTTP status, or a SOAP 1.1 fault code
    (``Client``: the message was wrong; ``Server``: it "may succeed at a later point in time")."""
    if status is not None and status >= 400:
        return _retry_status(status), "client" if status < 500 else "provider"
    return (False, "client") if normalise_type(error_type).startswith("client") else (True, "provider")


class XRoadError(GovAIError):
    """A call through X-Road failed. ``source`` is "x-road" (a Security Server said so)
    or "provider" (the service itself answered with an error); ``at_fault`` is "client"
    (our request, or our own Security Server) or "provider" (the provider's service or
    Security Server)."""

    def __init__(self, message: str, *, type: str = "", detail: str = "", status: int | None = None,
                 source: str = "x-road", at_fault: str = "") -> None:
        super().__init__(message)
        self.type = type
        self.detail = detail
        self.status = status
        self.source = source
        self.at_fault = at_fault

    @property
    def retryable(self) -> bool:
        return isinstance(self, RetryableError)


class XRoadTransientError(XRoadError, RetryableError):
    """An X-Road error a later retry may get past."""


def error_for(message: str, *, type: str, source: str = "x-road", status: int | None = None, **kwargs: Any) -> XRoadError:
    retryable, at_fault = classify_provider(type, status) if source == "provider" else classify(type)
    if source != "provider" and status is not None and normalise_type(type) == "client.httperror":
        retryable = _retry_status(status)  # an HTTP error with no X-Road error in it: its status decides
    cls = XRoadTransientError if retryable else XRoadError
    return cls(message, type=type, source=source, status=status, at_fault=at_fault, **kwargs)


class LocalSchemas(zeep.Transport):
    """A zeep transport that serves the X-Road schemas from this package, so WSDLs that
    import ``http://x-road.eu/xsd/xroad.xsd`` load without network access."""

    FILES = {
        "http://x-road.eu/xsd/xroad.xsd": XSD_DIR / "xroad.xsd",
        "http://x-road.eu/xsd/identifiers.xsd": XSD_DIR / "identifiers.xsd",
    }

    def load(self, url):
        local = self.FILES.get(url.replace("https://", "http://"))
        if local is not None:
            return local.read_bytes()
        return super().load(url)


class XRoadConsumer:
    def __init__(self, security_server_url: str, client: ClientId | str, *, timeout: float = 30.0,
                 verify: bool | str = True, cert: tuple[str, str] | str | None = None,
                 session: requests.Session | None = None) -> None:
        if not security_server_url:
            raise ConfigurationError("Set GOVAI['XROAD']['SECURITY_SERVER_URL'] to your Security Server's address.")
        self.base = security_server_url.rstrip("/")
        self.client = client if isinstance(client, ClientId) else ClientId.parse(client)
        self.timeout = timeout
        self.session = session or requests.Session()
        self.session.verify = verify
        if cert:
            self.session.cert = cert

    @classmethod
    def from_settings(cls) -> XRoadConsumer:
        cfg = govai_settings.XROAD
        if not cfg["CLIENT_ID"]:
            raise ConfigurationError("Set GOVAI['XROAD']['CLIENT_ID'] to this portal's X-Road client identifier.")
        cert = (cfg["TLS_CERT"], cfg["TLS_KEY"]) if cfg["TLS_CERT"] and cfg["TLS_KEY"] else (cfg["TLS_CERT"] or None)
        return cls(cfg["SECURITY_SERVER_URL"], cfg["CLIENT_ID"], timeout=float(cfg["TIMEOUT"]),
                   verify=cfg["VERIFY_TLS"], cert=cert)

    # --- REST -------------------------------------------------------------------------------

    def rest(self, method: str, service: ServiceId | str, path: str = "", *, params: dict | None = None,
             json: Any = None, data: bytes | None = None, headers: dict[str, str] | None = None,
             user_id: str = "", issue: str = "", message_id: str = "") -> requests.Response:
        """Call a REST service: ``{METHOD} /r1/{service id}/{path}``. Returns the provider's
        response (any status); raises :class:`XRoadError` when X-Road itself failed."""
        service = service if isinstance(service, ServiceId) else ServiceId.parse(service)
        url = f"{self.base}/r1/{service.encoded()}"
        if path:
            url += "/" + path.lstrip("/")
        sent = {"X-Road-Client": self.client.encoded(), "X-Road-Id": message_id or str(uuid.uuid4()),
                "Accept": "application/json", **(headers or {})}
        if user_id:
            sent["X-Road-UserId"] = user_id
        if issue:
            sent["X-Road-Issue"] = issue
        response = self._send(method, url, params=params, json=json, data=data, headers=sent)
        if "X-Road-Error" in response.headers:
            raise self._rest_error(response)
        return response

    def rest_json(self, method: str, service: ServiceId | str, path: str = "", **kwargs: Any) -> Any:
        """:meth:`rest`, then the JSON body; a provider error status raises :class:`XRoadError`."""
        response = self.rest(method, service, path, **kwargs)
        if response.status_code >= 400:
            message = response.text[:500]
            raise error_for(f"The service answered {response.status_code}: {message}", type=f"provider.http{response.status_code}",
                            status=response.status_code, source="provider")
        try:
            return response.json()
        except ValueError:
            raise XRoadError("The service's answer is not JSON.", type="provider.invalid_json",
                             status=response.status_code, source="provider") from None

    def _send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        try:
            return self.session.request(method, url, timeout=self.timeout, allow_redirects=False, **kwargs)
        except requests.Timeout:
            raise error_for(f"The Security Server at {self.base} did not answer within {self.timeout:g} s.",
                            type="client.timeout") from None
        except requests.ConnectionError as exc:
            raise error_for(f"Cannot reach the Security Server at {self.base}: {exc}", type="client.network_error") from None

    @staticmethod
    def _rest_error(response: requests.Response) -> XRoadError:
        error_type = response.headers.get("X-Road-Error", "")
        message, detail = "", ""
        try:
            body = response.json()
            message, detail = str(body.get("message", "")), str(body.get("detail", ""))
            error_type = body.get("type") or error_type
        except ValueError:
            try:
                root = etree.fromstring(response.content, etree.XMLParser(resolve_entities=False, no_network=True))
                message, detail = root.findtext("message") or "", root.findtext("detail") or ""
                error_type = root.findtext("type") or error_type
            except etree.XMLSyntaxError:
                message = response.text[:500]
        return error_for(f"X-Road error {error_type}: {message}", type=error_type, detail=detail,
                         status=response.status_code, source="x-road")

    # --- REST metaservices ------------------------------------------------------------------------

    def list_methods(self, provider: ClientId | str, *, allowed: bool = False) -> list[dict[str, Any]]:
        """REST services of a provider subsystem (``allowed=True``: those we may call), each with
        ``service_id`` (a :class:`ServiceId`), ``service_type`` and ``endpoint_list``."""
        provider = provider if isinstance(provider, ClientId) else ClientId.parse(provider)
        code = "allowedMethods" if allowed else "listMethods"
        body = self._meta_get(f"{self.base}/r1/{provider.encoded()}/{code}")
        found = []
        for entry in body.get("service", []):
            service = ServiceId(ClientId(entry["xroad_instance"], entry["member_class"], entry["member_code"],
                                         entry.get("subsystem_code") or None), entry["service_code"],
                                entry.get("service_version") or None)
            found.append({"service_id": service, "service_type": entry.get("service_type", ""),
                          "endpoint_list": entry.get("endpoint_list", [])})
        return found

    def get_openapi(self, service: ServiceId | str) -> str:
        service = service if isinstance(service, ServiceId) else ServiceId.parse(service)
        url = f"{self.base}/r1/{service.client.encoded()}/getOpenAPI"
        response = self._send("GET", url, params={"serviceCode": service.service_code},
                              headers={"X-Road-Client": self.client.encoded(), "X-Road-Id": str(uuid.uuid4())})
        if "X-Road-Error" in response.headers or response.status_code >= 400:
            raise self._rest_error(response)
        return response.text

    def list_clients(self) -> list[dict[str, Any]]:
        """Members and subsystems of the X-Road instance, as the Security Server knows them."""
        body = self._meta_get(f"{self.base}/listClients")
        return body.get("member", [])

    def _meta_get(self, url: str) -> dict[str, Any]:
        response = self._send("GET", url, headers={"X-Road-Client": self.client.encoded(),
                                                   "X-Road-Id": str(uuid.uuid4()), "Accept": "application/json"})
        if "X-Road-Error" in response.headers or response.status_code >= 400:
            raise self._rest_error(response)
        try:
            return response.json()
        except ValueError:
            raise XRoadError("The metaservice's answer is not JSON.", type="client.invalid_response") from None

    # --- SOAP ----------------------------------------------------------------------------------------

    def soap_headers(self, service: ServiceId, *, user_id: str = "", issue: str = "", message_id: str = "") -> dict:
        """The X-Road headers as zeep's ``_soapheaders`` for a WSDL that declares them."""
        client = {"xRoadInstance": self.client.instance, "memberClass": self.client.member_class,
                  "memberCode": self.client.member_code, "objectType": self.client.object_type}
        if self.client.subsystem_code:
            client["subsystemCode"] = self.client.subsystem_code
        provider = service.client
        called = {"xRoadInstance": provider.instance, "memberClass": provider.member_class,
                  "memberCode": provider.member_code, "serviceCode": service.service_code, "objectType": "SERVICE"}
        if provider.subsystem_code:
            called["subsystemCode"] = provider.subsystem_code
        if service.service_version:
            called["serviceVersion"] = service.service_version
        headers = {"client": client, "service": called, "id": message_id or str(uuid.uuid4()), "protocolVersion": "4.0"}
        if user_id:
            headers["userId"] = user_id
        if issue:
            headers["issue"] = issue
        return headers

    def soap_client(self, wsdl: str) -> zeep.Client:
        """A zeep client for a WSDL (URL or file), its service bound to our Security Server."""
        transport = LocalSchemas(session=self.session, timeout=self.timeout, operation_timeout=self.timeout)
        # No DTDs or entity declarations in WSDLs or answers; schema imports are allowed
        # (a WSDL needs them) and the X-Road ones come from this package.
        settings = zeep.Settings(strict=True, xml_huge_tree=False, forbid_dtd=True, forbid_entities=True)
        return zeep.Client(wsdl, transport=transport, settings=settings)

    def soap_call(self, wsdl: str, service: ServiceId | str, operation: str | None = None, *,
                  user_id: str = "", issue: str = "", **arguments: Any) -> Any:
        """Call ``operation`` (default: the service code) with the X-Road headers."""
        service = service if isinstance(service, ServiceId) else ServiceId.parse(service)
        client = self.soap_client(wsdl)
        binding_name = next(iter(client.wsdl.bindings))
        proxy = client.create_service(binding_name, self.base)
        name = operation or service.service_code
        declared = client.wsdl.bindings[binding_name]._operations.get(name)
        if declared is not None and getattr(declared.input.header, "type", None) is not None and declared.input.header.type.elements:
            headers: Any = self.soap_headers(service, user_id=user_id, issue=issue)
        else:  # a WSDL that does not declare the X-Road headers (e.g. a registry's own): send them as elements
            headers = self.header_elements(service, user_id=user_id, issue=issue)
        try:
            return getattr(proxy, name)(_soapheaders=headers, **arguments)
        except zeep.exceptions.Fault as fault:
            raise self._fault_error(fault.code or "", fault.message or "") from None
        except zeep.exceptions.TransportError as exc:
            raise error_for(f"The Security Server answered HTTP {exc.status_code} without a SOAP fault.",
                            type="client.http_error", status=exc.status_code) from None
        except requests.Timeout:
            raise error_for(f"The Security Server did not answer within {self.timeout:g} s.", type="client.timeout") from None
        except requests.ConnectionError as exc:
            raise error_for(f"Cannot reach the Security Server at {self.base}: {exc}", type="client.network_error") from None

    @staticmethod
    def _fault_error(code: str, message: str) -> XRoadError:
        """A Security Server writes its faultcode unqualified (``client.access_denied``,
        ``Server.ClientProxy.NetworkError``); a provider's fault passes through as the provider
        wrote it (``soapenv:Client.NotFound``). So a ``Client.*`` fault is the Security Server's
        only when unqualified."""
        normalised = normalise_type(code)
        qualified = ":" in code.split(".")[0]
        proxy = normalised.startswith(("server.clientproxy.", "server.serverproxy."))
        source = "x-road" if proxy or (not qualified and normalised.startswith(("client.", "signer."))) else "provider"
        return error_for(f"SOAP fault {code}: {message}", type=code, source=source)

    # --- SOAP metaservices -------------------------------------------------------------------------------

    def header_elements(self, service: ServiceId, *, user_id: str = "", issue: str = "") -> list[etree._Element]:
        """The X-Road headers as lxml elements, in the protocol's order."""
        values = self.soap_headers(service, user_id=user_id, issue=issue)
        elements = []
        for name in ("client", "service"):
            ident = values[name]
            el = etree.Element(f"{{{XRD}}}{name}", {f"{{{ID}}}objectType": ident["objectType"]}, nsmap={"xrd": XRD, "id": ID})
            for key in ("xRoadInstance", "memberClass", "memberCode", "subsystemCode", "serviceCode", "serviceVersion"):
                if key in ident:
                    etree.SubElement(el, f"{{{ID}}}{key}").text = ident[key]
            elements.append(el)
        for name in ("id", "userId", "issue", "protocolVersion"):
            if name in values:
                el = etree.Element(f"{{{XRD}}}{name}", nsmap={"xrd": XRD})
                el.text = values[name]
                elements.append(el)
        return elements

    def _meta_soap(self, provider: ClientId, code: str, body: etree._Element) -> requests.Response:
        service = ServiceId(provider, code)
        env = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soapenv": SOAP_ENV, "xrd": XRD, "id": ID})
        header = etree.SubElement(env, f"{{{SOAP_ENV}}}Header")
        for element in self.header_elements(service):
            header.append(element)
        etree.SubElement(env, f"{{{SOAP_ENV}}}Body").append(body)
        response = self._send("POST", self.base, data=etree.tostring(env, xml_declaration=True, encoding="UTF-8"),
                              headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'})
        return response

    def _soap_body(self, content: bytes) -> etree._Element:
        try:
            root = etree.fromstring(content, etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False))
        except etree.XMLSyntaxError:
            raise XRoadError("The Security Server's answer is not XML.", type="client.invalid_response") from None
        body = root.find(f"{{{SOAP_ENV}}}Body")
        fault = body.find(f"{{{SOAP_ENV}}}Fault") if body is not None else None
        if fault is not None:
            raise self._fault_error(fault.findtext("faultcode") or "", fault.findtext("faultstring") or "")
        if body is None or not len(body):
            raise XRoadError("The Security Server's answer has no SOAP body.", type="client.invalid_response")
        return body[0]

    def soap_list_methods(self, provider: ClientId | str, *, allowed: bool = False) -> list[ServiceId]:
        provider = provider if isinstance(provider, ClientId) else ClientId.parse(provider)
        code = "allowedMethods" if allowed else "listMethods"
        response = self._meta_soap(provider, code, etree.Element(f"{{{XRD}}}{code}"))
        found = []
        for el in self._soap_body(response.content).findall(f"{{{XRD}}}service"):
            def text(name: str) -> str | None:
                return el.findtext(f"{{{ID}}}{name}") or None
            found.append(ServiceId(ClientId(text("xRoadInstance"), text("memberClass"), text("memberCode"),
                                            text("subsystemCode")), text("serviceCode"), text("serviceVersion")))
        return found

    def get_wsdl(self, service: ServiceId | str) -> bytes:
        """The WSDL of a SOAP service (metaservice ``getWsdl``: a MIME multipart answer whose
        attachment is the WSDL)."""
        service = service if isinstance(service, ServiceId) else ServiceId.parse(service)
        request = etree.Element(f"{{{XRD}}}getWsdl")
        etree.SubElement(request, f"{{{XRD}}}serviceCode").text = service.service_code
        if service.service_version:
            etree.SubElement(request, f"{{{XRD}}}serviceVersion").text = service.service_version
        response = self._meta_soap(service.client, "getWsdl", request)
        content_type = response.headers.get("Content-Type", "")
        if not content_type.lower().startswith("multipart/related"):
            self._soap_body(response.content)  # a fault raises here
            raise XRoadError("getWsdl answered without the WSDL attachment.", type="client.invalid_response")
        message = email.parser.BytesParser(policy=email.policy.default).parsebytes(
            b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + response.content)
        parts = list(message.iter_parts())
        if not parts:
            raise XRoadError("getWsdl's answer has no parts.", type="client.invalid_response")
        self._soap_body(parts[0].get_payload(decode=True))
        if len(parts) < 2:
            raise XRoadError("getWsdl answered without the WSDL attachment.", type="client.invalid_response")
        return parts[1].get_payload(decode=True)

"""A population register on 127.0.0.1 serving fixtures/registry/population-register.wsdl:
``GET ?wsdl`` gives the WSDL (with this server's address), ``POST`` answers ``getPerson``
(document/literal SOAP 1.1). Unknown people get a SOAP fault; ``mode`` makes it slow,
fail with HTTP 503, or answer garbage."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from lxml import etree

from tests.servers.security_server import read_body

WSDL = Path(__file__).resolve().parents[2] / "fixtures" / "registry" / "population-register.wsdl"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
NS = "urn:example:population-register:v1"


class PopulationRegister(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.people: dict[str, dict] = {}
        self.mode = "ok"  # ok | slow | 503 | garbage
        self.calls: list[str] = []
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/population"

    def __enter__(self) -> PopulationRegister:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: PopulationRegister

    def log_message(self, *args):
        pass

    def do_GET(self):
        wsdl = WSDL.read_text().replace("http://registry.example.gov/population", self.server.url)
        self._send(200, wsdl.encode())

    def do_POST(self):
        body = read_body(self)  # the Security Server forwards chunked, as the real one does
        mode = self.server.mode
        if mode == "slow":
            time.sleep(5)
        if mode == "503":
            return self._send(503, b"Service Unavailable", "text/plain")
        if mode == "garbage":
            return self._send(200, b"<html>maintenance</html")
        root = etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True))
        code = root.findtext(f".//{{{NS}}}personalCode") or ""
        self.server.calls.append(code)
        person = self.server.people.get(code)
        if person is None:
            fault = (f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}"><soapenv:Body><soapenv:Fault>'
                     "<faultcode>soapenv:Client.PersonNotFound</faultcode><faultstring>No person with this code</faultstring>"
                     "</soapenv:Fault></soapenv:Body></soapenv:Envelope>")
            return self._send(500, fault.encode())
        address = person["address"]
        xml = (
            f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}" xmlns:p="{NS}"><soapenv:Body><p:getPersonResponse><p:person>'
            f"<p:personalCode>{code}</p:personalCode><p:givenName>{person['givenName']}</p:givenName>"
            f"<p:familyName>{person['familyName']}</p:familyName><p:dateOfBirth>{person['dateOfBirth']}</p:dateOfBirth>"
            f"<p:address><p:street>{address['street']}</p:street><p:municipality>{address['municipality']}</p:municipality>"
            f"<p:postalCode>{address['postalCode']}</p:postalCode></p:address>"
            f"<p:householdSize>{person['householdSize']}</p:householdSize><p:children>{person['children']}</p:children>"
            f"<p:monthlyIncome>{person['monthlyIncome']}</p:monthlyIncome>"
            "</p:person></p:getPersonResponse></soapenv:Body></soapenv:Envelope>"
        )
        self._send(200, xml.encode())

    def _send(self, status: int, body: bytes, content_type: str = "text/xml; charset=utf-8") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

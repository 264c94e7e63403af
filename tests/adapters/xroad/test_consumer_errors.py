"""Every row of docs/xroad.md's error table: the Security Server stand-in answers a REST call
with ``X-Road-Error`` and a SOAP call with a fault, in X-Road 7.8's spelling and the older
one; the consumer must say whether to retry and who is at fault."""

from __future__ import annotations

import pytest

from adapters.xroad import soap
from adapters.xroad.consumer import XRoadConsumer, XRoadError
from govai_plugin.exceptions import RetryableError
from tests.adapters.xroad.conftest import PORTAL, PROVIDER
from tests.conftest import ROOT
from tests.servers.security_server import SecurityServer, legacy_type

RETRY, FINAL = True, False
#: (code as the Security Server sends it, retryable, at fault) — the table in docs/xroad.md.
ROWS = [
    ("server.clientproxy.network_error", RETRY, "provider"),
    ("server.serverproxy.network_error", RETRY, "provider"),
    ("server.clientproxy.unknown_host", RETRY, "provider"),
    ("server.serverproxy.io_error", RETRY, "provider"),
    ("server.serverproxy.service_failed", RETRY, "provider"),
    ("server.serverproxy.service_failed.http_error", RETRY, "provider"),
    ("server.serverproxy.service_failed.network_error", RETRY, "provider"),
    ("server.clientproxy.service_failed.invalid_soap", FINAL, "provider"),
    ("server.clientproxy.internal_error", RETRY, "client"),
    ("server.serverproxy.internal_error", RETRY, "provider"),
    ("server.clientproxy.database_error", RETRY, "client"),
    ("server.clientproxy.global_conf_outdated", RETRY, "client"),
    ("server.serverproxy.global_conf_outdated", RETRY, "provider"),
    ("server.clientproxy.malformed_global_conf", RETRY, "client"),
    ("server.clientproxy.maintenance_mode", RETRY, "client"),
    ("server.serverproxy.maintenance_mode", RETRY, "provider"),
    ("server.clientproxy.timestamping_failed", RETRY, "client"),
    ("server.serverproxy.timestamper_failed", RETRY, "provider"),
    ("server.clientproxy.logging_failed", RETRY, "client"),
    ("server.serverproxy.logging_failed", RETRY, "provider"),
    ("server.clientproxy.hsm_non_operational", RETRY, "client"),
    ("server.clientproxy.cannot_sign", RETRY, "client"),
    ("server.serverproxy.access_denied", FINAL, "client"),
    ("server.serverproxy.unknown_service", FINAL, "client"),
    ("server.serverproxy.service_type", FINAL, "client"),
    ("server.clientproxy.unknown_member", FINAL, "client"),
    ("client.invalid_client_identifier", FINAL, "client"),
    ("client.invalid_protocol_version", FINAL, "client"),
    ("server.serverproxy.client_proxy_version_not_supported", FINAL, "client"),
    ("client.bad_request", FINAL, "client"),
    ("client.invalid_request", FINAL, "client"),
    ("client.invalid_message", FINAL, "client"),
    ("client.invalid_content_type", FINAL, "client"),
    ("client.invalid_soap_action", FINAL, "client"),
    ("client.invalid_http_method", FINAL, "client"),
    ("client.invalid_soap", FINAL, "client"),
    ("client.malformed_soap", FINAL, "client"),
    ("client.invalid_xml", FINAL, "client"),
    ("client.invalid_body", FINAL, "client"),
    ("client.missing_header", FINAL, "client"),
    ("client.missing_header_field", FINAL, "client"),
    ("client.duplicate_header_field", FINAL, "client"),
    ("client.missing_body", FINAL, "client"),
    ("client.missing_soap", FINAL, "client"),
    ("client.missing_rest", FINAL, "client"),
    ("client.invalid_rest", FINAL, "client"),
    ("client.mime_parsing_failed", FINAL, "client"),
    ("client.inconsistent_headers", FINAL, "client"),
    ("client.invalid_security_server", FINAL, "client"),
    ("client.not_found", FINAL, "client"),
    ("server.serverproxy.service_disabled", FINAL, "provider"),
    ("server.clientproxy.inconsistent_response", FINAL, "provider"),
    ("server.serverproxy.service_missing_url", FINAL, "provider"),
    ("server.serverproxy.service_malformed_url", FINAL, "provider"),
    ("server.clientproxy.ssl_authentication_failed", FINAL, "provider"),
    ("server.serverproxy.ssl_authentication_failed", FINAL, "client"),
    ("server.serverproxy.missing_signature", FINAL, "client"),
    ("server.clientproxy.invalid_signature_value", FINAL, "provider"),
    ("server.serverproxy.signature_verification", FINAL, "client"),
    ("server.clientproxy.cert_validation", FINAL, "provider"),
    ("server.serverproxy.some_future_error", FINAL, "provider"),  # not in the table: final, at the reporter
    ("client.some_future_error", FINAL, "client"),
]
SPELLINGS = pytest.mark.parametrize("legacy", [False, True], ids=["7.8", "legacy"])
ROW = pytest.mark.parametrize(("code", "retryable", "at_fault"), ROWS, ids=[r[0] for r in ROWS])


@pytest.fixture(scope="module")
def ss():
    with SecurityServer() as server:
        yield server


@pytest.fixture(scope="module")
def wsdl(tmp_path_factory, django_db_setup):
    path = tmp_path_factory.mktemp("wsdl") / "assistant.wsdl"
    path.write_text(soap.wsdl("http://127.0.0.1:9/xroad/soap"))
    return str(path)


def check(error: XRoadError, sent: str, retryable: bool, at_fault: str) -> None:
    assert error.type == sent and error.source == "x-road"
    assert (error.retryable, isinstance(error, RetryableError), error.at_fault) == (retryable, retryable, at_fault)


@SPELLINGS
@ROW
def test_rest_errors(ss, code, retryable, at_fault, legacy):
    ss.legacy_errors = legacy
    ss.failures[f"{PROVIDER}/passages"] = code
    with pytest.raises(XRoadError) as raised:
        XRoadConsumer(ss.url, PORTAL).rest("POST", f"{PROVIDER}/passages", "passages", json={"query": "x"})
    check(raised.value, legacy_type(code) if legacy else code, retryable, at_fault)
    assert raised.value.status == (500 if code.startswith("server.") else 400) and raised.value.detail


@SPELLINGS
@ROW
def test_soap_faults(ss, wsdl, code, retryable, at_fault, legacy):
    ss.legacy_errors = legacy
    ss.failures[f"{PROVIDER}/searchPassages"] = code
    with pytest.raises(XRoadError) as raised:
        XRoadConsumer(ss.url, PORTAL).soap_call(wsdl, f"{PROVIDER}/searchPassages", query="x")
    check(raised.value, legacy_type(code) if legacy else code, retryable, at_fault)


@pytest.mark.parametrize(("code", "retryable", "at_fault"), [
    ("soapenv:Client.NotFound", FINAL, "client"), ("soapenv:Client.InvalidRequest", FINAL, "client"),
    ("soapenv:Server.Unavailable", RETRY, "provider"), ("SOAP-ENV:Server", RETRY, "provider"),
])
def test_a_providers_own_fault_is_the_providers_answer(code, retryable, at_fault):
    """A provider's fault passes the Security Servers unchanged and qualified (SOAP 1.1: Client
    = the message was wrong, Server = it may succeed later); it is never mistaken for the
    Security Server's own ``client.*`` fault."""
    error = XRoadConsumer._fault_error(code, "from the provider")
    assert (error.source, error.retryable, error.at_fault) == ("provider", retryable, at_fault)


def test_the_docs_table_has_every_row():
    table = (ROOT / "docs" / "xroad.md").read_text()
    missing = [code for code, *_ in ROWS if "future" not in code and f"`{code}`" not in table]
    assert not missing


@pytest.mark.parametrize(("status", "retryable"), [(400, FINAL), (404, FINAL), (501, FINAL), (408, RETRY), (429, RETRY),
                                                   (502, RETRY), (503, RETRY)])
def test_an_http_error_without_a_fault_is_retried_only_when_its_status_says_so(wsdl, status, retryable):
    """Something in front of the Security Server (a proxy, a load balancer) answering with a bare
    HTTP error: no X-Road error code to go by, so RFC 9110's status semantics decide."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from tests.servers.security_server import read_body

    class Bare(BaseHTTPRequestHandler):
        def do_POST(self):
            read_body(self)
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "5")
            self.end_headers()
            self.wfile.write(b"error")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Bare)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(XRoadError) as raised:
            XRoadConsumer(f"http://127.0.0.1:{server.server_port}", PORTAL).soap_call(
                wsdl, f"{PROVIDER}/searchPassages", query="x")
    finally:
        server.shutdown()
        server.server_close()
    assert raised.value.status == status and raised.value.retryable is retryable

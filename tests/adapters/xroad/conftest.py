"""X-Road fixtures: the assistant (live server + a real Celery worker + an
OpenAI-compatible server) behind a Security Server stand-in on 127.0.0.1."""

from __future__ import annotations

import pytest
from celery.contrib.testing.worker import start_worker

from govai_plugin.services.access import create_collection
from govai_plugin.services.ingest import ingest_bytes
from settings.celery import app as celery_app
from tests.conftest import CORPUS
from tests.servers.openai_compat import ChatServer
from tests.servers.security_server import SecurityServer

PROVIDER = "EE/GOV/70000001/govai"
PORTAL = "EE/GOV/70000002/portal"  # a consumer with a grant in settings
STRANGER = "EE/COM/80000003/shop"  # a consumer nobody granted anything
QUESTION = "How long does the department take to decide on a housing benefit application?"
REPLY = "The department decides within 30 days of receiving a complete application [1]."


@pytest.fixture
def rules(transactional_db):
    collection = create_collection("rules")
    for name in ("housing-benefit-policy.md", "housing-benefit-faq.html"):
        ingest_bytes(collection, name, (CORPUS / "en" / name).read_bytes())
    return collection


@pytest.fixture
def llm():
    with ChatServer(reply=REPLY) as server:
        yield server


@pytest.fixture
def xroad_settings(settings, llm):
    settings.GOVAI = {
        "LLM": {"BASE_URL": llm.url, "MODEL": "fake-llm-1", "TIMEOUT": 5.0, "RETRY_BACKOFF": 0.05, "MAX_ATTEMPTS": 2},
        "XROAD": {
            "CLIENTS": {PORTAL: {"services": ["ask", "search"], "collections": ["rules"]}},
            "SOAP_WAIT_SECONDS": 20.0,
        },
    }
    return settings


@pytest.fixture
def worker(transactional_db):
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10, loglevel="WARNING"):
        yield


@pytest.fixture
def security_server(live_server, xroad_settings, rules):
    """The stand-in, with our REST and SOAP services registered and the portal allowed."""
    with SecurityServer() as ss:
        register(ss, live_server.url)
        yield ss


def register(ss: SecurityServer, provider_url: str, *, allow: tuple[str, ...] = (PORTAL,)) -> None:
    rest_ask = [{"method": "POST", "path": "/answers"}, {"method": "GET", "path": "/answers/*"}]
    ss.add_service(f"{PROVIDER}/assistant", "OPENAPI", f"{provider_url}/xroad/rest/ask/",
                   description=f"{provider_url}/xroad/openapi/ask", endpoints=rest_ask, allow=allow)
    ss.add_service(f"{PROVIDER}/passages", "OPENAPI", f"{provider_url}/xroad/rest/search/",
                   description=f"{provider_url}/xroad/openapi/search",
                   endpoints=[{"method": "POST", "path": "/passages"}], allow=allow)
    for code in ("askAssistant", "getAnswer", "searchPassages"):
        ss.add_service(f"{PROVIDER}/{code}", "WSDL", f"{provider_url}/xroad/soap",
                       description=f"{provider_url}/xroad/soap?wsdl", allow=allow)

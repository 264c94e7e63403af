"""X-Road fixtures: the assistant (the sample portal in a real gunicorn + a real Celery
worker + an OpenAI-compatible server) behind a Security Server stand-in on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import pytest
import requests
from django.db import connection

from adapters.xroad.access import ensure_api_client, set_collections
from adapters.xroad.models import XRoadClient
from govai_plugin.services.access import create_collection
from govai_plugin.services.ingest import ingest_bytes
from govai_plugin.testing.waiting import wait_for
from tests.conftest import CORPUS, ROOT
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


@pytest.fixture(scope="module")
def portal(django_db_setup, tmp_path_factory):
    """The sample portal (settings.test, the test database) served by a real gunicorn, which
    decodes chunked bodies as production WSGI servers do. Its URL; stopped after the module."""
    listener = socket.create_server(("127.0.0.1", 0))  # gunicorn serves this socket: no port race
    log = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "settings.test", "DJANGO_DEBUG": "0",
           "GOVAI_TEST_DB_NAME": connection.settings_dict["NAME"]}
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "settings.wsgi:application", "--bind", f"fd://{listener.fileno()}",
             "--workers", "1", "--threads", "8", "--timeout", "120", "--graceful-timeout", "5"],
            cwd=ROOT, env=env, pass_fds=(listener.fileno(),), start_new_session=True, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    try:
        _wait_until_serving(url, process, log)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        listener.close()


def _wait_until_serving(url: str, process: subprocess.Popen, log) -> None:
    def serving() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"gunicorn exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            return requests.get(f"{url}/xroad/soap?wsdl", timeout=10).status_code == 200
        except requests.RequestException:
            return False

    wait_for(serving, what=f"gunicorn to serve (log: {log})", interval=0.2)


@pytest.fixture
def portal_grant(transactional_db, rules):
    """The portal's grant as an administrator makes it (a database row): gunicorn does not see
    the tests' settings overrides."""
    row = XRoadClient.objects.create(identifier=PORTAL, services=["ask", "search"], api_client=ensure_api_client(PORTAL))
    set_collections(row, ["rules"])
    return row


@pytest.fixture
def security_server(portal, xroad_settings, portal_grant):
    """The stand-in (chunked bodies, like the real one), with our REST and SOAP services,
    served by gunicorn, registered and the portal allowed."""
    with SecurityServer() as ss:
        register(ss, portal)
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

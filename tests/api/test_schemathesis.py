"""The API against its own OpenAPI description.

schemathesis (pinned in the test extra: its checks change between releases) reads the schema the
app serves, sends generated requests, valid and invalid, to every operation through the WSGI
app with a granted key, and runs all its checks on each answer: no server error; status codes,
content types, headers and bodies as documented; invalid data refused; valid data accepted;
authentication required where the schema says so. The examples per operation are bounded so
the run stays well under two minutes.

NUL characters are left out of the generated strings: OpenAPI 3.0 cannot say "no NUL in a
string or an object key", and the server refuses them (PostgreSQL cannot store them), which
tests/api/test_api.py checks on every body field that reaches the database.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings as hypothesis_settings
from schemathesis.config import SchemathesisConfig

from govai_plugin.models import ApiClient
from govai_plugin.services.access import create_collection, grant
from govai_plugin.services.ingest import ingest_bytes

APP = get_wsgi_application()
CONFIG = SchemathesisConfig.from_dict({
    # The same examples on every run: a failure is reproducible, and the run stays short.
    # The key is sent by the test (below), not generated as a header parameter.
    "generation": {"max-examples": 5, "allow-x00": False, "deterministic": True, "with-security-parameters": False},
    # A well-formed upload can still be refused: a file no extractor reads is a documented 422, dates
    # in the wrong order a 400 (OpenAPI 3.0 describes neither readable bytes nor one field's bound by
    # another). Every other operation must accept what its schema allows.
    "operations": [{"include-operation-id": "documents_upload", "checks": {"positive_data_acceptance": {
        "expected-statuses": ["2xx", "3xx", "400", "401", "403", "404", "409", "422", "429"]}}}],
    # Path parameters that name something that exists, so operations get past their 404s.
    "parameters": {"slug": "open"},
})
schema = schemathesis.openapi.from_wsgi("/api/v1/schema?format=json", APP, config=CONFIG)


@pytest.fixture
def app():
    """The WSGI app inside the test's transaction: as Django's test client does, requests must not
    close the connection when they end."""
    for signal in (signals.request_started, signals.request_finished):
        signal.disconnect(close_old_connections)
    yield APP
    for signal in (signals.request_started, signals.request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def granted(db, settings):
    settings.GOVAI = {"API": {"RATE_LIMITS": {"default": ""}, "AUTH_FAILURE_LIMIT": ""}}
    collection = create_collection("open", "Open")
    ingest_bytes(collection, "rules.md", b"# Housing benefit\n\nDecisions are made within 30 days.\n")
    client, key = ApiClient.create_with_key("fuzzer", can_create_collections=True, can_review_suggestions=True)
    grant(client, collection, write=True)
    return {"Authorization": f"Bearer {key}"}


@schema.parametrize()
# One key and collection for all examples of an operation: nothing an example does needs undoing.
@hypothesis_settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_every_operation_answers_as_documented(case, app, granted):
    case.call_and_validate(app=app, headers=granted)

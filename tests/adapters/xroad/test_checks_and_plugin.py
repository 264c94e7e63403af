"""X-Road settings fail at start-up with an id and a hint; the adapter is a plugin."""

from __future__ import annotations

import pytest

from adapters.xroad.checks import check_xroad
from govai_plugin.services import plugins


def ids(errors):
    return sorted(e.id for e in errors)


def test_defaults_pass():
    assert check_xroad() == []


@pytest.mark.parametrize(
    ("xroad", "expected"),
    [
        ({"SERVICE_CODES": {"ask": "askAssistant"}}, ["govai.E101"]),
        ({"SERVICE_CODES": {"ask": "listMethods", "answer": "getAnswer", "search": "s"}}, ["govai.E102"]),
        ({"SERVICE_CODES": {"ask": "bad code", "answer": "getAnswer", "search": "s"}}, ["govai.E102"]),
        ({"SERVICE_CODES": {"ask": "a", "answer": "a", "search": "s"}}, ["govai.E103"]),
        ({"SERVICE_VERSION": "v 1"}, ["govai.E104"]),
        ({"ALLOWED_ADDRESSES": []}, ["govai.E105"]),
        ({"ALLOWED_ADDRESSES": ["ss.example.gov"]}, ["govai.E106"]),
        ({"ALLOWED_ADDRESSES": ["0.0.0.0/0"]}, ["govai.W107"]),
        ({"MAX_BODY_BYTES": 0}, ["govai.E108"]),
        ({"SOAP_WAIT_SECONDS": "30"}, ["govai.E108"]),
        ({"CLIENTS": ["EE/GOV/1/a"]}, ["govai.E109"]),
        ({"CLIENTS": {"EE/GOV": {"services": ["ask"]}}}, ["govai.E110"]),
        ({"CLIENTS": {"EE/GOV/1/a": {"services": ["delete"]}}}, ["govai.E111"]),
        ({"CLIENT_ID": "EE GOV"}, ["govai.E112"]),
        ({"SECURITY_SERVER_URL": "ss.example.gov"}, ["govai.E113"]),
        ({"TLS_KEY": "/etc/key.pem"}, ["govai.E114"]),
    ],
)
def test_each_misconfiguration_has_its_own_id(settings, xroad, expected):
    settings.GOVAI = {"XROAD": xroad}
    errors = check_xroad()
    assert ids(errors) == expected and all(e.hint for e in errors)


def test_the_consumer_is_offered_as_an_adapter(settings):
    settings.GOVAI = {"XROAD": {"SECURITY_SERVER_URL": "http://127.0.0.1:9", "CLIENT_ID": "EE/GOV/70000002/portal"}}
    spec = plugins.adapters()["xroad"]
    assert spec.kind == "x-road"
    consumer = spec.factory()
    assert str(consumer.client) == "EE/GOV/70000002/portal" and consumer.base == "http://127.0.0.1:9"


def test_the_consumer_needs_its_settings(settings):
    from govai_plugin.exceptions import ConfigurationError

    settings.GOVAI = {"XROAD": {"SECURITY_SERVER_URL": "", "CLIENT_ID": "EE/GOV/70000002/portal"}}
    with pytest.raises(ConfigurationError, match="SECURITY_SERVER_URL"):
        plugins.adapters()["xroad"].factory()

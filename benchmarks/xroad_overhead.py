"""What the X-Road provider layer costs per request, against the plain API, in one run.

    python benchmarks/xroad_overhead.py [--runs 200]

Scratch database with the sample corpus; the same full-text search (so the embedding
model does not dominate) is sent, in turn, to:
  * the public API:          POST /api/v1/search               (API key)
  * the X-Road REST provider: POST /xroad/rest/search/passages  (X-Road headers, grant, audit row)
  * the X-Road SOAP provider: POST /xroad/soap searchPassages   (defusedxml screen, lxml parse,
                                                                 header checks, schema validation,
                                                                 grant, XML answer, audit row)
in-process through Django's test client (no network), interleaved so drift hits all three.
Reports p50/p95 per path and the ratio of each X-Road path's p50 to the API's.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid

from _setup import ROOT, machine, percentile, scratch_database
from django.db import connection

QUERY = "income limit housing benefit single adult"
PORTAL = "EE/GOV/70000002/portal"


def soap_message(query: str) -> bytes:
    return (
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xrd="http://x-road.eu/xsd/xroad.xsd" xmlns:id="http://x-road.eu/xsd/identifiers" '
        'xmlns:tns="urn:govai:xroad:assistant:v1"><soapenv:Header>'
        '<xrd:client id:objectType="SUBSYSTEM"><id:xRoadInstance>EE</id:xRoadInstance><id:memberClass>GOV</id:memberClass>'
        '<id:memberCode>70000002</id:memberCode><id:subsystemCode>portal</id:subsystemCode></xrd:client>'
        '<xrd:service id:objectType="SERVICE"><id:xRoadInstance>EE</id:xRoadInstance><id:memberClass>GOV</id:memberClass>'
        '<id:memberCode>70000001</id:memberCode><id:subsystemCode>govai</id:subsystemCode>'
        '<id:serviceCode>searchPassages</id:serviceCode></xrd:service>'
        f'<xrd:id>{uuid.uuid4()}</xrd:id><xrd:protocolVersion>4.0</xrd:protocolVersion></soapenv:Header>'
        f'<soapenv:Body><tns:searchPassages><tns:query>{query}</tns:query><tns:mode>fulltext</tns:mode>'
        '</tns:searchPassages></soapenv:Body></soapenv:Envelope>'
    ).encode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    test_db = scratch_database()
    from django.test import Client
    from django.test.utils import override_settings

    from govai_plugin.models import ApiClient, AuditEvent
    from govai_plugin.services.access import create_collection, grant
    from govai_plugin.services.ingest import ingest_paths

    try:
        with override_settings(GOVAI={"XROAD": {"CLIENTS": {PORTAL: {"services": ["search"], "collections": ["sample"]}}}},
                               ALLOWED_HOSTS=["testserver"]):
            collection = create_collection("sample")
            ingest_paths(collection, [ROOT / "fixtures" / "corpus"])
            api_client, key = ApiClient.create_with_key("bench")
            grant(api_client, collection)
            http = Client()
            body = json.dumps({"query": QUERY, "mode": "fulltext"})

            def api():
                return http.post("/api/v1/search", body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}")

            def rest():
                return http.post("/xroad/rest/search/passages", body, content_type="application/json",
                                 HTTP_X_ROAD_CLIENT=PORTAL, HTTP_X_ROAD_ID=str(uuid.uuid4()),
                                 HTTP_X_ROAD_REQUEST_ID=str(uuid.uuid4()))

            def soap():
                return http.post("/xroad/soap", soap_message(QUERY), content_type="text/xml; charset=utf-8")

            paths = {"api": api, "xroad_rest": rest, "xroad_soap": soap}
            for call in paths.values():  # warm up, and check each path answers with the same passages
                for _ in range(5):
                    response = call()
                    assert response.status_code == 200, response.content[:300]
            times: dict[str, list[float]] = {name: [] for name in paths}
            for _ in range(args.runs):
                for name, call in paths.items():
                    started = time.perf_counter()
                    call()
                    times[name].append((time.perf_counter() - started) * 1000)
            base = percentile(times["api"], 50)
            results = {
                name: {"p50_ms": round(percentile(t, 50), 2), "p95_ms": round(percentile(t, 95), 2),
                       "p50_over_api": round(percentile(t, 50) / base, 2)}
                for name, t in times.items()
            }
            results["audit_rows_written"] = AuditEvent.objects.count()
    finally:
        connection.close()
        connection.creation.destroy_test_db(test_db, verbosity=0)
    print(json.dumps({"machine": machine(), "runs": args.runs, "query_mode": "fulltext", **results}, indent=2))


if __name__ == "__main__":
    main()

"""From a case event to the suggestion written back: what the case pipeline adds to generation.

    python benchmarks/case_overhead.py [--runs 10] [--smoke]

Scratch database with the sample corpus; the embedded llama-server (SmolLM2-135M, prompt
cache off, 64 tokens); an in-process Celery worker on the embedded broker; a case-system
stand-in and a population-register stand-in (real HTTP servers on 127.0.0.1, from
tests/servers). Each run posts a signed ``case.created`` event to the webhook (Django test
client) and waits until the suggestion is written back. Per run: end-to-end time, the
generation time the job row records, and the rest (webhook, case read, registry call with
zeep, retrieval, queue hops, write-back): the pipeline's own overhead.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import sys
import time
import uuid

from _setup import ROOT, llm_folder, machine, own_queue, percentile, scratch_database
from django.db import connection

sys.path.insert(0, str(ROOT))
SECRET = "benchmark-webhook-secret-0123456789"
PERSON = {"givenName": "Mari", "familyName": "Maasikas", "dateOfBirth": "1980-01-08", "householdSize": 1, "children": 0,
          "monthlyIncome": "850.00", "address": {"street": "Tamme 5", "municipality": "Northbridge", "postalCode": "10115"}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--smoke", action="store_true", help="1 run of 4 tokens from 2 passages: only checks the script runs")
    args = parser.parse_args()
    max_tokens = 4 if args.smoke else 64
    if args.smoke:
        args.runs = 1
    os.environ["LLAMA_ARG_CACHE_PROMPT"] = "0"
    test_db = scratch_database()
    from celery.contrib.testing.worker import start_worker
    from django.test import Client
    from django.test.utils import override_settings

    from govai_plugin.embedded import llm
    from govai_plugin.models import Suggestion
    from govai_plugin.services.access import create_collection
    from govai_plugin.services.ingest import ingest_paths
    from settings.celery import app
    from tests.servers.case_system import CaseSystem
    from tests.servers.population_register import PopulationRegister

    own_queue(app)
    folder = llm_folder()
    llm.stop(folder)
    state = llm.ensure_running(folder, "smollm2-135m", threads=0, context=4096)
    results: dict = {"machine": machine(), "model": state["alias"], "runs": args.runs}
    try:
        with CaseSystem(SECRET) as cases, PopulationRegister() as register:
            register.people["38001085718"] = PERSON
            govai = {
                "LLM": {"BASE_URL": state["url"], "MODEL": state["alias"], "MAX_TOKENS": max_tokens, "TEMPERATURE": 0.0},
                "CASES": {"SYSTEMS": {"casesys": {
                    "ADAPTER": "case-webhook", "SECRET": SECRET, "CASE_URL": cases.url + "/api/cases/{case_id}",
                    "SUGGESTION_URL": cases.url + "/api/cases/{case_id}/suggestions", "CONTEXT_FIELDS": ["requested", "rent"],
                    "REGISTRIES": ["population"], "COLLECTIONS": ["sample"]}}},
                "REGISTRIES": {"population": {"WSDL": register.url + "?wsdl", "OPERATION": "getPerson",
                                              "INPUT": {"personalCode": "applicant_id"},
                                              "OUTPUT_FIELDS": ["householdSize", "monthlyIncome", "address.municipality"]}},
            }
            if args.smoke:
                govai["ANSWERS"] = {"TOP_K": 2}  # a short prompt
            with override_settings(GOVAI=govai):
                ingest_paths(create_collection("sample"), [ROOT / "fixtures" / "corpus"])
                http = Client()

                def one(case_id: str) -> tuple[float, Suggestion]:
                    cases.cases[case_id] = {"title": "Housing benefit application", "type": "housing-benefit",
                                            "fields": {"applicant_id": "38001085718", "requested": "housing benefit", "rent": "450"}}
                    body = json.dumps({"type": "case.created", "case_id": case_id}).encode()
                    stamp, event_id = str(int(time.time())), str(uuid.uuid4())
                    mac = hmac.new(SECRET.encode(), f"{stamp}.{event_id}.".encode() + body, hashlib.sha256).hexdigest()
                    started = time.perf_counter()
                    response = http.post("/api/v1/cases/casesys/events", body, content_type="application/json",
                                         HTTP_X_GOVAI_TIMESTAMP=stamp, HTTP_X_GOVAI_EVENT_ID=event_id,
                                         HTTP_X_GOVAI_SIGNATURE=f"sha256={mac}")
                    assert response.status_code == 202, response.content
                    while True:
                        suggestion = Suggestion.objects.filter(case_ref=case_id).exclude(writeback="pending").first()
                        if suggestion is not None:
                            return time.perf_counter() - started, suggestion
                        time.sleep(0.02)

                with start_worker(app, pool="threads", concurrency=2, perform_ping_check=False, shutdown_timeout=30,
                                  loglevel="WARNING"):
                    one("WARM-UP")
                    totals, generations = [], []
                    for i in range(args.runs):
                        total, suggestion = one(f"HB-{i:04d}")
                        assert suggestion.writeback == "done", suggestion.writeback_error
                        generation = suggestion.answer_job.timings()["generation"] or 0.0
                        totals.append(total)
                        generations.append(generation)
                overheads = [t - g for t, g in zip(totals, generations)]
                results.update({
                    "event_to_written_back_p50_s": round(percentile(totals, 50), 3),
                    "event_to_written_back_p95_s": round(percentile(totals, 95), 3),
                    "generation_p50_s": round(percentile(generations, 50), 3),
                    "pipeline_overhead_p50_s": round(percentile(overheads, 50), 3),
                    "pipeline_overhead_p95_s": round(percentile(overheads, 95), 3),
                    "end_to_end_over_generation_p50": round(percentile(totals, 50) / percentile(generations, 50), 3),
                    "registry_calls": len(register.calls), "written_back": sum(len(v) for v in cases.suggestions.values()),
                })
    finally:
        llm.stop(folder)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        connection.close()
        connection.creation.destroy_test_db(test_db, verbosity=0)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

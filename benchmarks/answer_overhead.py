"""The answer pipeline's own overhead against a direct call to the same server, in one run.

    python benchmarks/answer_overhead.py [--model smollm2-135m] [--runs 20] [--smoke]

Runs in a scratch database with the sample corpus. Starts the embedded llama-server
and an in-process Celery worker (threads pool, 4 slots) on the embedded broker.
Measures, for the same questions:
  * direct: huggingface_hub chat_completion (streaming) with the prompt the pipeline built;
  * pipeline: ask() -> queue -> worker -> server -> output checks -> job row final.
Overhead per answer = pipeline end-to-end minus the server's generation time as the
job row records it. Then throughput with 1, 2 and 4 concurrent askers, and time to
first token through the server-sent-events endpoint against the direct stream.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor

from _setup import ROOT, llm_folder, machine, own_queue, percentile, scratch_database
from django.db import connection

QUESTIONS = [
    "How long does the department take to decide on a housing benefit application?",
    "Is child benefit counted as income for the housing benefit?",
    "What is the income limit for a single adult?",
    "What is the maximum emergency assistance per household per year?",
    "Which documents do I need for a housing benefit application?",
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--parallel", type=int, default=0, help="llama-server slots (0: its default)")
    parser.add_argument("--smoke", action="store_true", help="1 run of 4 tokens from 2 passages, 1 asker: only checks the script runs")
    args = parser.parse_args()
    askers_tried = (1, 2, 4)
    if args.smoke:
        args.runs, args.max_tokens, askers_tried = 1, 4, (1,)
    # No prompt cache on the server: the direct call re-sends the prompt the pipeline just
    # sent, and would otherwise skip its prompt processing and look faster than it is.
    os.environ["LLAMA_ARG_CACHE_PROMPT"] = "0"
    if args.parallel:
        os.environ["LLAMA_ARG_N_PARALLEL"] = str(args.parallel)
    test_db = scratch_database()
    from celery.contrib.testing.worker import start_worker
    from django.test import Client
    from django.test.utils import override_settings
    from huggingface_hub import InferenceClient

    from govai_plugin.embedded import llm
    from govai_plugin.models import AnswerJob, ApiClient
    from govai_plugin.services.access import create_collection, grant
    from govai_plugin.services.answers import ask
    from govai_plugin.services.ingest import ingest_paths
    from settings.celery import app

    own_queue(app)
    folder = llm_folder()
    llm.stop(folder)  # a fresh server with this run's environment
    state = llm.ensure_running(folder, args.model, threads=0, context=4096)
    govai = {"LLM": {"BASE_URL": state["url"], "MODEL": state["alias"], "MAX_TOKENS": args.max_tokens, "TEMPERATURE": 0.0}}
    if args.smoke:
        govai["ANSWERS"] = {"TOP_K": 2}  # a short prompt
    results = {"machine": machine(), "model": state["alias"], "max_tokens": args.max_tokens,
               "parallel_slots": args.parallel or "default"}
    try:
        with override_settings(GOVAI=govai):
            collection = create_collection("sample")
            ingest_paths(collection, [ROOT / "fixtures" / "corpus"])
            client = InferenceClient(base_url=state["url"], timeout=120)

            def direct(messages):
                started = time.perf_counter()
                first = None
                for chunk in client.chat_completion(messages=messages, model=state["alias"], max_tokens=args.max_tokens,
                                                    temperature=0.0, stream=True):
                    if first is None and chunk.choices and chunk.choices[0].delta.content:
                        first = time.perf_counter() - started
                return time.perf_counter() - started, first

            def through_pipeline(question):
                started = time.perf_counter()
                job = ask(question, collections=["sample"])
                while not job.is_final:
                    time.sleep(0.02)
                    job.refresh_from_db()
                return time.perf_counter() - started, job

            with start_worker(app, pool="threads", concurrency=4, perform_ping_check=False, shutdown_timeout=30, loglevel="WARNING"):
                through_pipeline(QUESTIONS[0])  # warm up model, caches and worker
                overheads, e2e, direct_times, gen_times = [], [], [], []
                for i in range(args.runs):
                    question = QUESTIONS[i % len(QUESTIONS)]
                    total, job = through_pipeline(question)
                    assert job.status in ("succeeded", "abstained"), job.error
                    if not job.prompt_messages:
                        continue  # abstained before generation: nothing to compare
                    generation = job.timings()["generation"]
                    overheads.append(total - generation)
                    e2e.append(total)
                    gen_times.append(generation)
                    direct_times.append(direct(job.prompt_messages)[0])
                results["overhead"] = {
                    "answers": len(e2e),
                    "pipeline_overhead_p50_s": round(percentile(overheads, 50), 3),
                    "pipeline_overhead_p95_s": round(percentile(overheads, 95), 3),
                    "end_to_end_p50_s": round(percentile(e2e, 50), 3),
                    "direct_call_p50_s": round(percentile(direct_times, 50), 3),
                    "end_to_end_over_direct_p50": round(percentile(e2e, 50) / percentile(direct_times, 50), 3),
                }
                print(json.dumps(results["overhead"]), flush=True)

                throughput = {}
                for askers in askers_tried:
                    n = askers * (1 if args.smoke else 4)
                    started = time.perf_counter()
                    with ThreadPoolExecutor(askers) as pool:
                        done = list(pool.map(lambda i: through_pipeline(QUESTIONS[i % len(QUESTIONS)]), range(n)))
                    elapsed = time.perf_counter() - started
                    throughput[str(askers)] = {"answers": n, "answers_per_min": round(60 * n / elapsed, 1),
                                               "p50_s": round(percentile([t for t, _ in done], 50), 2)}
                    from django.db import connections
                    connections.close_all()
                results["throughput"] = throughput
                print(json.dumps(throughput), flush=True)

                api_client, key = ApiClient.create_with_key("bench")
                grant(api_client, collection)
                http = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
                sse_ttft, direct_ttft = [], []
                for i in range(min(args.runs, 10)):
                    question = QUESTIONS[i % len(QUESTIONS)]
                    started = time.perf_counter()
                    accepted = http.post("/api/v1/answers", {"question": question}, content_type="application/json").json()
                    if accepted.get("status") != "queued":
                        continue
                    response = http.get(f"/api/v1/answers/{accepted['id']}/stream")
                    first = None
                    for part in response.streaming_content:
                        if first is None and part.startswith(b"event: token"):
                            first = time.perf_counter() - started
                    job = AnswerJob.objects.get(uid=accepted["id"])
                    if first is None:
                        continue
                    sse_ttft.append(first)
                    direct_ttft.append(direct(job.prompt_messages)[1])
                results["time_to_first_token"] = {
                    "samples": len(sse_ttft),
                    "through_api_stream_p50_s": round(percentile(sse_ttft, 50), 3),
                    "direct_stream_p50_s": round(percentile(direct_ttft, 50), 3),
                    "ratio_p50": round(percentile(sse_ttft, 50) / percentile(direct_ttft, 50), 2),
                }
                print(json.dumps(results["time_to_first_token"]), flush=True)
    finally:
        llm.stop(folder)
        with connection.cursor() as cursor:  # the worker's threads keep their connections
            cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        connection.close()
        connection.creation.destroy_test_db(test_db, verbosity=0)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

"""A worker killed in the middle of a generation: the task is redelivered and the job completes once.

Real worker processes on the real (embedded Redis) broker. Redis redelivers an
unacknowledged task once its visibility timeout has passed, to a worker that connects
(running workers look again only every ~100 s); the workers here use a 2-second timeout. Nothing here sleeps and hopes: each step waits for what the broker, the model
server or the job row shows.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from django.db import connection

from govai_plugin.models import AnswerJob
from govai_plugin.services.answers import ask
from govai_plugin.testing.waiting import wait_for
from settings.celery import app as celery_app
from tests.conftest import ROOT
from tests.servers.openai_compat import ChatServer
from tests.test_answers import QUESTION, rules, wait_final  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

VISIBILITY_TIMEOUT = 2  # seconds, for the worker processes started here
WORKER_START = 300  # seconds a worker process may take to start and take its first task on a loaded machine


def start_worker_process(llm_url: str, name: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "settings.test",
        "GOVAI_TEST_DB_NAME": connection.settings_dict["NAME"],
        "GOVAI_TEST_LLM_URL": llm_url,
        "GOVAI_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "settings.celery", "worker", "--pool=solo", "-l", "warning", "-n", f"{name}@%h", "-Q", "govai-test"],
        cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def _generates(message: dict, job: AnswerJob) -> bool:
    return message["headers"].get("task") == "govai_plugin.tasks.generate_answer" and message["headers"].get("argsrepr") == repr((job.pk,))


def in_broker(job: AnswerJob) -> tuple[int, list[float]]:
    """Where the Redis broker holds the job's generation task: how many copies are queued, and
    when each unacknowledged copy was delivered (kombu keeps a delivered message in its ``unacked``
    hash, indexed by delivery time, until the ack; after the visibility timeout it is redelivered)."""
    with celery_app.connection_for_write() as conn:
        channel = conn.default_channel
        redis = channel.client
        queued = sum(_generates(json.loads(m), job) for m in redis.lrange(celery_app.conf.task_default_queue, 0, -1))
        delivered = [redis.zscore(channel.unacked_index_key, tag) or 0.0
                     for tag, value in redis.hgetall(channel.unacked_key).items() if _generates(json.loads(value)[0], job)]
    return queued, delivered


def redeliverable(job: AnswerJob) -> bool:
    """The task's unacknowledged copy is past its visibility timeout: a worker that connects now gets it."""
    queued, delivered = in_broker(job)
    return bool(delivered) and all(time.time() - at > VISIBILITY_TIMEOUT for at in delivered)


def test_killed_worker_task_is_redelivered_and_completes_once(rules):  # noqa: F811
    with ChatServer() as llm:
        llm.mode, llm.fail_first, llm.slow_seconds = "slow", 1, 60  # the first call hangs; later ones answer
        first = start_worker_process(llm.url, "first")
        second = None
        try:
            job = ask(QUESTION, collections=["rules"])
            wait_for(lambda: len(llm.requests) == 1, seconds=WORKER_START, what="the first worker to call the model")
            job.refresh_from_db()
            assert job.status == AnswerJob.Status.RUNNING
            queued, delivered = in_broker(job)
            assert queued == 0 and len(delivered) == 1  # delivered, not acknowledged
            os.killpg(first.pid, signal.SIGKILL)  # mid-generation, no chance to clean up
            first.wait(60)
            wait_for(lambda: redeliverable(job), what="the unacknowledged task to pass its visibility timeout")
            second = start_worker_process(llm.url, "second")  # restores such tasks when it connects
            job = wait_final(job, seconds=WORKER_START)
            # Acknowledged: once the broker holds no copy of the task, no further delivery can come.
            wait_for(lambda: in_broker(job) == (0, []), what="the broker to drop the acknowledged task")
        finally:
            for process in (first, second):
                if process and process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)
        assert job.status == AnswerJob.Status.SUCCEEDED, job.error
        assert job.answer_text == llm.reply
        # the killed attempt hung on the answerability question; the redelivered one asked it again
        # and generated once, nothing more
        assert [bool(r["body"].get("stream")) for r in llm.requests] == [False, False, True]


RABBITMQ = os.environ.get("GOVAI_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")


def _rabbitmq_reachable() -> bool:
    from kombu import Connection

    try:
        with Connection(RABBITMQ, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1)
        return True
    except Exception:  # noqa: BLE001 - any failure means: not here
        return False


def test_with_rabbitmq_a_killed_worker_task_is_requeued_and_completes_once(rules):  # noqa: F811
    """GOVAI_BROKER_URL set to RabbitMQ: the same guarantees. AMQP requeues an unacknowledged
    message as soon as the dead worker's channel closes."""
    if not _rabbitmq_reachable():
        pytest.skip(f"no RabbitMQ at {RABBITMQ} (CI machines run one; set GOVAI_TEST_RABBITMQ_URL)")
    from govai_plugin.tasks import generate_answer
    from settings.celery import app

    with ChatServer() as llm:
        llm.mode, llm.fail_first, llm.slow_seconds = "slow", 1, 60
        env = {"GOVAI_BROKER_URL": RABBITMQ}
        os.environ.update(env)
        try:
            first = start_worker_process(llm.url, "rabbit-first")
            second = None
            job = ask(QUESTION, collections=["rules"], enqueue=False)
            with app.connection_for_write(RABBITMQ) as conn:
                generate_answer.apply_async((job.pk,), connection=conn, queue="govai-test")
            wait_for(lambda: len(llm.requests) == 1, seconds=WORKER_START, what="the first worker to call the model")
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(60)
            second = start_worker_process(llm.url, "rabbit-second")
            job = wait_final(job, seconds=WORKER_START)
        finally:
            for name in env:
                os.environ.pop(name, None)
            for process in (first, second):
                if process and process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)
        assert job.status == AnswerJob.Status.SUCCEEDED, job.error
        assert [bool(r["body"].get("stream")) for r in llm.requests] == [False, False, True]

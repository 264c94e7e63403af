"""A Celery worker the project starts by itself for the demo (detached, one process)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

#: The host's Celery app (``-A``); the sample portal's by default.
CELERY_APP = os.environ.get("GOVAI_CELERY_APP", "settings.celery")


def _pid(folder: Path) -> int | None:
    try:
        pid = int((folder / "worker.pid").read_text().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def is_running(folder: Path) -> bool:
    return _pid(folder) is not None


def start(folder: Path) -> int:
    """Start a detached worker unless one runs; returns its pid."""
    folder.mkdir(parents=True, exist_ok=True)
    pid = _pid(folder)
    if pid:
        return pid
    (folder / "worker.pid").unlink(missing_ok=True)
    subprocess.run(
        [
            sys.executable, "-m", "celery", "-A", CELERY_APP, "worker", "--detach", "--pool=solo", "-l", "info",
            f"--pidfile={folder / 'worker.pid'}", f"--logfile={folder / 'worker.log'}",
        ],
        check=True,
    )
    for _ in range(100):
        pid = _pid(folder)
        if pid:
            return pid
        time.sleep(0.1)
    raise RuntimeError(f"The Celery worker did not start; see {folder / 'worker.log'}")


def stop(folder: Path) -> bool:
    pid = _pid(folder)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        if _pid(folder) is None:
            return True
        time.sleep(0.1)
    return True

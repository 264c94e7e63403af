"""Waiting for background work in tests: poll for the condition itself, never sleep and hope.

A worker on a loaded CI machine can take many seconds to start a task, so the deadline is
generous; a condition that holds returns at once, so a passing test stays fast.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

#: Seconds a test waits for background work before it fails.
DEADLINE = 120.0


def wait_for(condition: Callable[[], T], *, seconds: float = DEADLINE, what: str = "the condition",
             interval: float = 0.05) -> T:
    """Call ``condition`` until it returns something truthy, and return that.

    :param condition: called repeatedly; its first truthy result is returned.
    :param seconds: how long to keep trying.
    :param what: named in the error, e.g. "the job to finish".
    :param interval: pause between calls.
    :returns: the condition's first truthy value.
    :raises AssertionError: when ``seconds`` pass without a truthy value (the last value is shown).
    """
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds:g}s waiting for {what} (last value: {value!r})")
        time.sleep(interval)

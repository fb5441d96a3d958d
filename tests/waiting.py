"""Polling with a deadline instead of sleeps: the one ``wait_for`` the tests use."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest


def wait_for(condition: Callable[[], object], timeout: float = 30.0, every: float = 0.1,
             what: str = "the condition") -> object:
    """Poll until ``condition()`` is truthy (and return it), or fail the test after
    ``timeout`` seconds naming ``what`` was awaited."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)

"""Helpers the worker tests import by name (a module of its own: every test directory has
a ``conftest`` module, so ``from conftest import`` would pick whichever was imported first)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from waiting import wait_for  # noqa: F401  (re-exported to the tests)

from wework.config import Settings
from wework.worker.runner import Worker


def fast(settings: Settings, **overrides) -> Settings:
    """The session's settings with quick worker loops (and any overrides)."""
    base = dict(worker_idle_seconds=0.1, worker_webhooks_every=0.1,
                worker_stop_seconds=8.0)
    return settings.model_copy(update={**base, **overrides})


@contextmanager
def running_worker(settings: Settings, gateway=None, jobs=None) -> Iterator[Worker]:
    """A worker in this process (real threads, real database) until the block ends."""
    worker = Worker(settings, gateway=gateway, jobs=jobs).start()
    try:
        yield worker
    finally:
        assert worker.shutdown(), "the worker did not stop in time"


def wework_command() -> list[str]:
    exe = Path(sys.executable).with_name("wework")
    if exe.exists():
        return [str(exe)]
    return [sys.executable, "-c", "from wework.cli import app; app()"]


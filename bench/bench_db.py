"""The databases a benchmark runs on: a set of shard databases of its own, so a benchmark
never touches the demo's or the tests' data (run a benchmark as `python bench/<name>.py`;
this module is imported from beside it)."""

from __future__ import annotations

import os
import uuid

from wework.config import Settings, reload_settings


def bench_database_set() -> Settings:
    """Point the settings at a new database set (``wework_bench_<random>``), migrate it and
    return the settings. The caller drops it when done (``migrate.drop_databases``)."""
    from wework.db import migrate

    os.environ["WEWORK_DB_NAME"] = f"wework_bench_{uuid.uuid4().hex[:8]}"
    settings = reload_settings()
    migrate.upgrade(settings=settings)
    return settings

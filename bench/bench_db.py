"""The databases a benchmark runs on: a set of shard databases of its own, so a benchmark
never touches the demo's or the tests' data (run a benchmark as `python bench/<name>.py`;
this module is imported from beside it)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from wework.config import Settings, reload_settings


def bench_database_set() -> Settings:
    """Point the settings at a new database set (``wework_bench_<random>``), migrate it and
    return the settings. The caller drops it when done (``migrate.drop_databases``)."""
    from wework.db import migrate

    os.environ["WEWORK_DB_NAME"] = f"wework_bench_{uuid.uuid4().hex[:8]}"
    settings = reload_settings()
    migrate.upgrade(settings=settings)
    return settings


SLAP = shutil.which("mariadb-slap") or "/usr/bin/mariadb-slap"


def slap_inserts_per_second(settings: Settings, clients: int, queries: int) -> float:
    """The database's ceiling for small transactions: ``mariadb-slap`` with ``clients``
    clients doing single-row autocommit INSERTs, as the app user, into a table of the
    bench database (``sync_binlog=1``, ``innodb_flush_log_at_trx_commit=1`` as configured).
    Returns inserts (= transactions) per second."""
    from wework.db.engines import DbUser, Role, get_engine
    from wework.ops.clients import option_file_text

    database = settings.shard_database(0)
    with get_engine(Role.PRIMARY, 0, settings, user=DbUser.MIGRATOR).begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE IF NOT EXISTS slap_t (id BIGINT AUTO_INCREMENT PRIMARY KEY, "
            "payload JSON, created_at TIMESTAMP(6) DEFAULT CURRENT_TIMESTAMP(6))")
    with tempfile.TemporaryDirectory() as tmp:
        option_file = Path(tmp) / "app.cnf"
        option_file.write_text(option_file_text(get_engine(Role.PRIMARY, None, settings).url))
        option_file.chmod(0o600)
        command = [SLAP, f"--defaults-file={option_file}", f"--create-schema={database}",
                   f"--concurrency={int(clients)}", "--iterations=1", "--silent",
                   "--query=INSERT INTO slap_t (payload) VALUES ('{\"k\": 1}')"]
        subprocess.run([*command, "--number-of-queries=1000"], check=True,
                       stdout=subprocess.DEVNULL)  # warm up
        t = time.perf_counter()
        subprocess.run([*command, f"--number-of-queries={queries}"], check=True,
                       stdout=subprocess.DEVNULL)
        return queries / (time.perf_counter() - t)

"""What the local stack's server settings cost or gain, measured on one private pair.

1. The spec's monitoring settings (performance_schema statement consumers, userstat, slow
   log with not-using-index logging): `mariadb-slap` single-row autocommit INSERTs from
   16 clients as the app user, with the settings on and off (all switched at runtime on
   the same server), alternating rounds: inserts/s with the monitoring on vs off.
2. Parallel replication: a burst of single-row INSERT transactions from 16 clients is
   binlogged while the replica's SQL thread is stopped; then the replica applies the
   backlog with `slave_parallel_threads` = 0 (one at a time) and = N (optimistic):
   transactions applied per second.

    .venv/bin/python bench/server_settings_bench.py [--queries 40000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from ports import free_ports

from wework.db.engines import DbUser, Role, get_engine
from wework.db.localstack import LocalStack
from wework.ops.clients import option_file_text

SLAP = shutil.which("mariadb-slap") or "/usr/bin/mariadb-slap"
DB = "wework_settings_bench"


def monitoring(on: bool) -> str:
    """SQL that turns the monitoring settings on or off at runtime."""
    enabled, flag = ("YES", 1) if on else ("NO", 0)
    return f"""
        UPDATE performance_schema.setup_consumers SET ENABLED = '{enabled}'
            WHERE NAME IN ('events_statements_current', 'events_statements_history',
                           'statements_digest');
        SET GLOBAL userstat = {flag}; SET GLOBAL slow_query_log = {flag};
        SET GLOBAL log_queries_not_using_indexes = {flag};"""


def slap(option_file: Path, queries: int, clients: int = 16) -> float:
    """Single-row autocommit INSERTs from ``clients`` connections; inserts/s."""
    t0 = time.perf_counter()
    subprocess.run(
        [SLAP, f"--defaults-file={option_file}", f"--create-schema={DB}",
         f"--concurrency={clients}", "--iterations=1", f"--number-of-queries={queries}",
         "--query=INSERT INTO t (payload) VALUES ('{\"k\": 1, \"text\": \"hello\"}')",
         "--silent"],
        check=True, stdout=subprocess.DEVNULL,
    )
    return queries / (time.perf_counter() - t0)


def _seq(position: str) -> int:
    """The sequence number of a one-domain GTID position (``0-1-1234`` → 1234)."""
    return max((int(p.rsplit("-", 1)[1]) for p in position.split(",") if p), default=0)


def wait_applied(stack: LocalStack, gtid: str) -> None:
    rows = stack._sql(stack.replica, f"SELECT MASTER_GTID_WAIT('{gtid}', 600)", log_bin=False)
    assert rows == [["0"]], rows


def replica_apply_rate(stack: LocalStack, option_file: Path, queries: int, threads: int) -> float:
    """Transactions/s the replica applies a backlog of ``queries`` inserts with."""
    stack._sql(stack.replica, f"STOP SLAVE; SET GLOBAL slave_parallel_threads = {threads}; "
               "START SLAVE IO_THREAD;", log_bin=False)
    slap(option_file, queries)
    gtid = stack._sql(stack.primary, "SELECT @@gtid_binlog_pos")[0][0]
    # Let the IO thread fetch the whole backlog first: only the applying is timed.
    deadline = time.monotonic() + 300
    while _seq(stack._query(stack.replica, "SHOW SLAVE STATUS")[0]["Gtid_IO_Pos"]) < _seq(gtid):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    t0 = time.perf_counter()
    stack._sql(stack.replica, "START SLAVE SQL_THREAD", log_bin=False)
    wait_applied(stack, gtid)
    return queries / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=40_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="wework-settings-bench-"))
    stack = LocalStack(base, *free_ports(2), buffer_pool_size="256M", log_file_size="256M",
                       echo=lambda _: None)
    threads = stack.replica_parallel_threads
    try:
        stack.up()
        settings = stack.settings()
        with get_engine(Role.PRIMARY, None, settings, user=DbUser.MIGRATOR).begin() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {DB}")
            conn.exec_driver_sql(
                f"CREATE TABLE {DB}.t (id BIGINT AUTO_INCREMENT PRIMARY KEY, payload JSON, "
                "created_at TIMESTAMP(6) DEFAULT CURRENT_TIMESTAMP(6))"
            )
        option_file = base / "app.cnf"
        option_file.write_text(option_file_text(get_engine(Role.PRIMARY, None, settings).url))
        option_file.chmod(0o600)
        slap(option_file, 2000)  # warm up

        on, off = [], []
        for _ in range(args.rounds):
            for state, results in ((False, off), (True, on)):
                stack._sql(stack.primary, monitoring(state))
                results.append(slap(option_file, args.queries))
        load1 = os.getloadavg()
        serial, parallel = [], []
        for _ in range(args.rounds):
            serial.append(replica_apply_rate(stack, option_file, args.queries, 0))
            parallel.append(replica_apply_rate(stack, option_file, args.queries, threads))
        stack._sql(stack.replica, f"STOP SLAVE; SET GLOBAL slave_parallel_threads = {threads};"
                   " START SLAVE;", log_bin=False)
        load2 = os.getloadavg()

        def show(values: list[float]) -> str:
            return f"{statistics.median(values):,.0f}/s (rounds: " + ", ".join(
                f"{v:,.0f}" for v in values) + ")"

        print(f"\nmariadb-slap, 16 clients, {args.queries:,} single-row INSERTs per round, "
              f"sync_binlog=1 (load average {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f})")
        print(f"  monitoring off (baseline): {show(off)}")
        print(f"  monitoring on:             {show(on)}  "
              f"= {statistics.median(on) / statistics.median(off):.2f}x")
        print(f"\nreplica applying a backlog of {args.queries:,} transactions "
              f"(load average {load2[0]:.2f} {load2[1]:.2f} {load2[2]:.2f})")
        print(f"  one at a time (baseline):  {show(serial)}")
        print(f"  {threads} threads, optimistic:    {show(parallel)}  "
              f"= {statistics.median(parallel) / statistics.median(serial):.2f}x")
    finally:
        stack.down()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()

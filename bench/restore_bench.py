"""Time to back up and restore the 2,000,000-message sample, beside a plain-client baseline.

    .venv/bin/python bench/restore_bench.py [--messages 2000000] [--keep DIR]

Everything runs on a PRIVATE MariaDB pair started in a temp dir on free ports (never the
shared pair): the sample is seeded with `wework db seed`'s bulk path, then

1. `wework db backup` (full): consistent dump of every shard, gzip in-process, SHA-256;
2. `wework db restore --force`: checksum verify + drop + streamed load (what an operator
   runs; the replica follows through the binlog, as in production);
3. baseline, same dump, same servers: `gunzip -c dump | mariadb` — the bare shell
   pipeline the spec's restore script uses, with no checks.

Row counts are compared after each restore. The figures printed are wall-clock seconds.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from sqlalchemy import text

from wework.config import Settings
from wework.db import migrate
from wework.db.engines import Role, dispose_engines, new_engine, server_url
from wework.db.localstack import LocalStack
from wework.db.replication import wait_for_replica
from wework.ops.backup import full_backup
from wework.ops.clients import client_args, primary_option_file
from wework.ops.restore import inspect_target, plan_restore, restore
from wework.seed import SeedConfig, seed


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def counts(settings: Settings) -> dict[str, int]:
    return {
        f"{t.database}.{t.table}": t.rows
        for t in inspect_target(settings.shard_databases, settings)
    }


def drop(settings: Settings) -> None:
    engine = new_engine(server_url(Role.PRIMARY, settings))
    with engine.begin() as conn:
        for db in settings.shard_databases:
            conn.execute(text(f"DROP DATABASE IF EXISTS `{db}`"))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2_000_000)
    parser.add_argument("--keep", type=Path, help="use (and keep) this directory")
    args = parser.parse_args()

    base = args.keep or Path(tempfile.mkdtemp(prefix="restore-bench-"))
    stack = LocalStack(base, *free_ports(2), buffer_pool_size="512M", log_file_size="256M")
    try:
        stack.up()
        settings = stack.settings().model_copy(update={"backup_dir": base / "backups"})
        migrate.upgrade(settings=settings)
        t0 = time.perf_counter()
        summary = seed(SeedConfig(messages=args.messages), settings, replace=True)
        seeded = time.perf_counter() - t0
        print(
            f"seeded {summary.counts['messages']:,} messages "
            f"({sum(summary.counts.values()):,} rows in all) in {seeded:.1f} s"
        )
        wait_for_replica(timeout=1800, settings=settings)
        expected = counts(settings)

        t0 = time.perf_counter()
        made = full_backup(settings)
        backup_s = time.perf_counter() - t0
        print(f"full backup {made.name}: {made.size / 1e6:.1f} MB gzip in {backup_s:.1f} s")

        dispose_engines()
        t0 = time.perf_counter()
        result = restore(
            plan_restore(settings=settings),
            force=True,
            settings=settings,
            echo=lambda _: None,
        )
        restore_s = time.perf_counter() - t0
        assert counts(settings) == expected, "restore: row counts differ"
        t0 = time.perf_counter()
        wait_for_replica(timeout=3600, settings=settings)
        replica_s = time.perf_counter() - t0

        drop(settings)
        dump = settings.backup_path / made.files[0].path
        t0 = time.perf_counter()
        with primary_option_file(settings) as option_file:
            gunzip = subprocess.Popen(["gzip", "-dc", str(dump)], stdout=subprocess.PIPE)
            client = subprocess.run(client_args(option_file), stdin=gunzip.stdout)
            gunzip.stdout.close()
            assert gunzip.wait() == 0 and client.returncode == 0, "baseline load failed"
        baseline_s = time.perf_counter() - t0
        assert counts(settings) == expected, "baseline: row counts differ"
        wait_for_replica(timeout=3600, settings=settings)

        print(
            f"\nrestore of {summary.counts['messages']:,} messages "
            f"({sum(expected.values()):,} rows, dump {made.size / 1e6:.1f} MB gzip):"
        )
        print(
            f"  wework db restore --force        {restore_s:7.1f} s  "
            f"(verify+drop+load {result.seconds_load:.1f} s)"
        )
        print(f"  baseline gunzip -c | mariadb     {baseline_s:7.1f} s")
        print(f"  replica caught up after restore  {replica_s:7.1f} s more")
        print(f"  full backup (dump + gzip + hash) {backup_s:7.1f} s")
    finally:
        dispose_engines()
        stack.down()
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()

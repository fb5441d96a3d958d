"""Extraction benchmark: the project's extract vs the client's limit and a pandas baseline.

On the same `messages` table of the configured shard-0 database (WEWORK_* settings), in one
run, each way measured in its own subprocess (honest peak RSS):

  full          the project's full extract (pipelines.extract, DuckDB mysql extension,
                compress=false) from the replica into a fresh warehouse file
  incremental   the project's incremental extract after 1% of the rows changed
  mariadb       `mariadb --quick -e 'select * from messages' > /dev/null` (the limit)
  pandas        pandas.read_sql through SQLAlchemy/PyMySQL, chunksize=50,000 (baseline)

    .venv/bin/python bench/extract_bench.py                # use what the table holds
    .venv/bin/python bench/extract_bench.py --repeat 1 --skip-pandas   # quick look
    .venv/bin/python bench/extract_bench.py --generate 500000
        # first seeds N messages with wework.seed (REPLACES the database's data: point
        # WEWORK_DB_NAME at a bench database)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports KiB


# --------------------------------------------------------------------------- workers


def _extract(warehouse: str, full: bool) -> dict:
    os.environ["WEWORK_WAREHOUSE_PATH"] = warehouse
    from pipelines.extract import attach_source, extract_table, table_specs
    from pipelines.resources import WarehouseResource
    from wework.config import get_settings
    from wework.db.engines import Role, database_url

    s = get_settings()
    spec = table_specs()["messages"]
    with WarehouseResource().connect() as con:
        attach_source(con, "src", database_url(Role.REPLICA, s.shard_database(0), s))
        t0 = time.perf_counter()
        r = extract_table(con, "src", spec, 0, full=full)
        seconds = time.perf_counter() - t0
    return {"rows": r.rows_read, "seconds": seconds, "rss_mb": _peak_rss_mb()}


def _mariadb() -> dict:
    from wework.config import get_settings
    from wework.db.engines import Role, database_url, get_engine

    s = get_settings()
    url = database_url(Role.REPLICA, s.shard_database(0), s)
    cmd = [
        "mariadb",
        "--quick",
        "--batch",
        "--skip-column-names",
        "-h",
        url.host,
        "-P",
        str(url.port),
        "-u",
        url.username,
        url.database,
        "-e",
        "select * from messages",
    ]
    env = {**os.environ, "MYSQL_PWD": url.password or ""}
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True, env=env)
    seconds = time.perf_counter() - t0
    with get_engine(Role.REPLICA, 0, s).connect() as conn:
        rows = conn.exec_driver_sql("SELECT COUNT(*) FROM messages").scalar()
    return {"rows": rows, "seconds": seconds, "rss_mb": _peak_rss_mb(resource.RUSAGE_CHILDREN)}


def _pandas() -> dict:
    import pandas as pd

    from wework.config import get_settings
    from wework.db.engines import Role, get_engine

    engine = get_engine(Role.REPLICA, 0, get_settings())
    rows = 0
    t0 = time.perf_counter()
    with engine.connect() as conn:
        for chunk in pd.read_sql("SELECT * FROM messages", conn, chunksize=50_000):
            rows += len(chunk)
    return {"rows": rows, "seconds": time.perf_counter() - t0, "rss_mb": _peak_rss_mb()}


def _worker(way: str, warehouse: str) -> None:
    if way in ("full", "incremental"):
        out = _extract(warehouse, full=way == "full")
    elif way == "mariadb":
        out = _mariadb()
    else:
        out = _pandas()
    print(json.dumps(out))


def _measure(way: str, warehouse: str) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", way, "--warehouse", warehouse],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{way} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- driver


def _message_count() -> int:
    from wework.config import get_settings
    from wework.db.engines import Role, get_engine

    with get_engine(Role.REPLICA, 0, get_settings()).connect() as conn:
        return conn.exec_driver_sql("SELECT COUNT(*) FROM messages").scalar()


def _generate(n: int) -> None:
    from wework.config import get_settings
    from wework.db import migrate
    from wework.db.replication import wait_for_replica
    from wework.seed import SeedConfig, seed

    s = get_settings()
    migrate.upgrade(settings=s)
    if _message_count() >= n:
        return
    print(f"seeding {n:,} messages into {s.shard_database(0)} ...", flush=True)
    seed(SeedConfig(messages=n, accounts=200, days=60), s, replace=True, progress=print)
    wait_for_replica(timeout=600, settings=s)


def _change_one_percent() -> int:
    from wework.config import get_settings
    from wework.db.engines import Role, get_engine
    from wework.db.replication import wait_for_replica

    s = get_settings()
    with get_engine(Role.PRIMARY, 0, s).begin() as conn:
        changed = conn.exec_driver_sql(
            "UPDATE messages SET retry_count = retry_count + 1 WHERE MOD(CRC32(id), 100) = 0"
        ).rowcount
    wait_for_replica(timeout=600, settings=s)
    return changed


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--generate",
        type=int,
        default=0,
        metavar="N",
        help="seed N messages first (replaces the database's data)",
    )
    p.add_argument("--repeat", type=int, default=3, help="rounds; medians are printed")
    p.add_argument("--skip-pandas", action="store_true", help="leave out the slow baseline")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--warehouse", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        _worker(args.worker, args.warehouse)
        return
    if args.generate:
        _generate(args.generate)
    total = _message_count()
    print(f"messages on the replica: {total:,}; {args.repeat} round(s), median shown", flush=True)
    names = {
        "mariadb": "mariadb --quick > /dev/null (limit)",
        "full": "project full extract",
        "incremental": "project incremental (1% changed)",
        "pandas": "pandas read_sql chunked (baseline)",
    }
    runs: dict[str, list[dict]] = {k: [] for k in names}
    changed = 0
    for _ in range(args.repeat):  # interleaved rounds: load swings hit every way alike
        with tempfile.TemporaryDirectory() as tmp:
            warehouse = str(Path(tmp) / "bench.duckdb")
            runs["mariadb"].append(_measure("mariadb", warehouse))
            runs["full"].append(_measure("full", warehouse))
            changed = _change_one_percent()
            runs["incremental"].append(_measure("incremental", warehouse))
            if not args.skip_pandas:
                runs["pandas"].append(_measure("pandas", warehouse))

    def median(way: str) -> dict:
        ordered = sorted(runs[way], key=lambda r: r["seconds"])
        return ordered[len(ordered) // 2]

    print(f"\n{'way':44} {'rows':>10} {'seconds':>8} {'rows/s':>10} {'peak RSS':>9}")
    for way, name in names.items():
        if not runs[way]:
            continue
        r = median(way)
        rate = r["rows"] / r["seconds"] if r["seconds"] else 0
        print(
            f"{name:44} {r['rows']:>10,} {r['seconds']:>8.2f} {rate:>10,.0f} {r['rss_mb']:>7.0f}MB"
        )
    limit, full, inc = median("mariadb"), median("full"), median("incremental")
    print(
        f"\nrows changed per round: {changed:,} (the incremental extract also re-reads "
        "its overlap window)"
    )
    print(
        f"full extract rate / client limit rate: "
        f"{(full['rows'] / full['seconds']) / (limit['rows'] / limit['seconds']):.2f}x "
        "(goal >= 0.9x)"
    )
    print(f"incremental time / full time: {inc['seconds'] / full['seconds']:.1%} (goal < 5%)")


if __name__ == "__main__":
    main()

"""Finding what an incremental read changed: ``pipelines.extract.stage_changes`` against
the previous way, on the same DuckDB table, in one process.

An incremental run reads the window (the rows changed since the last read, plus the
overlap's rows read again) and must stage which of them differ from ``raw.messages`` and
raw's old versions of those. ``etl_scale_bench.py`` times whole runs on a seeded MySQL
set; this one times that step alone on a generated ``raw.messages`` (no MySQL), so it
runs at 20M rows on a machine without a 20M database:

- ``raw.messages``: ``--rows`` messages over 90 days, in creation order (as a full load
  writes them), then a previous run's 1 % deleted and appended again, as an incremental
  run leaves them;
- the batch read: 1 % of the rows changed, 80 % of them from the last two days and 20 %
  late receipts of messages 2-60 days old (every 50th message from 60 days back, as
  ``etl_scale_bench.change_one_percent`` picks them), plus the previous run's rows
  still in the overlap window, read again unchanged;
- **this code**: ``stage_changes``; **previous**: every column of every raw row whose key
  was read, ``EXCEPT`` on every column, the old versions taken from those rows.

Rounds alternate the order; both must stage the same keys.

    .venv/bin/python bench/upsert_bench.py --rows 20000000
    .venv/bin/python bench/upsert_bench.py --rows 2000000 --rounds 5
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "platform")]

from pipelines.extract import TEMP_TABLES, stage_changes, table_specs  # noqa: E402

SPEC = table_specs()["messages"]
T = 'raw."messages"'
NOW = "TIMESTAMP '2026-12-01 00:00:00'"
OVERLAP_START = f"{NOW} - INTERVAL 10 MINUTE"

# One expression per column of raw.messages, over the row number i of n.
CREATED = f"{NOW} - INTERVAL 90 DAY + to_microseconds(CAST(i * (90 * 86400e6 / $n) AS BIGINT))"
COLUMNS = {
    "id": "lpad(to_hex(i), 12, '0') || '-' || substr(md5(CAST(i AS VARCHAR)), 1, 23)",
    "tenant_id": "md5(CAST(i % 20 AS VARCHAR))",
    "account_id": "md5('a' || (i % 400))",
    "conversation_id": "md5('c' || (i % 50000))",
    "message_type": "['text', 'image', 'file', 'link'][i % 4 + 1]",
    "template_id": "CASE WHEN i % 10 = 0 THEN md5('t' || (i % 100)) END",
    "status": "CASE WHEN i % 97 = 0 THEN 'failed' ELSE 'sent' END",
    "wework_msg_id": "md5('w' || i)",
    "send_time": f"{CREATED} + INTERVAL 1 SECOND",
    "callback_time": "CAST(NULL AS TIMESTAMP)",
    "error_code": "CASE WHEN i % 97 = 0 THEN 'E42' END",
    "error_message": "CASE WHEN i % 97 = 0 THEN 'gateway refused the message' END",
    "retry_count": "CAST(i % 97 = 0 AS INTEGER)",
    "batch_id": "CASE WHEN i % 7 = 0 THEN md5('b' || (i // 1000)) END",
    "priority": "5",
    "scheduled_time": "CAST(NULL AS TIMESTAMP)",
    "created_at": CREATED,
    "updated_at": f"{CREATED} + INTERVAL 3 SECOND",
}


def load() -> str:
    return "load {:.1f}/{:.1f}/{:.1f}".format(*os.getloadavg())


def build(con: duckdb.DuckDBPyConnection, n: int) -> None:
    missing = set(SPEC.columns) - set(COLUMNS)
    if missing:
        raise SystemExit(f"no generator for messages column(s) {sorted(missing)}")
    exprs = ", ".join(f'{COLUMNS[c].replace("$n", str(n))} AS "{c}"' for c in SPEC.columns)
    con.execute("CREATE SCHEMA raw")
    con.execute(f"CREATE TABLE {T} AS SELECT CAST(0 AS INTEGER) AS _shard, {exprs} "
                f"FROM range({n}) AS g(i) ORDER BY i")
    # A previous run's 1 %: delivered and appended again; a tenth of it still inside the
    # overlap window, which this run reads again unchanged.
    con.execute(f"CREATE TEMP TABLE prev AS SELECT * REPLACE ('delivered' AS status, "
                f"send_time + INTERVAL 2 SECOND AS callback_time, "
                f"CASE WHEN hash(id) % 10 = 0 THEN {NOW} - INTERVAL 5 MINUTE "
                f"ELSE {NOW} - INTERVAL 1 HOUR END AS updated_at) "
                f"FROM {T} USING SAMPLE {n // 100} ROWS")
    con.execute(f"DELETE FROM {T} r USING prev b WHERE r.id = b.id")
    con.execute(f"INSERT INTO {T} SELECT * FROM prev")
    con.execute("DROP TABLE prev")
    con.execute("CHECKPOINT")


def stage_batch(con: duckdb.DuckDBPyConnection, n: int) -> tuple[int, int]:
    """The window as read: 1 % changed (80 % recent, 20 % late) + the overlap re-read."""
    recent, late = int(n // 100 * 0.8), n // 100 - int(n // 100 * 0.8)
    changed = (f"* REPLACE ('delivered' AS status, send_time + INTERVAL 2 SECOND AS "
               f"callback_time, {NOW} AS updated_at)")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _batch AS
        (SELECT {changed} FROM {T} WHERE created_at >= {NOW} - INTERVAL 2 DAY
             AND status = 'sent' ORDER BY created_at LIMIT {recent})
        UNION ALL
        (SELECT {changed} FROM {T} WHERE created_at >= {NOW} - INTERVAL 60 DAY
             AND created_at < {NOW} - INTERVAL 2 DAY AND status = 'sent'
             AND hash(id) % 50 = 0 ORDER BY created_at LIMIT {late})
        UNION ALL
        (SELECT * FROM {T} WHERE updated_at >= {OVERLAP_START})""")
    return con.execute(f"SELECT count(*), count(*) FILTER (WHERE updated_at < {NOW}) "
                       "FROM _batch").fetchone()


def previous_stage(con: duckdb.DuckDBPyConnection) -> None:
    """The statements stage_changes replaced (main before it, pipelines/extract.py)."""
    match = 'r."_shard" = b."_shard" AND r."id" = b."id"'
    con.execute(f"CREATE OR REPLACE TEMP TABLE _held AS SELECT r.* FROM {T} r "
                f"SEMI JOIN _batch b ON {match}")
    con.execute("CREATE OR REPLACE TEMP TABLE _changed AS SELECT * FROM _batch "
                "EXCEPT SELECT * FROM _held")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _old AS SELECT r.* FROM _held r "
                f"SEMI JOIN _changed b ON {match}")


def this_stage(con: duckdb.DuckDBPyConnection) -> None:
    stage_changes(con, T, SPEC, 0, read_where=f'"updated_at" >= {OVERLAP_START}')


def timed(con: duckdb.DuckDBPyConnection, fn) -> tuple[float, frozenset, frozenset]:
    con.execute("; ".join(f"DROP TABLE IF EXISTS {t}" for t in TEMP_TABLES if t != "_batch"))
    started = time.perf_counter()
    fn(con)
    seconds = time.perf_counter() - started
    changed = frozenset(r[0] for r in con.execute("SELECT id FROM _changed").fetchall())
    old = frozenset(r[0] for r in con.execute("SELECT id FROM _old").fetchall())
    return seconds, changed, old


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=2_000_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2, help="as the warehouse resource sets")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="upsert-bench-") as tmp:
        con = duckdb.connect(str(Path(tmp) / "w.duckdb"))
        con.execute(f"SET threads = {args.threads}")
        con.execute("SET disabled_compression_methods = 'fsst'")  # as the warehouse
        started = time.perf_counter()
        build(con, args.rows)
        print(f"raw.messages: {args.rows:,} generated rows in "
              f"{time.perf_counter() - started:.1f} s ({load()})", flush=True)
        read, again = stage_batch(con, args.rows)
        print(f"batch read: {read:,} rows, {again:,} of them read again unchanged", flush=True)
        ways = {"this code": this_stage, "previous": previous_stage}
        for r in range(args.rounds):
            order = list(ways) if r % 2 == 0 else list(reversed(ways))
            got = {name: timed(con, ways[name]) for name in order}
            (a, ca, oa), (b, cb, ob) = got["this code"], got["previous"]
            if (ca, oa) != (cb, ob):
                raise SystemExit(f"round {r + 1}: the two ways staged different rows: "
                                 f"changed {len(ca):,} vs {len(cb):,}, old {len(oa):,} vs "
                                 f"{len(ob):,}")
            print(f"round {r + 1}: this code {a * 1000:,.0f} ms, previous {b * 1000:,.0f} ms "
                  f"= {a / b:.2f}x; {len(ca):,} changed, {len(oa):,} old versions "
                  f"({load()})", flush=True)
        con.close()


if __name__ == "__main__":
    main()

"""Pipeline cost at scale: full run, a run with nothing changed, a run after 1% of the
messages changed, the publish, the report pages, and where raw history should live.

In one run, on its own databases (``wework_bench_etl_*``) and warehouse folder:

1. seed ``--messages`` messages with ``wework db seed``'s generator (skipped when the
   databases already hold that many: ``--keep`` leaves them for the next run);
2. baseline: ``mariadb --quick`` reading every extracted table (the same columns) from the
   replica, one table after another;
3. **full** run into an empty warehouse (the refresh job, as ``wework etl run``);
4. **no-change** run right after it (the marts' clock holds: pipelines.marts.marts_as_of),
   then one whose clock moves all the same (what every hourly run with nothing new pays:
   every account's open day recomputed and published);
5. **1% changed**: 1% of the messages change the way traffic changes them — 80% recent
   (sent → delivered in the last two days), 20% receipts arriving days late for messages
   2–60 days old — then an incremental run; then another 1% and a run while a second
   process reads the marts in a loop (latency and errors of a reader during the commit);
   (a kept database first gets back enough recent messages awaiting their receipt:
   ``keep_recent_undelivered``); with ``--baseline-code DIR`` (another checkout, e.g.
   ``git archive main``), rounds of one 1% change run by both versions, order alternating;
6. publishing compared with the previous design (copy every mart into a new DuckDB file
   and swap a symlink) on the same marts;
7. raw history as Parquet (a DuckLake table partitioned by month) against the DuckDB file:
   size and the time to read one (tenant, day) slice;
8. the report pages (``bench/report_bench.py``'s queries) on the published marts beside
   the same figures on the replica.

Each run is a subprocess (honest peak RSS); its time is the refresh job's execution, the
Python and Dagster imports and the making of the Dagster instance (shown apart: a
process's start-up, not a run's work) excluded. Load average is printed beside every
figure: the machine is shared.

    .venv/bin/python bench/etl_scale_bench.py --messages 2000000
    .venv/bin/python bench/etl_scale_bench.py --messages 20000000 --keep
    .venv/bin/python bench/etl_scale_bench.py --messages 2000000 --keep --skip-reports \
        --baseline-code /tmp/main-code --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
DB_NAME = "wework_bench_etl"


def load() -> str:
    return "load {:.1f}/{:.1f}/{:.1f}".format(*os.getloadavg())


def rss_mb() -> float:
    """This process's peak RSS: VmHWM, the high-water mark of its own memory map.
    ``getrusage().ru_maxrss`` is no good in a worker: Linux carries the parent's peak into
    a forked child across exec, so after a 20M seed (2 GB in the parent) every worker
    reported 2,071 MB, a no-change run included."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def du_mb(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / 2**20
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


# --------------------------------------------------------------------------- workers


def _run_worker(full: bool, tick: bool = False) -> dict:
    """One refresh run in this process; prints its figures as JSON. ``tick``: the marts'
    clock moves although nothing changed (as every hourly run does: clock step 0)."""
    t0 = time.perf_counter()
    import logging

    import dagster as dg

    from pipelines.assets.raw import FULL_REFRESH_TAG
    from pipelines.definitions import defs

    logging.getLogger("dagster").setLevel(logging.WARNING)
    imported = time.perf_counter() - t0
    job = defs.resolve_job_def("refresh_warehouse")
    # The instance is made once per process (mostly imports, ~0.75 s): shown apart too.
    t1 = time.perf_counter()
    instance = dg.DagsterInstance.ephemeral()
    instance_seconds = time.perf_counter() - t1
    run_config: dict = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    if tick:
        run_config["resources"] = {"warehouse": {"config": {"clock_step_minutes": 0}}}
    t1 = time.perf_counter()
    result = job.execute_in_process(
        instance=instance,
        tags={FULL_REFRESH_TAG: "true"} if full else None,
        run_config=run_config,
        raise_on_error=True,
    )
    seconds = time.perf_counter() - t1
    steps = {}
    for e in result.all_events:
        if e.event_type_value == "STEP_SUCCESS":
            steps[e.step_key] = round(e.event_specific_data.duration_ms / 1000, 3)
    metas = {
        m.materialization.asset_key.to_user_string(): {
            k: v.value for k, v in m.materialization.metadata.items()
        }
        for m in result.get_asset_materialization_events()
    }
    msg = metas.get("raw/messages", {})
    return {
        "seconds": seconds,
        "import_seconds": imported,
        "instance_seconds": instance_seconds,
        "events": len(result.all_events),
        "rss_mb": rss_mb(),
        "steps": steps,
        "messages_read": msg.get("rows_read"),
        "raw_rows_read": {k.removeprefix("raw/"): v.get("rows_read") for k, v in metas.items()
                          if k.startswith("raw/")},
        "messages_changed": msg.get("rows_changed"),
        "messages_seconds": msg.get("seconds"),
        "marts": {k: (v.get("mode"), v.get("slices"), v.get("seconds"))
                  for k, v in metas.items()
                  if k.startswith("marts/")},
        "publish": metas.get("published_marts", {}),
        "success": result.success,
    }


def _reader_worker(stop_file: str) -> dict:
    """Read the marts in a loop until ``stop_file`` exists: latency and errors."""
    from wework.warehouse import open_marts

    lat, errors, totals = [], [], set()
    while not os.path.exists(stop_file):
        t = time.perf_counter()
        try:
            con = open_marts()
            try:
                (n,) = con.execute(
                    "SELECT sum(total_count) FROM marts.message_stats_daily").fetchone()
                totals.add(int(n))
            finally:
                con.close()
        except Exception as e:  # counted, not raised: the point is to see them
            errors.append(str(e)[:200])
        lat.append(time.perf_counter() - t)
        time.sleep(0.02)
    lat.sort()
    return {"reads": len(lat), "errors": errors[:5], "error_count": len(errors),
            "max_ms": lat[-1] * 1000 if lat else None,
            "p50_ms": lat[len(lat) // 2] * 1000 if lat else None,
            "distinct_totals": len(totals)}


def _worker(kind: str, arg: str) -> None:
    if kind in ("full", "incremental", "tick"):
        out = _run_worker(full=kind == "full", tick=kind == "tick")
    else:
        out = _reader_worker(arg)
    print(json.dumps(out, default=str))


def spawn(kind: str, arg: str = "", code: Path | None = None,
          env: dict | None = None) -> subprocess.Popen:
    """A worker process; ``code``: another checkout whose pipeline (and bench worker) runs
    instead of this one's, with ``env`` on top of ours (its own warehouse)."""
    root = code or REPO
    run_env = None
    if code is not None:
        path = os.pathsep.join([str(code), str(code / "platform")])
        run_env = {**os.environ, **(env or {}), "PYTHONPATH": path}
    return subprocess.Popen(
        [sys.executable, str(root / "bench" / "etl_scale_bench.py"), "--worker", kind,
         "--arg", arg],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=root, env=run_env,
    )


def collect(proc: subprocess.Popen, kind: str) -> dict:
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{err[-4000:]}")
    return json.loads(out.strip().splitlines()[-1])


def measure(kind: str, code: Path | None = None, env: dict | None = None) -> dict:
    return collect(spawn(kind, code=code, env=env), kind)


def compare_rounds(n: int, rounds: int, code: Path, workdir: Path) -> None:
    """This pipeline and the one of the checkout ``code`` (e.g. ``git archive main``), each
    with its own warehouse, on the same source and the same 1% changes: a full run each,
    then ``rounds`` rounds of one 1% change and an incremental run of each, the order
    alternating (the machine is shared: the ratio within a round is the figure)."""
    from wework.config import ENV_FILE, get_settings

    # The other checkout has no .env nor data dir of its own: this one's servers, its
    # own warehouse.
    env = {k.strip(): v.strip() for k, _, v in (
        line.partition("=") for line in ENV_FILE.read_text(encoding="utf-8").splitlines()
        if line.startswith("WEWORK_") and "=" in line)} if ENV_FILE.exists() else {}
    env |= {"WEWORK_DATA_DIR": str(get_settings().data_dir),
            "WEWORK_WAREHOUSE_PATH": str(workdir / "baseline" / "warehouse.duckdb"),
            "WEWORK_PUBLISH_DIR": str(workdir / "baseline" / "published")}
    base_full = measure("full", code, env)
    print(f"  baseline code {code}: full run {base_full['seconds']:.1f} s ({load()})",
          flush=True)
    for r in range(rounds):
        changed = change_one_percent(n)
        order = ("this", "baseline") if r % 2 == 0 else ("baseline", "this")
        got = {}
        for who in order:
            got[who] = measure("incremental", *((code, env) if who == "baseline" else ()))
        this, base = got["this"]["seconds"], got["baseline"]["seconds"]
        print(f"  round {r + 1} ({changed['recent']:,} recent + {changed['late']:,} late): "
              f"this {this:.2f} s, baseline {base:.2f} s = {this / base:.2f}x; this "
              f"marts {got['this']['steps'].get('marts')} s, raw "
              f"{got['this']['steps'].get('raw_tables')} s, publish "
              f"{got['this']['steps'].get('published_marts')} s; baseline marts "
              f"{got['baseline']['steps'].get('marts')} s ({load()})", flush=True)


# --------------------------------------------------------------------------- steps


def seed_data(n: int) -> float:
    from wework.config import get_settings
    from wework.db import migrate
    from wework.db.engines import Role, get_engine
    from wework.db.replication import wait_for_replica
    from wework.seed import SeedConfig, seed

    s = get_settings()
    migrate.upgrade(settings=s)
    with get_engine(Role.REPLICA, 0, s).connect() as conn:
        have = conn.exec_driver_sql("SELECT COUNT(*) FROM messages").scalar()
    if have >= n:
        print(f"  reusing {have:,} seeded messages in {s.shard_database(0)}")
        return 0.0
    print(f"  seeding {n:,} messages into {s.shard_database(0)} ...", flush=True)
    t = time.perf_counter()
    seed(SeedConfig(messages=n, tenants=20, accounts=400, days=90), s, replace=True,
         progress=lambda m: print(f"    {m}", flush=True))
    wait_for_replica(timeout=1800, settings=s)
    took = time.perf_counter() - t
    print(f"  seeded in {took:.0f} s = {n / took:,.0f} messages/s ({load()})")
    return took


def mariadb_baseline() -> dict:
    """``mariadb --quick`` reading every extracted table's extracted columns from the
    replica, one table after another: seconds per table (rates are taken with the rows
    the full run read, the same rows: the bench's databases are quiet)."""
    from pipelines.extract import table_specs
    from wework.config import get_settings
    from wework.db.engines import Role, database_url

    s = get_settings()
    url = database_url(Role.REPLICA, s.shard_database(0), s)
    seconds = {}
    for spec in table_specs().values():
        cols = ", ".join(f"`{c}`" for c in spec.columns)
        cmd = ["mariadb", "--quick", "--batch", "--skip-column-names", "-h", url.host,
               "-P", str(url.port), "-u", url.username, url.database,
               "-e", f"select {cols} from `{spec.name}`"]
        # The faster of two reads: the first may find the table cold in the buffer pool
        # (13.9 s against 7.3-8.7 s at 2M, measured), which flattered the pipeline's
        # read that follows it.
        for _ in range(2):
            t = time.perf_counter()
            subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True,
                           env={**os.environ, "MYSQL_PWD": url.password or ""})
            took = time.perf_counter() - t
            seconds[spec.name] = min(seconds.get(spec.name, took), took)
    return seconds


def keep_recent_undelivered(n_messages: int, rounds: int) -> int:
    """Before the full run: at least ``rounds`` x 0.8% of the messages of the last two days
    still awaiting their receipt (status 'sent', no callback_time), so each 1% round
    finds its 80% recent part. A fresh seed has them; every round on a kept database
    delivers 16,000 at 2M, so after a few runs none were left and the round silently
    measured only the late part. Messages delivered in the last two days are put back to
    'sent' (the state they were in before their receipt), counted before the full run:
    the mix of the rounds stays the one change_one_percent describes."""
    from sqlalchemy import text

    from wework.config import get_settings
    from wework.db.engines import Role, get_engine
    from wework.db.replication import wait_for_replica

    s = get_settings()
    want = rounds * int(n_messages // 100 * 0.8)
    since = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=2)
    with get_engine(Role.PRIMARY, 0, s).begin() as conn:
        have = conn.execute(text(
            "SELECT COUNT(*) FROM messages WHERE created_at >= :since AND status <> 'delivered'"
        ), {"since": since}).scalar()
        if have >= want:
            return 0
        undone = conn.execute(text(
            # updated_at kept: the full run reads them whole anyway, and a fresh stamp
            # would put them in the 1% run's overlap window (44k more rows read).
            "UPDATE messages SET status = 'sent', callback_time = NULL, "
            "updated_at = updated_at "
            "WHERE created_at >= :since AND status = 'delivered' ORDER BY created_at DESC "
            "LIMIT :n"), {"since": since, "n": want - have}).rowcount
    wait_for_replica(timeout=1800, settings=s)
    return undone


def wait_for_quiet_overlap() -> None:
    """Wait until no message changed within the overlap window before the full run reads.

    Each run re-reads the rows changed in the ``overlap`` (10 min) before the previous
    read, in case a transaction stamped them before it and committed after it. Rounds of
    an earlier bench on a kept database less than ten minutes before would make the
    no-change and 1%-changed runs re-read them (measured at 20M: 7.6 s for a no-change
    run, 360k messages read in a 1%-changed run instead of 200k)."""
    from sqlalchemy import text

    from pipelines.extract import DEFAULT_OVERLAP
    from wework.config import get_settings
    from wework.db.engines import Role, get_engine

    with get_engine(Role.PRIMARY, 0, get_settings()).connect() as conn:
        age = conn.execute(text(
            "SELECT TIMESTAMPDIFF(SECOND, MAX(updated_at), UTC_TIMESTAMP()) FROM messages"
        )).scalar()
    # Plus 5 s: MAX(updated_at) is whole seconds, and the read starts a moment later.
    wait = DEFAULT_OVERLAP.total_seconds() + 5 - (age if age is not None else 1e9)
    if wait > 0:
        print(f"  waiting {wait:.0f} s: messages changed {age} s ago, within the overlap "
              "window the next runs would re-read", flush=True)
        time.sleep(wait)


def change_one_percent(n_messages: int) -> dict:
    """1% of the messages change: 80% recent, 20% late receipts for old messages."""
    from sqlalchemy import text

    from wework.config import get_settings
    from wework.db.engines import Role, get_engine
    from wework.db.replication import wait_for_replica

    s = get_settings()
    total = n_messages // 100
    recent, late = int(total * 0.8), total - int(total * 0.8)
    now = datetime.now(UTC).replace(tzinfo=None)
    t = time.perf_counter()
    with get_engine(Role.PRIMARY, 0, s).begin() as conn:
        a = conn.execute(text(
            "UPDATE messages SET status = 'delivered', send_time = coalesce(send_time, "
            "created_at), callback_time = coalesce(send_time, created_at) + INTERVAL 3 SECOND "
            "WHERE created_at >= :since AND status <> 'delivered' ORDER BY created_at "
            "LIMIT :n"),
            {"since": now - timedelta(days=2), "n": recent}).rowcount
        b = conn.execute(text(
            "UPDATE messages SET status = 'delivered', callback_time = coalesce(send_time, "
            "created_at) + INTERVAL 2 DAY, retry_count = retry_count + 1 "
            "WHERE created_at >= :lo AND created_at < :hi AND MOD(CRC32(id), 50) = 0 "
            "LIMIT :n"),
            {"lo": now - timedelta(days=60), "hi": now - timedelta(days=2), "n": late}).rowcount
    wait_for_replica(timeout=1800, settings=s)
    return {"recent": a, "late": b, "seconds": time.perf_counter() - t}


def file_swap_publish(workdir: Path) -> dict:
    """The previous design: copy every mart into a new DuckDB file (then a symlink swap)."""
    import duckdb

    from pipelines.registry import MART_NAMES
    from wework.config import get_settings

    s = get_settings()
    out = workdir / "swap" / "marts-new.duckdb"
    out.parent.mkdir(exist_ok=True)
    # The new file is the connection's own database (an ATTACH on a read-only connection
    # would be read-only too); the warehouse is attached read-only beside it.
    con = duckdb.connect(str(out))
    try:
        t = time.perf_counter()
        con.execute(f"ATTACH '{s.warehouse_file}' AS wh (READ_ONLY)")
        con.execute("CREATE SCHEMA marts")
        rows = 0
        for name in MART_NAMES:
            con.execute(f"CREATE TABLE marts.{name} AS SELECT * FROM wh.marts.{name}")
            rows += con.execute(f"SELECT count(*) FROM marts.{name}").fetchone()[0]
        con.execute("CHECKPOINT")
        con.execute("DETACH wh")
        seconds = time.perf_counter() - t
    finally:
        con.close()
    return {"seconds": seconds, "rows": rows, "size_mb": du_mb(out)}


def raw_as_parquet(workdir: Path) -> dict:
    """raw.messages as a DuckLake table partitioned by month vs in the DuckDB file."""
    import duckdb

    from wework.config import get_settings
    from wework.warehouse import load_lake_extensions

    s = get_settings()
    lake = workdir / "rawlake"
    lake.mkdir(exist_ok=True)
    # An in-memory database with the warehouse attached read-only: the lake must be
    # writable, and an ATTACH on a read-only connection is read-only too.
    con = duckdb.connect()
    try:
        load_lake_extensions(con)
        con.execute(f"ATTACH '{s.warehouse_file}' AS wh (READ_ONLY)")
        con.execute("USE wh")
        con.execute(f"ATTACH 'ducklake:sqlite:{lake}/catalog.sqlite' AS rl "
                    f"(DATA_PATH '{lake}/data/')")
        t = time.perf_counter()
        con.execute("CREATE TABLE rl.messages AS SELECT * FROM raw.messages LIMIT 0")
        con.execute("ALTER TABLE rl.messages SET PARTITIONED BY (year(created_at), "
                    "month(created_at))")
        con.execute("INSERT INTO rl.messages SELECT * FROM raw.messages ORDER BY created_at")
        write_s = time.perf_counter() - t
        tenant, day = con.execute(
            "SELECT tenant_id, CAST(created_at AS DATE) FROM raw.messages "
            "GROUP BY ALL ORDER BY count(*) DESC LIMIT 1").fetchone()
        q = ("SELECT count(*), count(*) FILTER (WHERE status = 'delivered') FROM {t} "
             f"WHERE tenant_id = '{tenant}' AND created_at >= DATE '{day}' "
             f"AND created_at < DATE '{day}' + INTERVAL 1 DAY")

        def best(sql: str) -> float:
            times = []
            for _ in range(3):
                t0 = time.perf_counter()
                con.execute(sql).fetchall()
                times.append(time.perf_counter() - t0)
            return min(times)

        duck_s = best(q.format(t="raw.messages"))
        lake_s = best(q.format(t="rl.messages"))
        (rows,) = con.execute("SELECT count(*) FROM raw.messages").fetchone()
    finally:
        con.close()
    return {"rows": rows, "write_seconds": write_s, "parquet_mb": du_mb(lake),
            "slice_read_duckdb_ms": duck_s * 1000, "slice_read_parquet_ms": lake_s * 1000}


def report_pages() -> list[tuple]:
    from report_bench import biggest_tenant, report_rows

    today = datetime.now(UTC).date()
    return report_rows(biggest_tenant(), today - timedelta(days=29), today, today, 3)


# --------------------------------------------------------------------------- driver


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--messages", type=int, default=2_000_000)
    p.add_argument("--keep", action="store_true",
                   help="keep the bench databases (a later run reuses the seed)")
    p.add_argument("--skip-reports", action="store_true")
    p.add_argument("--database-set", default=DB_NAME,
                   help="the bench's databases (a second size needs a set of its own)")
    p.add_argument("--baseline-code", type=Path,
                   help="a checkout of another version (e.g. git archive main | tar -x -C "
                   "DIR): after the usual figures, 1%% rounds of both on the same changes")
    p.add_argument("--rounds", type=int, default=3, help="rounds with --baseline-code")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--arg", default="", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        _worker(args.worker, args.arg)
        return
    workdir = Path(tempfile.mkdtemp(prefix="etl-scale-bench-"))
    os.environ["WEWORK_DB_NAME"] = args.database_set
    os.environ["WEWORK_WAREHOUSE_PATH"] = str(workdir / "warehouse" / "warehouse.duckdb")
    os.environ["WEWORK_PUBLISH_DIR"] = str(workdir / "published")
    from wework.config import reload_settings

    s = reload_settings()
    print(f"ETL scale bench: {args.messages:,} messages, work folder {workdir} ({load()})")
    try:
        seed_data(args.messages)
        n = args.messages
        undone = keep_recent_undelivered(n, 2 + (args.rounds if args.baseline_code else 0))
        if undone:
            print(f"  {undone:,} messages of the last two days put back to 'sent' (earlier "
                  "runs on this kept database delivered them)", flush=True)
        base = mariadb_baseline()
        base_load = load()
        wait_for_quiet_overlap()
        full = measure("full")
        full_load = load()
        # Every table: the rows the full run read, in the raw step's time (its checks
        # included), against the client reading the same rows one table after another.
        rows = sum(full["raw_rows_read"].values())
        base_rate = rows / sum(base.values())
        rate = rows / full["steps"]["raw_tables"]
        print(f"  mariadb --quick, same tables and columns: {sum(base.values()):.1f} s for "
              f"{rows:,} rows = {base_rate:,.0f} rows/s, messages "
              f"{full['raw_rows_read']['messages'] / base['messages']:,.0f} rows/s "
              f"({base_load})", flush=True)
        print(f"  full run: {full['seconds']:.1f} s (imports {full['import_seconds']:.1f} s "
              f"apart), every table extracted at {rate:,.0f} rows/s = {rate / base_rate:.2f}x "
              f"mariadb (messages alone, while other tables are read beside it: "
              f"{full['messages_read'] / full['messages_seconds']:,.0f} rows/s); peak RSS "
              f"{full['rss_mb']:.0f} MB; steps {full['steps']} ({full_load})", flush=True)
        wh_mb, pub_mb = du_mb(s.warehouse_file.parent), du_mb(s.publish_path)
        print(f"  on disk: warehouse {wh_mb:,.0f} MB, published marts {pub_mb:,.0f} MB",
              flush=True)
        nochange = measure("incremental")
        print(f"  no-change run: {nochange['seconds']:.2f} s ({nochange['events']} Dagster "
              f"events; imports {nochange['import_seconds']:.1f} s and instance "
              f"{nochange['instance_seconds']:.1f} s apart); steps {nochange['steps']}; "
              f"peak RSS {nochange['rss_mb']:.0f} MB ({load()})", flush=True)
        tick = measure("tick")
        print(f"  no-change run whose clock moves (every hourly run): {tick['seconds']:.2f} s;"
              f" marts {tick['marts']}; steps {tick['steps']} ({load()})", flush=True)
        changed = change_one_percent(n)
        print(f"  changed {changed['recent']:,} recent + {changed['late']:,} late messages "
              f"({load()})", flush=True)
        one = measure("incremental")
        print(f"  1% changed run: {one['seconds']:.2f} s = {one['seconds'] / full['seconds']:.1%}"
              f" of the full run; messages read {one['messages_read']:,}, changed "
              f"{one['messages_changed']:,}; marts (mode, slices, s) {one['marts']}; steps "
              f"{one['steps']}; peak RSS {one['rss_mb']:.0f} MB ({load()})", flush=True)
        # Again, with a reader querying the marts every 20 ms during the run: a commit
        # into the lake waits for a moment without a reader (pipelines.publish).
        again = change_one_percent(n)
        stop = workdir / "stop-reader"
        reader = spawn("reader", str(stop))
        time.sleep(2.0)
        busy = measure("incremental")
        stop.touch()
        read = collect(reader, "reader")
        print(f"  1% changed again ({again['recent']:,} + {again['late']:,}) with a reader "
              f"looping on the marts: {busy['seconds']:.2f} s (publish step "
              f"{busy['steps'].get('published_marts')} s); the reader: {read['reads']} reads, "
              f"{read['error_count']} errors {read['errors']}, p50 {read['p50_ms']:.1f} ms, "
              f"max {read['max_ms']:.1f} ms, {read['distinct_totals']} distinct totals seen "
              f"({load()})", flush=True)
        if args.baseline_code:
            compare_rounds(n, args.rounds, args.baseline_code.resolve(), workdir)
        swap = file_swap_publish(workdir)
        lake_pub = one["publish"].get("seconds")
        print(f"  publish: DuckLake (changed rows only) {lake_pub} s, "
              f"{one['publish'].get('rows_written')} rows; whole-file copy (previous design) "
              f"{swap['seconds']:.2f} s, {swap['rows']:,} rows, {swap['size_mb']:.0f} MB "
              f"({load()})", flush=True)
        rawp = raw_as_parquet(workdir)
        print(f"  raw.messages as Parquet (DuckLake, by month): {rawp['parquet_mb']:.0f} MB "
              f"written in {rawp['write_seconds']:.1f} s; one (tenant, day) slice: DuckDB "
              f"{rawp['slice_read_duckdb_ms']:.1f} ms, Parquet "
              f"{rawp['slice_read_parquet_ms']:.1f} ms ({load()})", flush=True)
        print(f"  on disk after the runs: warehouse {du_mb(s.warehouse_file.parent):,.0f} MB,"
              f" published marts {du_mb(s.publish_path):,.0f} MB", flush=True)
        if not args.skip_reports:
            print("  report pages (marts median of 3 vs replica, one run):")
            rows = report_pages()
            worst = max(r[3] for r in rows)
            print(f"  slowest report page on the marts: {worst * 1000:.0f} ms")
        print("\nSummary")
        print(f"| figure | {n:,} messages | goal |")
        print("|---|---|---|")
        print(f"| full run | {full['seconds']:.1f} s ({full_load}) | - |")
        print(f"| extract rate, every table / mariadb --quick | {rate / base_rate:.2f}x | "
              ">= 0.9x |")
        print(f"| no-change run | {nochange['seconds']:.2f} s | <= 2 s |")
        print(f"| no-change run, marts clock moved | {tick['seconds']:.2f} s | <= 2 s |")
        print(f"| 1% changed run / full run | {one['seconds'] / full['seconds']:.1%} | <= 10% |")
        print(f"| peak RSS full / no-change / 1% | {full['rss_mb']:.0f} / "
              f"{nochange['rss_mb']:.0f} / {one['rss_mb']:.0f} MB | - |")
        print(f"| warehouse / published on disk | {wh_mb:,.0f} / {pub_mb:,.0f} MB | - |")
    finally:
        if not args.keep:
            from wework.db import migrate
            from wework.db.engines import dispose_engines

            dispose_engines()
            migrate.drop_databases()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Pipeline benchmark over the network: each figure beside a baseline in the same run.

    .venv/bin/python bench/pipeline_bench.py [--halves intake,e2e] [--requests 3000]
        [--concurrency 16] [--events-per-request 1,20] [--workers 2]
        [--messages 2000] [--worker-counts 1,2] [--accounts 200] [--database-set NAME]

HTTP callback intake: ``wework api`` (``--workers`` processes) on a free port,
against a throw-away database ``wework_bench_<hex>_0`` (migrated first, dropped at the
end), with a gateway secret and online accounts of its own. A client process sends signed
``POST /v1/callbacks`` requests (heartbeat events; each request its own webhook-id,
signed before the clock starts) from ``--concurrency`` concurrent connections and
reports requests/s, events/s and the p50/p99 latency of a request. Each request is
verified, stored (events + webhook-id, one transaction) and processed (parsed, applied,
result saved) before its answer.

Baseline, same run, same client, same requests: a bare endpoint on the same framework and
server (FastAPI on uvicorn, same number of processes) that only answers 200 — what HTTP
alone costs on this machine. Client, servers and MariaDB share the machine's cores, so
the figures are for this box as a whole, not for the API alone.

End to end: messages from ``pending`` to ``delivered`` across the network, every part
its own process — ``wework worker`` (1, then 2 processes) claims them and sends each over
HTTP to ``wework gateway-sim serve`` (no simulated latency or failures), whose signed
receipts go back as HTTP callbacks (up to 200 events per request) to ``wework api``, which
stores and applies them. Per run: ``--messages`` pending text messages over ``--accounts``
online accounts are inserted in one transaction once the workers are up; the clock runs
from that commit until the last one is ``delivered``. Reported: messages/s to ``sent``
(handed to the gateway: the worker's half) and to ``delivered`` (the receipts applied:
the callback half), the load average, and the CPU seconds each process used during the
run (MariaDB primary and replica, the API's processes, the workers, the simulator, and this
process, the load generator, which inserts the messages and polls the counts).

While each measured run flows, a sampler measures the replica's lag every 0.25 s two
ways: the platform's heartbeat (``wework_meta.heartbeat``, written once a second, so its
figure includes up to 1 s of tick age: an upper bound), and a probe — a row committed on
the primary, then read on the replica every 2 ms until it shows: the time a write made
now takes to be readable there, which is what a reader of the replica waits for. In a
loop, the service reads behind the admin Messages and Accounts pages (first page, from the
replica) for the tenant with the most messages — run it in a seeded database set
(``--database-set``, e.g. the one ``bench/etl_scale_bench.py --keep`` leaves with 2M
messages) to read at that size. After the run, each cache's hit rate over the API's and
workers' processes comes from the metrics store (when ``WEWORK_INFLUX_URL`` is set).

Baseline, same run, same database: one worker with the in-process gateway simulator
(``WEWORK_GATEWAY_URL`` unset; the worker ingests its receipts itself) — the same
dispatch and receipt work without any HTTP.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
from bench_cpu import CpuMeter, mariadb_pids
from fastapi import FastAPI

BENCH_DIR = Path(__file__).resolve().parent
WEWORK = Path(sys.executable).with_name("wework")

# The baseline server: `uvicorn pipeline_bench:bare_app --app-dir bench`.
bare_app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)


@bare_app.post("/v1/callbacks")
async def bare_callbacks() -> dict:
    return {"ok": True}


@bare_app.get("/healthz")
async def bare_healthz() -> dict:
    return {"status": "ok"}


@dataclass
class Result:
    requests: int
    events: int
    seconds: float
    latencies: list[float]
    statuses: dict[int, int]

    def line(self, label: str) -> str:
        q = statistics.quantiles(self.latencies, n=100, method="inclusive")
        return (f"   {label:<34} {self.requests / self.seconds:>8,.0f} requests/s "
                f"{self.events / self.seconds:>9,.0f} events/s   p50 {q[49] * 1000:6.1f} ms  "
                f"p99 {q[98] * 1000:6.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--events-per-request", default="1,20",
                        help="comma-separated: one run per value")
    parser.add_argument("--workers", type=int, default=2, help="API processes")
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--halves", default="intake,e2e",
                        help="comma-separated: intake (HTTP callbacks), e2e (end to end)")
    parser.add_argument("--messages", type=int, default=2000,
                        help="end to end: messages per run")
    parser.add_argument("--worker-counts", default="1,2",
                        help="end to end: one run per number of worker processes")
    parser.add_argument("--database-set", default=None,
                        help="run in this existing database set (e.g. one a seed or another "
                        "bench kept: the admin list reads then page through its data) "
                        "instead of a throw-away one; it is kept")
    args = parser.parse_args()
    halves = set(args.halves.split(","))
    if not halves <= {"intake", "e2e"}:
        parser.error(f"--halves: unknown {sorted(halves - {'intake', 'e2e'})}")

    from bench_db import bench_database_set

    if args.database_set:
        from wework.config import reload_settings
        from wework.db import migrate

        os.environ["WEWORK_DB_NAME"] = args.database_set
        settings = reload_settings()
        migrate.upgrade(settings=settings)
    else:
        settings = bench_database_set()
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load average {load[0]:.1f} (1 min) at start",
          flush=True)
    try:
        if "intake" in halves:
            run_intake(args)
        if "e2e" in halves:
            run_end_to_end(args)
    finally:
        from wework.db import migrate
        from wework.db.engines import dispose_engines

        dispose_engines()
        if not args.database_set:
            migrate.drop_databases(settings)
    print(f"load average {os.getloadavg()[0]:.1f} (1 min) at the end")


def log_dir() -> Path:
    """This run's own folder for the servers' logs (two runs never share a file)."""
    import tempfile

    return Path(tempfile.mkdtemp(prefix="pipeline_bench_"))


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd: list[str], port: int, log: Path,
          env: dict[str, str] | None = None) -> subprocess.Popen:
    out = log.open("wb")
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, **(env or {})})
    deadline = time.monotonic() + 180  # a saturated machine starts Python slowly
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{cmd} exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    stop(proc)
    raise TimeoutError(f"{cmd} not ready: {log.read_text()[-2000:]}")


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group; SIGKILL it if it is not gone in 30 s."""
    import signal

    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def setup_accounts(n: int) -> list[str]:
    """A tenant with ``n`` online accounts; their guids."""
    return [guid for _, _, guid in setup_tenant(n)]


def setup_tenant(n: int) -> list[tuple[str, str, str]]:
    """A tenant with ``n`` online accounts: (tenant id, account id, guid) of each."""
    from wework.enums import AccountStatus
    from wework.models import Tenant, WeworkAccount, new_id
    from wework.services.uow import transaction

    tenant_id = new_id()
    guids = [f"bench-{uuid.uuid4().hex}" for _ in range(n)]
    accounts = [WeworkAccount(tenant_id=tenant_id, account_name=f"bench-{i}", guid=guid,
                              status=AccountStatus.ONLINE) for i, guid in enumerate(guids)]
    with transaction(tenant_id) as s:
        s.add(Tenant(id=tenant_id, tenant_code=f"bench-{uuid.uuid4().hex[:12]}",
                     tenant_name="bench", max_daily_messages=100_000_000))
        s.flush()
        s.add_all(accounts)
        s.flush()
        return [(tenant_id, a.id, a.guid) for a in accounts]


def signed_requests(secret: str, guids: list[str], n: int, per: int) -> list[tuple[bytes, dict]]:
    from wework.gateway.base import NotifyType, make_event
    from wework.security import webhooks

    out = []
    for i in range(n):
        events = [make_event(guids[(i * per + j) % len(guids)], NotifyType.ACCOUNT_HEARTBEAT, {})
                  for j in range(per)]
        body = events[0] if per == 1 else "[" + ",".join(events) + "]"
        headers = {"content-type": "application/json", **webhooks.sign(secret, body)}
        out.append((body.encode("utf-8"), headers))
    return out


async def load(url: str, requests: list[tuple[bytes, dict]], concurrency: int,
               per: int) -> Result:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    queue = iter(requests)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:

        async def worker() -> None:
            for body, headers in queue:
                t = time.perf_counter()
                response = await client.post("/v1/callbacks", content=body, headers=headers)
                latencies.append(time.perf_counter() - t)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return Result(len(requests), len(requests) * per, seconds, latencies, statuses)


def run_intake(args) -> None:
    from sqlalchemy import func, select

    from wework.enums import CallbackStatus
    from wework.models import CallbackEvent
    from wework.services import gateway_secrets
    from wework.services.uow import shard_transaction

    guids = setup_accounts(args.accounts)
    secret = gateway_secrets.create(None, "bench-gateway").secret
    logs = log_dir()
    api_port, bare_port = free_port(), free_port()
    api = start([str(WEWORK), "api", "--port", str(api_port), "--workers", str(args.workers),
                 "--no-access-log"], api_port, logs / "pipeline_bench_api.log")
    bare = start([sys.executable, "-m", "uvicorn", "pipeline_bench:bare_app", "--app-dir",
                  str(BENCH_DIR), "--port", str(bare_port), "--workers", str(args.workers),
                  "--no-access-log", "--log-level", "warning"], bare_port,
                 logs / "pipeline_bench_bare.log")
    try:
        print(f"== HTTP callback intake: {args.requests:,} signed requests per run, "
              f"{args.concurrency} concurrent connections, {args.workers} server processes")
        for per in (int(p) for p in args.events_per_request.split(",")):
            warm = signed_requests(secret, guids, 50, per)
            asyncio.run(load(f"http://127.0.0.1:{api_port}", warm, args.concurrency, per))
            reqs = signed_requests(secret, guids, args.requests, per)
            print(f"-- {per} event(s) per request (load average {os.getloadavg()[0]:.1f})")
            meter = CpuMeter({**mariadb_pids(), "API": [api.pid],
                              "load generator (this process)": [os.getpid()]})
            intake = asyncio.run(load(f"http://127.0.0.1:{api_port}", reqs, args.concurrency,
                                      per))
            cpu = meter.used()
            baseline = asyncio.run(load(f"http://127.0.0.1:{bare_port}", reqs,
                                        args.concurrency, per))
            print(intake.line("POST /v1/callbacks (verify+store+apply)"))
            print("      CPU ms per request: " + ", ".join(
                f"{name} {1000 * seconds / intake.requests:.2f}" for name, seconds in cpu.items()))
            print(baseline.line("baseline: bare endpoint (200 only)"))
            share = (intake.requests / intake.seconds) / (baseline.requests / baseline.seconds)
            print(f"   intake at {share:.0%} of the bare endpoint's requests/s; "
                  f"statuses {intake.statuses}")
        with shard_transaction(0) as s:
            counts = dict(s.execute(select(CallbackEvent.status, func.count())
                                    .group_by(CallbackEvent.status)).all())
        expected = sum((50 + args.requests) * int(p) for p in args.events_per_request.split(","))
        stored = sum(counts.values())
        print(f"   check: {stored:,} events stored of {expected:,} sent; "
              f"{counts.get(CallbackStatus.PROCESSED, 0):,} processed, "
              f"{counts.get(CallbackStatus.FAILED, 0):,} failed")
    finally:
        stop(api)
        stop(bare)


# ---------------------------------------------------------------- end to end


def enqueue(accounts: list[tuple[str, str, str]], n: int) -> list[str]:
    """``n`` pending text messages spread over the accounts, in one transaction."""
    from wework.services import messages
    from wework.services.context import system_context

    tenant_id = accounts[0][0]
    rows = [{"account_id": accounts[i % len(accounts)][1], "conversation_id": f"conv-{i}",
             "message_type": "text", "content": {"text": f"bench {i}"}} for i in range(n)]
    return messages.enqueue_many(system_context(tenant_id), rows)


def status_counts(tenant_id: str, since) -> dict[str, int]:
    """The statuses of the tenant's messages created since ``since``: this run's, read
    through (tenant_id, created_at) — the poll must not read the tenant's whole history
    on the primary it is measuring (it read 316k rows a poll in the 2M set)."""
    from sqlalchemy import func, select

    from wework.models import Message
    from wework.services.uow import transaction

    with transaction(tenant_id) as s:
        return {str(status): n for status, n in s.execute(
            select(Message.status, func.count())
            .where(Message.tenant_id == tenant_id, Message.created_at >= since)
            .group_by(Message.status)).all()}


def poll_interval(n: int, delivered: int, elapsed: float) -> float:
    """Seconds until the next status poll: an eighth of the time the run still needs at
    its rate so far, within 0.25–3 s. Each poll counts the run's rows on the primary being
    measured (70 ms at 30,000 rows); every 0.5 s, the polls of a 30,000-message run took
    10 s of the primary's statement time, which production does not spend. The end is
    still found within a few hundred ms: the interval shrinks as it nears."""
    if delivered <= 0:
        return 0.5
    left = (n - delivered) / (delivered / elapsed)
    return min(3.0, max(0.25, left / 8))


def wait_for_log(path: Path, text: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while text not in path.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{path.name}: no {text!r}:\n{path.read_text()[-2000:]}")
        time.sleep(0.1)


class Sampler:
    """What the platform's readers see while a flow runs (issue 14): the replica's lag,
    sampled every 0.25 s, and the service reads behind the admin list pages (the
    Messages and Accounts pages' first page, from the replica as the app reads them) for
    ``list_tenant``, in a loop on one thread."""

    def __init__(self, list_tenant: str):
        import threading

        self.list_tenant = list_tenant
        self.lag: list[float] = []  # heartbeat: includes up to 1 s of tick age
        self.lag_unknown = 0
        self.probe: list[float] = []  # commit on the primary → readable on the replica
        self.probe_lost = 0
        self.reads: dict[str, list[float]] = {"list_messages": [], "list_accounts": []}
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._lag_loop, daemon=True),
                         threading.Thread(target=self._read_loop, daemon=True)]
        for t in self._threads:
            t.start()

    def _lag_loop(self) -> None:
        from wework.config import get_settings
        from wework.db.engines import DbUser, Role, get_engine
        from wework.db.routing import replica_lag_seconds

        settings = get_settings()
        with get_engine(Role.PRIMARY, 0, settings, user=DbUser.MIGRATOR).begin() as conn:
            conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS bench_lag_probe "
                                 "(id INT PRIMARY KEY, token BIGINT NOT NULL)")
        primary = get_engine(Role.PRIMARY, 0, settings)
        replica = get_engine(Role.REPLICA, 0, settings, io_timeout=5)
        token = time.time_ns()
        while not self._stop.wait(0.25):
            lag, _ = replica_lag_seconds(0, settings, io_timeout=5)
            if lag is None:
                self.lag_unknown += 1
            else:
                self.lag.append(lag)
            token += 1
            seconds = self._probe(primary, replica, token)
            if seconds is None:
                self.probe_lost += 1
            else:
                self.probe.append(seconds)

    @staticmethod
    def _probe(primary, replica, token: int, timeout: float = 10.0) -> float | None:
        """Seconds from the commit of ``token`` on the primary until the replica shows
        it (read every 2 ms), or None after ``timeout``."""
        with primary.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO bench_lag_probe (id, token) VALUES (1, %s) "
                "ON DUPLICATE KEY UPDATE token = VALUES(token)", (token,))
        committed = time.perf_counter()
        with replica.connect() as conn:
            while time.perf_counter() - committed < timeout:
                seen = conn.exec_driver_sql(
                    "SELECT token FROM bench_lag_probe WHERE id = 1").scalar()
                conn.rollback()  # a fresh snapshot for the next read
                if seen is not None and seen >= token:
                    return time.perf_counter() - committed
                time.sleep(0.002)
        return None

    def _read_loop(self) -> None:
        from wework.services import accounts, messages
        from wework.services.context import system_context

        ctx = system_context(self.list_tenant)
        calls = {"list_messages": lambda: messages.list_messages(ctx, limit=50),
                 "list_accounts": lambda: accounts.list_accounts(ctx, limit=50)}
        while not self._stop.is_set():
            for name, call in calls.items():
                t = time.perf_counter()
                call()
                self.reads[name].append((time.perf_counter() - t) * 1000)
            self._stop.wait(0.05)  # an admin paging, not a load generator

    def stop(self) -> dict[str, str]:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=10)

        def pct(values: list[float], q: int) -> float:
            if len(values) < 2:
                return float("nan")
            return statistics.quantiles(values, n=100, method="inclusive")[q - 1]

        out = {
            "replica lag s, probe (commit → readable)":
                f"p50 {pct(self.probe, 50):.3f}, p99 {pct(self.probe, 99):.3f}, "
                f"max {max(self.probe, default=float('nan')):.3f} ({len(self.probe)} "
                f"probes, {self.probe_lost} not seen in 10 s)",
            "replica lag s, heartbeat (+ up to 1 s tick age)":
                f"p50 {pct(self.lag, 50):.2f}, p99 {pct(self.lag, 99):.2f}, "
                f"max {max(self.lag, default=float('nan')):.2f} ({len(self.lag)} samples, "
                f"{self.lag_unknown} unknown)"}
        for name, values in self.reads.items():
            out[f"{name} ms"] = (f"p50 {pct(values, 50):.1f}, p95 {pct(values, 95):.1f} "
                                 f"({len(values)} reads)")
        return out


def busiest_tenant() -> str | None:
    """The tenant with the most messages (the admin list reads page through its data)."""
    from wework.db.engines import Role, get_engine

    with get_engine(Role.REPLICA, 0).connect() as conn:
        return conn.exec_driver_sql(
            "SELECT tenant_id FROM messages GROUP BY tenant_id ORDER BY COUNT(*) DESC LIMIT 1"
        ).scalar()


def cache_hit_rates(since: float) -> dict[str, str]:
    """Per cache, the hit rate over the reads made since ``since`` (epoch seconds), summed
    over the processes that reported their counters to the metrics store: the API's and
    workers' caches. A process's counters run from its start, so each one's reading
    before ``since`` (the warm-up run's, for the API) is subtracted; a worker started for
    this run counts its first, cold reads. Empty when metrics are off."""
    from wework.config import get_settings
    from wework.metrics.query import MetricsQueryError, recent

    if not get_settings().influx_url:
        return {}
    try:
        frame = recent(["cache_hits_l1", "cache_hits_l2", "cache_misses"], minutes=30)
    except MetricsQueryError as e:
        return {"(metrics)": str(e)}
    if frame.is_empty():
        return {}
    import polars as pl

    after = pl.col("time").dt.epoch("s") >= int(since)
    last = (frame.sort("time").group_by("series", "cache", "process")
            .agg(pl.col("value").filter(after).last().alias("end"),
                 pl.col("value").filter(~after).last().fill_null(0).alias("start"))
            .drop_nulls("end")
            .group_by("series", "cache").agg((pl.col("end") - pl.col("start")).sum()
                                             .alias("value")))
    totals: dict[str, dict[str, float]] = {}
    for row in last.iter_rows(named=True):
        totals.setdefault(row["cache"], {})[row["series"]] = row["value"]
    out = {}
    for cache, t in sorted(totals.items()):
        hits = t.get("cache_hits_l1", 0) + t.get("cache_hits_l2", 0)
        reads = hits + t.get("cache_misses", 0)
        if reads:
            out[cache] = f"{hits / reads:.1%} of {reads:,.0f}"
    return out


@dataclass
class FlowResult:
    messages: int
    to_sent: float  # seconds until none was pending or sending
    to_delivered: float  # seconds until every one was delivered
    cpu: dict[str, float]
    load: float
    seen: dict[str, str] | None = None  # Sampler.stop() and cache_hit_rates()

    def line(self, label: str) -> str:
        return (f"   {label:<44} {self.messages / self.to_sent:>7,.0f} messages/s to sent  "
                f"{self.messages / self.to_delivered:>7,.0f} messages/s to delivered  "
                f"({self.to_delivered:.1f} s; load average {self.load:.1f})")

    def cpu_line(self) -> str:
        parts = ", ".join(f"{name} {seconds:.1f}" for name, seconds in self.cpu.items())
        seen = "".join(f"\n      {k}: {v}" for k, v in (self.seen or {}).items())
        return f"      CPU seconds: {parts}{seen}"


def run_flow(n: int, accounts, workers: int, worker_env: dict[str, str],
             servers: dict[str, list[int]], logs: Path, timeout: float,
             list_tenant: str | None = None) -> FlowResult:
    """Start ``workers`` worker processes, insert ``n`` messages, time them to delivered;
    with ``list_tenant``, sample the replica lag and the admin list reads meanwhile."""
    tenant_id = accounts[0][0]
    procs = []
    sampler = None
    try:
        for i in range(workers):
            log = logs / f"pipeline_bench_worker_{i}.log"
            out = log.open("wb")
            proc = subprocess.Popen([str(WEWORK), "worker"], stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True,
                                    env={**os.environ, **worker_env})
            procs.append(proc)
            wait_for_log(log, " started: ", proc)
        from wework.models import utcnow

        since = utcnow().replace(microsecond=0)  # created_at keeps whole seconds
        before = status_counts(tenant_id, since)
        meter = CpuMeter({**servers, "workers": [p.pid for p in procs],
                          "load generator (this process)": [os.getpid()]})
        enqueue(accounts, n)
        started, started_at = time.perf_counter(), time.time()
        sampler = Sampler(list_tenant) if list_tenant else None
        to_sent = None
        deadline = time.monotonic() + timeout
        while True:
            counts = status_counts(tenant_id, since)
            elapsed = time.perf_counter() - started
            if to_sent is None and not counts.get("pending") and not counts.get("sending"):
                to_sent = elapsed
            delivered = counts.get("delivered", 0) - before.get("delivered", 0)
            if delivered >= n:
                to_delivered = elapsed
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"not delivered in {timeout:.0f} s: {counts}")
            time.sleep(poll_interval(n, delivered, elapsed))
        cpu = meter.used()
        seen = sampler.stop() if sampler else {}
        sampler = None
        if list_tenant:
            from wework.config import get_settings

            time.sleep(get_settings().cache_stats_seconds + 1)  # the last counters land
            seen.update({f"cache {k}": v for k, v in cache_hit_rates(started_at).items()})
        return FlowResult(n, to_sent or to_delivered, to_delivered, cpu,
                          os.getloadavg()[0], seen)
    finally:
        if sampler:
            sampler.stop()
        for proc in procs:
            stop(proc)


def run_end_to_end(args) -> None:
    import secrets as token_source

    from wework.config import reload_settings
    from wework.services import gateway_secrets

    # Every process reports its cache counters often enough to be read after a run.
    os.environ.setdefault("WEWORK_CACHE_STATS_SECONDS", "2")
    reload_settings()
    logs = log_dir()
    token = token_source.token_urlsafe(24)
    # A name of its own: a kept database set may hold the secret of an earlier run.
    secret = gateway_secrets.create(None, f"bench-e2e-{uuid.uuid4().hex[:8]}").secret
    api_port, sim_port = free_port(), free_port()
    api = start([str(WEWORK), "api", "--port", str(api_port), "--workers", str(args.workers),
                 "--no-access-log"], api_port, logs / "pipeline_bench_e2e_api.log")
    sim = start([str(WEWORK), "gateway-sim", "serve", "--port", str(sim_port),
                 "--callback-url", f"http://127.0.0.1:{api_port}"], sim_port,
                logs / "pipeline_bench_sim.log",
                env={"WEWORK_GATEWAY_SIM_SECRET": secret, "WEWORK_GATEWAY_TOKEN": token})
    servers = {**mariadb_pids(), "API": [api.pid], "simulator": [sim.pid]}
    # The simulator sends no heartbeats here (they would compete with the receipts): the
    # heartbeat sweep must not take the accounts offline between runs.
    quiet = {"WEWORK_HEARTBEAT_TIMEOUT_SECONDS": "86400"}
    over_http = {**quiet, "WEWORK_GATEWAY_URL": f"http://127.0.0.1:{sim_port}",
                 "WEWORK_GATEWAY_TOKEN": token}
    timeout = max(120.0, args.messages / 5)
    try:
        print(f"== end to end: {args.messages:,} messages per run, {args.accounts} accounts, "
              f"API {args.workers} processes, worker settings as configured")
        accounts = setup_tenant(args.accounts)
        list_tenant = busiest_tenant()
        run_flow(min(200, args.messages), accounts, 1, over_http, servers, logs,
                 timeout)  # warm-up: connections, caches, the simulator's first instances
        results = []
        for workers in (int(w) for w in args.worker_counts.split(",")):
            result = run_flow(args.messages, accounts, workers, over_http, servers, logs,
                              timeout, list_tenant)
            results.append(result)
            print(result.line(f"{workers} worker(s), HTTP gateway + HTTP callbacks"))
            print(result.cpu_line())
        local = run_flow(args.messages, accounts, 1, {**quiet, "WEWORK_GATEWAY_URL": ""},
                         {k: v for k, v in servers.items() if k.startswith("MariaDB")}, logs,
                         timeout)
        print(local.line("baseline: 1 worker, in-process simulator"))
        print(local.cpu_line())
        for workers, result in zip(args.worker_counts.split(","), results, strict=True):
            share = local.to_delivered / result.to_delivered
            print(f"   {workers} worker(s) over HTTP at {share:.0%} of the in-process "
                  "baseline's messages/s to delivered")
    finally:
        stop(sim)
        stop(api)


if __name__ == "__main__":
    main()

"""Pipeline benchmark over the network: each figure beside a baseline in the same run.

    .venv/bin/python bench/pipeline_bench.py [--requests 3000] [--concurrency 16]
        [--events-per-request 1,20] [--workers 2]

HTTP callback intake (this half): ``wework api`` (``--workers`` processes) on a free port,
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

(The end-to-end half — messages from pending to delivered through the worker, the HTTP
gateway simulator and these callbacks — is added when the worker and the intake join.)
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
    args = parser.parse_args()

    from wework.config import reload_settings

    os.environ["WEWORK_DB_NAME"] = f"wework_bench_{uuid.uuid4().hex[:8]}"
    settings = reload_settings()
    from wework.db import migrate

    migrate.upgrade(settings=settings)
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load average {load[0]:.1f} (1 min) at start")
    try:
        run_intake(args)
    finally:
        from wework.db.engines import dispose_engines

        dispose_engines()
        migrate.drop_databases(settings)
    print(f"load average {os.getloadavg()[0]:.1f} (1 min) at the end")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd: list[str], port: int, log: Path) -> subprocess.Popen:
    out = log.open("wb")
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{cmd} exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    raise TimeoutError(f"{cmd} not ready: {log.read_text()[-2000:]}")


def stop(proc: subprocess.Popen) -> None:
    import signal

    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(30)


def setup_accounts(n: int) -> list[str]:
    """A tenant with ``n`` online accounts; their guids."""
    from wework.enums import AccountStatus
    from wework.models import Tenant, WeworkAccount, new_id
    from wework.services.uow import transaction

    tenant_id = new_id()
    guids = [f"bench-{uuid.uuid4().hex}" for _ in range(n)]
    with transaction(tenant_id) as s:
        s.add(Tenant(id=tenant_id, tenant_code=f"bench-{tenant_id[:8]}", tenant_name="bench"))
        s.flush()
        s.add_all(WeworkAccount(tenant_id=tenant_id, account_name=f"bench-{i}", guid=guid,
                                status=AccountStatus.ONLINE) for i, guid in enumerate(guids))
    return guids


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
    logs = Path(os.environ.get("TMPDIR", "/tmp"))
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
            intake = asyncio.run(load(f"http://127.0.0.1:{api_port}", reqs, args.concurrency,
                                      per))
            baseline = asyncio.run(load(f"http://127.0.0.1:{bare_port}", reqs,
                                        args.concurrency, per))
            print(intake.line("POST /v1/callbacks (verify+store+apply)"))
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


if __name__ == "__main__":
    main()

"""Concurrent single sends: ``messages.send_message`` from many clients at once, each send
its own committed transaction, beside the database's ceiling for small transactions
measured in the same run (issue 14).

    .venv/bin/python bench/send_bench.py [--seconds 15] [--clients 16 64] [--processes 4]

Runs against the configured primary (the local pair by default) in a throw-away database
set (``wework_bench_<hex>``), migrated first and dropped at the end. For each client count:

1. **across tenants**: client *i* sends for tenant *i* mod 16 (16 tenants, one online
   account each);
2. **within one tenant**: every client sends for the same tenant (its daily quota is the
   shared counter: striped, see ``wework.services.quota``);
3. **baseline**: ``mariadb-slap`` with as many clients doing single-row autocommit INSERTs
   (the same server, ``sync_binlog=1`` and ``innodb_flush_log_at_trx_commit=1``).

A "send" is what an API call does: validate, resolve the account inside the tenant, take
quota, INSERT the message, COMMIT (durable). The clients are ``--processes`` processes
with threads, on this machine: they share its cores with MariaDB, so the CPU split
printed after each run shows what the platform's own share costs. Latency percentiles
are per send, measured in the client.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import threading
import time

from bench_cpu import CpuMeter, mariadb_pids
from bench_db import bench_database_set, slap_inserts_per_second

TENANTS = 16


def load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def make_tenants(n: int) -> list[tuple[str, str]]:
    """``n`` tenants with one online account each and a quota no run reaches."""
    import uuid

    from wework.enums import AccountStatus
    from wework.models import Tenant, WeworkAccount, new_id
    from wework.services.uow import transaction

    out = []
    for _ in range(n):
        tenant_id = new_id()
        with transaction(tenant_id) as s:
            s.add(Tenant(id=tenant_id, tenant_code=f"bench-{uuid.uuid4().hex[:12]}",
                         tenant_name="bench", max_daily_messages=100_000_000))
            s.flush()
            account = WeworkAccount(tenant_id=tenant_id, account_name="bench",
                                    guid=f"bench-{uuid.uuid4().hex}",
                                    status=AccountStatus.ONLINE)
            s.add(account)
        out.append((tenant_id, account.id))
    return out


def client_process(targets: list[tuple[str, str]], deadline: float, out: mp.Queue) -> None:
    """Send in one thread per target until ``deadline`` (wall clock); report counts and
    latencies (ms) to ``out``."""
    from wework.services import messages
    from wework.services.context import system_context

    lat: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def client(tenant_id: str, account_id: str) -> None:
        ctx = system_context(tenant_id)
        mine, i = [], 0
        while time.time() < deadline:
            t = time.perf_counter()
            try:
                messages.send_message(ctx, account_id=account_id, conversation_id=f"c-{i % 97}",
                                      message_type="text", content={"text": f"bench {i}"})
                mine.append((time.perf_counter() - t) * 1000)
            except Exception as e:  # counted: the figure is of sends that committed
                with lock:
                    errors.append(f"{type(e).__name__}: {e}"[:200])
            i += 1
        with lock:
            lat.extend(mine)

    threads = [threading.Thread(target=client, args=t) for t in targets]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    out.put({"lat": lat, "errors": errors[:3], "error_count": len(errors)})


def run_clients(targets: list[tuple[str, str]], processes: int, seconds: float) -> dict:
    ctx = mp.get_context("spawn")  # fresh interpreters: no engine or pool crosses a fork
    out = ctx.Queue()
    start_at = time.time() + 4.0  # every process imported and connected before it starts
    deadline = start_at + seconds
    procs = [ctx.Process(target=_delayed, args=(targets[i::processes], start_at, deadline, out))
             for i in range(processes)]
    for p in procs:
        p.start()
    time.sleep(max(0.0, start_at - time.time()))
    meter = CpuMeter({**mariadb_pids(), "load generator + services": [p.pid for p in procs]})
    results = [out.get() for _ in procs]
    cpu = meter.used()
    for p in procs:
        p.join()
    lat = sorted(x for r in results for x in r["lat"])
    q = statistics.quantiles(lat, n=100) if len(lat) > 1 else [float("nan")] * 99
    return {"sends": len(lat), "rate": len(lat) / seconds, "p50": q[49], "p95": q[94],
            "p99": q[98], "errors": sum(r["error_count"] for r in results),
            "error_samples": [e for r in results for e in r["errors"]][:3], "cpu": cpu}


def _delayed(targets, start_at: float, deadline: float, out) -> None:
    import wework.services.messages  # noqa: F401  (imports before the start line)

    time.sleep(max(0.0, start_at - time.time()))
    client_process(targets, deadline, out)


def report(label: str, r: dict, seconds: float) -> None:
    cpu = ", ".join(f"{k} {v:.1f}" for k, v in r["cpu"].items())
    print(f"   {label:<34} {r['rate']:>8,.0f} sends/s  p50 {r['p50']:6.1f}  p95 "
          f"{r['p95']:6.1f}  p99 {r['p99']:6.1f} ms  ({r['sends']:,} in {seconds:.0f} s, "
          f"{r['errors']} errors; {load()})")
    print(f"   {'':<34} CPU s: {cpu}")
    if r["errors"]:
        print(f"   {'':<34} errors: {r['error_samples']}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=15.0)
    p.add_argument("--clients", type=int, nargs="+", default=[16, 64])
    p.add_argument("--processes", type=int, default=4, help="load-generator processes")
    p.add_argument("--slap-queries", type=int, default=20_000)
    args = p.parse_args()

    settings = bench_database_set()
    print(f"machine: {os.cpu_count()} cores, {load()} at start; database set "
          f"{settings.db_name}")
    try:
        tenants = make_tenants(TENANTS)
        rows = []
        for clients in args.clients:
            print(f"\n== {clients} clients, {args.processes} processes, {args.seconds:.0f} s each")
            across = run_clients([tenants[i % TENANTS] for i in range(clients)],
                                 args.processes, args.seconds)
            report("across 16 tenants", across, args.seconds)
            within = run_clients([tenants[0]] * clients, args.processes, args.seconds)
            report("within one tenant", within, args.seconds)
            slap = slap_inserts_per_second(settings, clients, args.slap_queries)
            print(f"   {'baseline: mariadb-slap INSERTs':<34} {slap:>8,.0f} inserts/s "
                  f"({args.slap_queries:,} single-row autocommit INSERTs; {load()})")
            rows.append((clients, across, within, slap))
        print("\nSummary (sends/s are committed transactions from concurrent clients)")
        print("| clients | across tenants | within one tenant | mariadb-slap | across / slap |")
        print("|---|---|---|---|---|")
        for clients, across, within, slap in rows:
            print(f"| {clients} | {across['rate']:,.0f}/s, p95 {across['p95']:.0f} ms | "
                  f"{within['rate']:,.0f}/s, p95 {within['p95']:.0f} ms | {slap:,.0f}/s | "
                  f"{across['rate'] / slap:.0%} |")
    finally:
        from wework.db import migrate
        from wework.db.engines import dispose_engines

        dispose_engines()
        migrate.drop_databases(settings)


if __name__ == "__main__":
    main()

"""Callback processing throughput: events stored + parsed + applied per second, beside
two baselines measured in the same run on the same server.

    .venv/bin/python bench/callback_bench.py [--events 4000] [--chunk 500] [--processes 2]
        [--clients 1]

Runs against the configured primary (the local pair by default) in a throw-away database
``wework_bench_<hex>_0`` that is migrated first and dropped at the end. The events are
delivery receipts (``delivered``) of messages the dispatcher has sent, the traffic every
message produces.

1. The batched path: ``callbacks.ingest_many`` on chunks of ``--chunk`` events from
   ``--processes`` processes of ``--clients`` threads each (raw rows stored in one INSERT;
   receipts applied set-based: one INSERT claiming the dedup keys, one locking read of
   the messages, one ``UPDATE … JOIN JSON_TABLE``, one counter delta per batch; results
   saved in one statement). Processes, as the intake runs (``wework api`` with N uvicorn workers):
   threads of one process share its interpreter lock, so on 2 cores a second thread
   only contends (measured: 1 thread 3,147/s, 2 threads 2,327/s).
2. Baseline, the per-event path: the same raw store, then ``callbacks.process`` per event
   (parse, apply and save the result in a transaction of its own).
3. Baseline, the database's ceiling: ``mariadb-slap`` with 16 clients doing single-row
   autocommit INSERTs as the app user into a table of the same database
   (``sync_binlog=1``, ``innodb_flush_log_at_trx_commit=1`` as configured).

Every figure is printed with the 1-minute load average taken right after it.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import threading
import time
import uuid

from bench_cpu import CpuMeter, mariadb_pids
from bench_db import slap_inserts_per_second
from sqlalchemy import text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=4000)
    parser.add_argument("--baseline-events", type=int, default=400)
    parser.add_argument("--chunk", type=int, default=500)
    parser.add_argument("--processes", type=int, default=2,
                        help="client processes (the API's workers)")
    parser.add_argument("--clients", type=int, default=1, help="threads per process")
    parser.add_argument("--slap-queries", type=int, default=8000)
    args = parser.parse_args()

    from bench_db import bench_database_set

    settings = bench_database_set()
    print(f"machine: {os.cpu_count()} cores, {load()} at start")
    try:
        run(args, settings)
    finally:
        from wework.db import migrate
        from wework.db.engines import dispose_engines

        dispose_engines()
        migrate.drop_databases(settings)


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min) {five:.2f} (5 min)"


def rate(n: int, seconds: float) -> float:
    return n / seconds


def run(args, settings) -> None:
    from wework.db.engines import Role, get_engine
    from wework.enums import AccountStatus
    from wework.gateway.base import NotifyType, SendResult, make_event
    from wework.models import Tenant, WeworkAccount, new_id
    from wework.services import callbacks, messages
    from wework.services.context import system_context
    from wework.services.dispatcher import dispatch_once
    from wework.services.uow import transaction

    tenant_id = new_id()
    with transaction(tenant_id) as s:
        s.add(Tenant(id=tenant_id, tenant_code=f"bench-{tenant_id[:8]}", tenant_name="bench",
                     max_daily_messages=10_000_000))
        s.flush()
        account = WeworkAccount(tenant_id=tenant_id, account_name="bench",
                                guid=f"bench-{uuid.uuid4().hex}", status=AccountStatus.ONLINE)
        s.add(account)
    ctx = system_context(tenant_id)

    class Instant:
        def send(self, request):
            return SendResult(True, f"wx-{request.message_id[:8]}")

    wanted = args.events + args.baseline_events
    for start in range(0, wanted, 5000):
        messages.enqueue_many(ctx, [
            {"account_id": account.id, "conversation_id": f"c-{i % 500}",
             "message_type": "text", "content": {"text": f"bench {i}"}}
            for i in range(start, min(wanted, start + 5000))])
    while dispatch_once(Instant(), limit=2000).claimed:
        pass
    engine = get_engine(Role.PRIMARY, 0)
    with engine.connect() as conn:
        sent = list(conn.execute(text("SELECT id FROM messages WHERE status = 'sent'")).scalars())
    assert len(sent) >= wanted, f"only {len(sent)} of {wanted} messages sent"

    def receipts(ids):
        return [make_event(account.guid, NotifyType.MESSAGE_RECEIPT,
                           {"message_id": mid, "status": "delivered"}) for mid in ids]

    batched = receipts(sent[:args.events])
    single = receipts(sent[args.events:wanted])
    # Receipts of unknown messages (they fail): each process's warm-up, before the clock.
    warm_up = receipts([str(uuid.uuid4()) for _ in range(50)])

    print("\n== callback processing: delivery receipts stored + parsed + applied "
          "(events/s)")
    chunks = [batched[i:i + args.chunk] for i in range(0, len(batched), args.chunk)]
    ctx_mp = mp.get_context("spawn")  # fresh interpreters: no engine or pool crosses a fork
    out = ctx_mp.Queue()
    start_at = time.time() + 5.0  # every process imported, connected and warm before it
    procs = [ctx_mp.Process(target=client_process,
                            args=(chunks[i::args.processes], warm_up, args.clients, start_at, out))
             for i in range(args.processes)]
    for proc in procs:
        proc.start()
    time.sleep(max(0.0, start_at - time.time()))
    meter = CpuMeter({**mariadb_pids(),
                      "client processes (clients + services)": [p.pid for p in procs]})
    results = [out.get() for _ in procs]
    cpu = meter.used()
    for proc in procs:
        proc.join()
    statuses = [s for r in results for s in r["statuses"]]
    batch_rate = rate(len(batched), max(r["finished"] for r in results) - start_at)
    assert statuses.count("processed") == len(batched), set(statuses)
    print(f"   batched: ingest_many, {args.chunk}/call, {args.processes} process(es) x "
          f"{args.clients} client(s)  {batch_rate:>9,.0f}/s  ({len(batched):,} events; "
          f"{load()})")
    print("      CPU per event: " + ", ".join(
        f"{name} {1000 * seconds / len(batched):.2f} ms" for name, seconds in cpu.items()))

    t = time.perf_counter()
    for i in range(0, len(single), args.chunk):
        for event in callbacks.store_raw_many(single[i:i + args.chunk]):
            callbacks.process(event)
    single_rate = rate(len(single), time.perf_counter() - t)
    print(f"   baseline: per-event path (one transaction per event)  "
          f"{single_rate:>9,.0f}/s  ({len(single):,} events; {load()})")

    slap_rate = slap_inserts_per_second(settings, 16, args.slap_queries)
    print(f"   baseline: mariadb-slap, 16 clients, single-row INSERTs  "
          f"{slap_rate:>9,.0f}/s  ({args.slap_queries:,} inserts; {load()})")
    print(f"   batched = {batch_rate / single_rate:.1f}x the per-event path, "
          f"{100 * batch_rate / slap_rate:.0f}% of the slap ceiling")


def client_process(chunks: list[list[str]], warm_up: list[str], clients: int,
                   start_at: float, out) -> None:
    """One client process: ``clients`` threads calling ``ingest_many`` on its chunks from
    ``start_at`` (wall clock); reports the events' statuses and when it finished."""
    from wework.services import callbacks

    callbacks.ingest_many(warm_up)  # imports, connections, compiled statements
    statuses: list[str] = []
    lock = threading.Lock()

    def client(mine):
        for chunk in mine:
            done = callbacks.ingest_many(chunk, source_ip="127.0.0.1")
            with lock:
                statuses.extend(e.status.value for e in done)

    threads = [threading.Thread(target=client, args=(chunks[i::clients],))
               for i in range(clients)]
    time.sleep(max(0.0, start_at - time.time()))
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    out.put({"statuses": statuses, "finished": time.time()})


if __name__ == "__main__":
    main()

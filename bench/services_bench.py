"""Messaging service benchmark: each figure beside a baseline measured in the same run.

    .venv/bin/python bench/services_bench.py [--messages 20000]

Runs against the configured MySQL primary (the local pair by default) in a throw-away
database ``wework_bench_<hex>_0`` that is migrated first and dropped at the end.

1. The batch-enqueue path: ``messages.enqueue_many`` (validation, account and quota
   checks, Core executemany → multi-row INSERTs, ONE transaction) vs the per-row ORM
   baseline (``session.add`` + ``commit`` per message); and the input validation alone
   (``prepare_row``: the pydantic models of the row and of its content), as a share of it.
   Its figure is rows of one transaction per second, not transactions per second
   (concurrent single sends are a different figure; the callback path is measured by
   ``bench/callback_bench.py``).
2. Single-message API latency: ``messages.send_message`` p50/p95 (one transaction with
   the tenant-row lock for the quota), beside a bare ``SELECT 1`` round trip.
3. Callback ingest throughput: ``callbacks.ingest_many`` (raw events stored with one
   multi-row INSERT, then the receipts applied set-based) vs
   ``callbacks.ingest`` per event (one raw-store transaction per event), on delivery
   receipts of sent messages; and the raw intake alone (``store_raw_many`` vs
   ``store_raw``), which is what must keep up so that no event is lost.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid

from sqlalchemy import text
from sqlalchemy.orm import Session


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--baseline-rows", type=int, default=300)
    parser.add_argument("--sends", type=int, default=100)
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--baseline-events", type=int, default=150)
    args = parser.parse_args()

    from bench_db import bench_database_set

    settings = bench_database_set()
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load average {load[0]:.1f} (1 min) at start")
    try:
        run(args)
    finally:
        from wework.db import migrate
        from wework.db.engines import dispose_engines

        dispose_engines()
        migrate.drop_databases(settings)


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:>10,.0f}/s  ({n:,} in {seconds:.2f} s)"


def run(args) -> None:
    from wework.db.engines import Role, get_engine
    from wework.enums import AccountStatus
    from wework.gateway.base import NotifyType, SendResult, make_event
    from wework.models import Message, Tenant, WeworkAccount, new_id, utcnow
    from wework.services import callbacks, messages
    from wework.services.context import system_context
    from wework.services.dispatcher import dispatch_once
    from wework.services.uow import transaction

    tenant_id = new_id()
    with transaction(tenant_id) as s:
        s.add(
            Tenant(
                id=tenant_id,
                tenant_code=f"bench-{tenant_id[:8]}",
                tenant_name="bench",
                max_daily_messages=10_000_000,
            )
        )
        s.flush()
        account = WeworkAccount(
            tenant_id=tenant_id,
            account_name="bench",
            guid=f"bench-{uuid.uuid4().hex}",
            status=AccountStatus.ONLINE,
        )
        s.add(account)
    ctx = system_context(tenant_id)

    def row(i: int) -> dict:
        return {
            "account_id": account.id,
            "conversation_id": f"c-{i % 500}",
            "message_type": "text",
            "content": {"text": f"benchmark message {i}"},
            "priority": 1 + i % 10,
        }

    print("== 1. batch-enqueue path: rows of one transaction per second (not TPS)")
    messages.enqueue_many(ctx, [row(i) for i in range(200)])  # warm up connections
    rows = [row(i) for i in range(args.messages)]
    t = time.perf_counter()
    messages.enqueue_many(ctx, rows)
    batch_s = time.perf_counter() - t
    engine = get_engine(Role.PRIMARY, 0)
    t = time.perf_counter()
    with Session(engine) as s:
        for i in range(args.baseline_rows):
            s.add(
                Message(
                    tenant_id=tenant_id,
                    account_id=account.id,
                    conversation_id=f"c-{i}",
                    message_type="text",
                    content={"text": f"baseline {i}"},
                    priority=5,
                    created_at=utcnow(),
                )
            )
            s.commit()
    base_s = time.perf_counter() - t
    print(f"   enqueue_many (batch path)          {rate(args.messages, batch_s)}")
    print(f"   baseline: ORM add+commit per row   {rate(args.baseline_rows, base_s)}")
    print(
        f"   ratio {args.messages / batch_s / (args.baseline_rows / base_s):.1f}x; "
        f"(rows of one {args.messages:,}-row transaction; not transactions/s)"
    )
    # The input check alone (each row's MessageRow model and its content model, no
    # database): its share of the batch path above, measured on the same rows.
    now = utcnow()
    t = time.perf_counter()
    for i, r in enumerate(rows):
        messages.prepare_row(ctx, r, now, at=f"rows[{i}]")
    check_s = time.perf_counter() - t
    print(f"   of which input validation alone    {rate(args.messages, check_s)}  "
          f"= {check_s / batch_s:.0%} of the batch path's time "
          f"({check_s / args.messages * 1e6:.1f} µs per row)")

    print("== 2. single-message API latency (ms)")
    lat = []
    for i in range(args.sends):
        t = time.perf_counter()
        messages.send_message(
            ctx,
            account_id=account.id,
            conversation_id=f"s-{i}",
            message_type="text",
            content={"text": "hi"},
        )
        lat.append((time.perf_counter() - t) * 1000)
    ping = []
    with engine.connect() as conn:
        for _ in range(args.sends):
            t = time.perf_counter()
            conn.execute(text("SELECT 1")).scalar()
            ping.append((time.perf_counter() - t) * 1000)

    def pct(values, q):
        return statistics.quantiles(values, n=100)[q - 1]

    print(f"   send_message        p50 {pct(lat, 50):6.2f}  p95 {pct(lat, 95):6.2f}")
    print(f"   baseline SELECT 1   p50 {pct(ping, 50):6.2f}  p95 {pct(ping, 95):6.2f}")

    print("== 3. callback ingest throughput (events/s)")

    class Instant:
        def send(self, request):
            return SendResult(True, f"wx-{request.message_id[:8]}")

    # Enough sent messages to receive receipts for. Everything pending from the steps above
    # is set aside first (this database holds only the benchmark's rows).
    with engine.begin() as conn:
        conn.execute(text("UPDATE messages SET status='cancelled' WHERE status='pending'"))
    messages.enqueue_many(ctx, [row(i) for i in range(2 * args.events)])
    while dispatch_once(Instant(), limit=1000).claimed:
        pass
    with engine.connect() as conn:
        sent_ids = [
            r[0]
            for r in conn.execute(
                text("SELECT id FROM messages WHERE status='sent' LIMIT :n"), {"n": 2 * args.events}
            )
        ]
    half = len(sent_ids) // 2

    def receipts(ids):
        return [
            make_event(
                account.guid, NotifyType.MESSAGE_RECEIPT, {"message_id": mid, "status": "delivered"}
            )
            for mid in ids
        ]

    batch_events = receipts(sent_ids[:half])
    single_events = receipts(sent_ids[half:])[: args.baseline_events]
    t = time.perf_counter()
    done = callbacks.ingest_many(batch_events, source_ip="127.0.0.1")
    many_s = time.perf_counter() - t
    assert all(e.status.value == "processed" for e in done), done[0].error_message
    t = time.perf_counter()
    for raw in single_events:
        callbacks.ingest(raw, source_ip="127.0.0.1")
    single_s = time.perf_counter() - t
    print(f"   ingest_many (stored, receipts set-based) {rate(len(batch_events), many_s)}")
    print(f"   baseline: ingest per event               {rate(len(single_events), single_s)}")
    raw_events = receipts([str(uuid.uuid4()) for _ in range(args.events)])
    t = time.perf_counter()
    callbacks.store_raw_many(raw_events)
    raw_many_s = time.perf_counter() - t
    t = time.perf_counter()
    for raw in raw_events[: args.baseline_events]:
        callbacks.store_raw(raw)
    raw_one_s = time.perf_counter() - t
    print(f"   raw intake store_raw_many                {rate(len(raw_events), raw_many_s)}")
    print(f"   baseline: store_raw per event            {rate(args.baseline_events, raw_one_s)}")


if __name__ == "__main__":
    main()

"""Dispatcher benchmark: messages/s from pending to sent (claimed, handed to a gateway
that answers at once, outcome recorded), each figure beside a baseline on the same rows
in the same run.

    .venv/bin/python bench/dispatch_bench.py [--messages 20000] [--batch 500]

Runs against the configured MySQL primary (the local pair by default) in a throw-away
database ``wework_bench_<hex>_0``, migrated first and dropped at the end. No receipts
and no callbacks: this measures the dispatcher alone, the part of the end-to-end path
the worker owns (``bench/pipeline_bench.py`` measures the whole loop over HTTP).

1. ``dispatch_once`` rounds of ``--batch`` messages: claim, send on a thread pool,
   record set-based (one locking read, one ``UPDATE … JOIN JSON_TABLE``, one counter
   update per batch) — beside the same rounds recording one message at a time through
   the ORM (``lock_message`` + ``record_send_outcome`` per message, the previous way).
2. ``wework worker`` threads (``Worker``) with 1 and 2 dispatch loops on the same rows.
3. The idle poll — nothing due, every message delivered: the dispatcher's candidate
   query (driven by the pending rows' index) beside the same query planned freely by the
   optimizer (the previous form), which read every message of a tenant.
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import text, update


class InstantGateway:
    def send(self, request):
        from wework.gateway.base import SendResult

        return SendResult(True, f"bench-{request.message_id[-12:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()

    from bench_db import bench_database_set

    settings = bench_database_set()
    try:
        run(args, settings)
    finally:
        from wework.db import migrate
        from wework.db.engines import dispose_engines

        dispose_engines()
        migrate.drop_databases(settings)


def load() -> str:
    return f"load average {os.getloadavg()[0]:.1f}"


def setup(args) -> tuple[str, list[str]]:
    from wework.enums import AccountStatus
    from wework.models import WeworkAccount, utcnow
    from wework.services import messages, tenants
    from wework.services.auth import actor_for, context_for
    from wework.services.context import system_context
    from wework.services.uow import transaction

    _, root = tenants.bootstrap_platform("bench-root", "root@example.com", "bench-password-1")
    admin = context_for(actor_for(root.id, root.tenant_id))
    tenant = tenants.create_tenant(admin, tenant_code="bench", tenant_name="bench",
                                   max_daily_messages=10**8, max_accounts=10**4)
    ctx = system_context(tenant.id)
    now = utcnow()
    with transaction(tenant.id) as s:
        accounts = [WeworkAccount(tenant_id=tenant.id, account_name=f"bench-{i}",
                                  guid=f"bench-guid-{i}", status=AccountStatus.ONLINE,
                                  login_retry_count=0, last_login_time=now,
                                  last_heartbeat_time=now) for i in range(args.accounts)]
        s.add_all(accounts)
        s.flush()
        account_ids = [a.id for a in accounts]
    ids: list[str] = []
    for start in range(0, args.messages, 5000):
        rows = [{"account_id": account_ids[i % len(account_ids)], "conversation_id": f"c{i}",
                 "message_type": "text", "content": {"text": f"bench {i}"},
                 "priority": 1 + i % 10}
                for i in range(start, min(start + 5000, args.messages))]
        ids += messages.enqueue_many(ctx, rows)
    return tenant.id, ids


def reset(tenant_id: str) -> None:
    from wework.enums import MessageStatus
    from wework.models import Message
    from wework.services.uow import transaction

    with transaction(tenant_id) as s:
        s.execute(update(Message).where(Message.tenant_id == tenant_id).values(
            status=MessageStatus.PENDING, send_time=None, wework_msg_id=None, retry_count=0,
            error_code=None, error_message=None))


def sent(tenant_id: str) -> int:
    from wework.services.uow import transaction

    with transaction(tenant_id) as s:
        return s.execute(text("SELECT COUNT(*) FROM messages WHERE tenant_id = :t AND "
                              "status = 'sent'"), {"t": tenant_id}).scalar()


def set_based(args, pool) -> int:
    from wework.services.dispatcher import dispatch_once

    gateway, n = InstantGateway(), 0
    while (claimed := dispatch_once(gateway, limit=args.batch, pool=pool).claimed):
        n += claimed
    return n


def per_message(args, pool) -> int:
    """The same claim and send, then one ORM change per message (the previous record)."""
    from wework.models import utcnow
    from wework.services.dispatcher import _claim, _send
    from wework.services.messages import SendOutcome, lock_message, record_send_outcome
    from wework.services.uow import shard_transaction

    gateway, n = InstantGateway(), 0
    while True:
        claims, _ = _claim(0, utcnow(), args.batch)
        if not claims:
            return n
        results = list(pool.map(lambda c: _send(gateway, c), claims))
        results.sort(key=lambda r: (r[0].batch_id or "", r[0].request.message_id))
        with shard_transaction(0) as s:
            for claim, r, _ in results:
                record_send_outcome(s, lock_message(s, claim.request.message_id),
                                    SendOutcome(r.ok, r.wework_msg_id), utcnow())
        n += len(claims)


def through_worker(args, settings, loops: int, tenant_id: str, total: int) -> float:
    from wework.worker.runner import Worker

    tuned = settings.model_copy(update={
        "worker_dispatch_loops": loops, "worker_batch_size": args.batch,
        "worker_send_concurrency": args.concurrency, "worker_idle_seconds": 0.05})
    worker = Worker(tuned, gateway=InstantGateway(), jobs=[])
    started = time.perf_counter()
    worker.start()
    while sent(tenant_id) < total:
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    worker.shutdown()
    return seconds


UNHINTED = text("""SELECT messages.id FROM messages
WHERE messages.status = 'pending'
  AND (messages.scheduled_time IS NULL OR messages.scheduled_time <= :now)
  AND messages.account_id IN (SELECT id FROM wework_accounts WHERE status = 'online')
  AND messages.tenant_id IN (SELECT id FROM tenants WHERE status = 'active')
  AND (messages.batch_id IS NULL
       OR messages.batch_id IN (SELECT id FROM batch_send_tasks WHERE status = 'running'))
ORDER BY messages.priority DESC, COALESCE(messages.scheduled_time, messages.created_at),
         messages.id
LIMIT :n""")


def rows_read(session) -> int:
    """Rows the server has read for this connection (every Handler_read_* counter): a
    measure of a query's work that the machine's load does not change."""
    return sum(int(v) for _, v in session.execute(text(
        "SHOW SESSION STATUS LIKE 'Handler_read%'")))


def idle_poll(args, tenant_id: str, total: int) -> None:
    from wework.models import utcnow
    from wework.services.dispatcher import _candidates
    from wework.services.uow import transaction

    with transaction(tenant_id) as s:
        s.execute(text("UPDATE messages SET status = 'delivered' WHERE tenant_id = :t"),
                  {"t": tenant_id})
        s.execute(text("ANALYZE TABLE messages"))
    n = 3 * args.batch
    for name, query in (
        ("dispatcher's candidate query", lambda s: _candidates(s, utcnow(), n, set(), set())),
        ("optimizer's own plan (baseline)",
         lambda s: s.scalars(UNHINTED, {"now": utcnow(), "n": n}).all()),
    ):
        with transaction(tenant_id) as s:
            before = rows_read(s)
            started = time.perf_counter()
            assert query(s) == []
            ms = (time.perf_counter() - started) * 1000
            read = rows_read(s) - before - 1  # the first SHOW's own row
        print(f"idle poll, {name:32} {read:>9,} rows read, {ms:.1f} ms ({total:,} "
              f"messages, none due, {load()})")


def run(args, settings) -> None:
    print(f"machine: {os.cpu_count()} cores, {load()} at start")
    tenant_id, ids = setup(args)
    total = len(ids)
    print(f"{total:,} pending messages on {args.accounts} online accounts, rounds of "
          f"{args.batch}, {args.concurrency} send threads; gateway answers at once\n")
    pool = ThreadPoolExecutor(args.concurrency)
    figures = {}
    for name, fn in (("set-based record", set_based), ("per-message record (baseline)",
                                                       per_message),
                     ("set-based record, again", set_based)):
        reset(tenant_id)
        started = time.perf_counter()
        n = fn(args, pool)
        seconds = time.perf_counter() - started
        assert n == total == sent(tenant_id), (n, total)
        figures[name] = total / seconds
        print(f"dispatch_once, {name:32} {total / seconds:>9,.0f} messages/s "
              f"({seconds:.2f} s, {load()})")
    best = max(figures["set-based record"], figures["set-based record, again"])
    print(f"  set-based / per-message: {best / figures['per-message record (baseline)']:.1f}x")
    for loops in (1, 2):
        reset(tenant_id)
        seconds = through_worker(args, settings, loops, tenant_id, total)
        print(f"worker, {loops} dispatch loop(s)              {total / seconds:>9,.0f} "
              f"messages/s ({seconds:.2f} s, {load()})")
    idle_poll(args, tenant_id, total)


if __name__ == "__main__":
    main()

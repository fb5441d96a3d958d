"""Dispatcher: due selection, priority order, retries with backoff, SKIP LOCKED."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from messaging_helpers import RecordingGateway, make_account, messages_of, text_rows

from wework.enums import MessageStatus
from wework.gateway.simulator import WeComGatewaySimulator
from wework.models import utcnow
from wework.services import messages
from wework.services.dispatcher import dispatch_once, recover_expired_claims


def drain(gateway, now=None, rounds=20):
    for _ in range(rounds):
        if dispatch_once(gateway, now=now, limit=200).claimed == 0:
            return


def test_sends_due_messages_by_priority_then_age(tenant_ctx):
    account = make_account(tenant_ctx)
    low = messages.enqueue_many(tenant_ctx, text_rows(account.id, 2, priority=2))
    high = messages.enqueue_many(tenant_ctx, text_rows(account.id, 2, priority=9))
    later = messages.send_message(
        tenant_ctx, account_id=account.id, conversation_id="c", message_type="text",
        content={"text": "later"}, priority=10, scheduled_time=utcnow() + timedelta(hours=1),
    )
    gw = RecordingGateway()
    drain(gw)
    sent = gw.sent_for(tenant_ctx.tenant_id)
    # 9 before 2 (within a priority: older due time first; same-second ties by id)
    assert set(sent[:2]) == set(high) and set(sent[2:]) == set(low)
    stored = messages_of(tenant_ctx.tenant_id)
    assert stored[later.id].status is MessageStatus.PENDING  # not yet due
    for mid in sent:
        assert stored[mid].status is MessageStatus.SENT
        assert stored[mid].wework_msg_id == f"wx-{mid[:8]}"
        assert stored[mid].send_time is not None
    drain(gw, now=utcnow() + timedelta(hours=2))
    assert messages_of(tenant_ctx.tenant_id)[later.id].status is MessageStatus.SENT


def test_a_round_for_one_tenant_claims_only_its_messages(make_tenant):
    a, b = make_tenant(), make_tenant()
    mine = messages.enqueue_many(a.ctx, text_rows(make_account(a.ctx).id, 2))
    theirs = messages.enqueue_many(b.ctx, text_rows(make_account(b.ctx).id, 2))
    gw = RecordingGateway()
    report = dispatch_once(gw, tenant_id=a.ctx.tenant_id)
    assert report.claimed == 2
    assert {m.status for m in messages_of(a.ctx.tenant_id, mine).values()} == {
        MessageStatus.SENT}
    assert {m.status for m in messages_of(b.ctx.tenant_id, theirs).values()} == {
        MessageStatus.PENDING}


def test_accounts_not_online_are_not_sent_for(tenant_ctx):
    offline = make_account(tenant_ctx, status="offline")
    ids = messages.enqueue_many(tenant_ctx, text_rows(offline.id, 3))
    gw = RecordingGateway()
    drain(gw)
    assert gw.sent_for(tenant_ctx.tenant_id) == []
    assert {m.status for m in messages_of(tenant_ctx.tenant_id, ids).values()} == {
        MessageStatus.PENDING
    }


def test_failure_retries_with_backoff_then_fails_for_good(tenant_ctx):
    account = make_account(tenant_ctx)
    (mid,) = messages.enqueue_many(tenant_ctx, text_rows(account.id, 1))
    gw = RecordingGateway(fail_all=True)
    now = utcnow().replace(microsecond=0)  # TIMESTAMP keeps whole seconds
    for attempt in range(1, messages.MAX_RETRIES + 1):
        dispatch_once(gw, now=now)
        m = messages_of(tenant_ctx.tenant_id, [mid])[mid]
        assert m.status is MessageStatus.PENDING
        assert m.retry_count == attempt
        assert m.error_code == "E_TEST"
        delay = timedelta(seconds=messages.RETRY_BASE_SECONDS * 2 ** (attempt - 1))
        assert m.scheduled_time == now + delay
        dispatch_once(gw, now=now + delay - timedelta(seconds=1))  # not due yet
        assert len(gw.sent_for(tenant_ctx.tenant_id)) == attempt
        now = now + delay
    dispatch_once(gw, now=now)
    m = messages_of(tenant_ctx.tenant_id, [mid])[mid]
    assert m.status is MessageStatus.FAILED
    assert m.error_message == "test failure"
    assert len(gw.sent_for(tenant_ctx.tenant_id)) == messages.MAX_RETRIES + 1


def test_non_retryable_failure_fails_at_once(tenant_ctx):
    account = make_account(tenant_ctx)
    (mid,) = messages.enqueue_many(tenant_ctx, text_rows(account.id, 1))
    dispatch_once(RecordingGateway(fail_all=True, retryable=False))
    assert messages_of(tenant_ctx.tenant_id, [mid])[mid].status is MessageStatus.FAILED


def test_two_dispatchers_in_threads_never_send_the_same_message(tenant_ctx):
    accounts = [make_account(tenant_ctx) for _ in range(3)]
    ids = []
    for a in accounts:
        ids += messages.enqueue_many(tenant_ctx, text_rows(a.id, 60))
    sim = WeComGatewaySimulator(latency_ms=(0.5, 2.0), seed=1)
    rounds: Counter = Counter()
    start = threading.Barrier(2)

    def worker(name: str) -> None:
        # An empty round can mean the other dispatcher holds every due row right now
        # (SKIP LOCKED), so only several empty rounds in a row mean the work is done.
        start.wait()
        empty = 0
        while empty < 5:
            report = dispatch_once(sim, limit=10)
            rounds[name] += report.claimed
            empty = empty + 1 if report.claimed == 0 else 0
            if report.claimed == 0:
                time.sleep(0.05)

    threads = [threading.Thread(target=worker, args=(f"d{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    sent = [r.message_id for r in sim.sent_requests if r.tenant_id == tenant_ctx.tenant_id]
    assert len(sent) == len(set(sent)) == len(ids)  # each exactly once
    assert rounds["d0"] > 0 and rounds["d1"] > 0  # both really worked side by side
    assert {m.status for m in messages_of(tenant_ctx.tenant_id, ids).values()} == {
        MessageStatus.SENT
    }


def test_stale_sending_messages_are_requeued(tenant_ctx):
    account = make_account(tenant_ctx)
    (mid,) = messages.enqueue_many(tenant_ctx, text_rows(account.id, 1))

    class Crashing:
        def send(self, request):
            raise KeyboardInterrupt  # the process dies mid-round

    with pytest.raises(KeyboardInterrupt):
        dispatch_once(Crashing())
    assert messages_of(tenant_ctx.tenant_id, [mid])[mid].status is MessageStatus.SENDING
    assert recover_expired_claims(timedelta(minutes=5)) == 0  # not stale yet
    assert recover_expired_claims(timedelta(minutes=5), now=utcnow() + timedelta(minutes=6)) >= 1
    m = messages_of(tenant_ctx.tenant_id, [mid])[mid]
    assert (m.status, m.retry_count, m.error_code) == (
        MessageStatus.PENDING, 1, "dispatch_interrupted"
    )


def test_gateway_exception_counts_as_retryable_failure(tenant_ctx):
    account = make_account(tenant_ctx)
    (mid,) = messages.enqueue_many(tenant_ctx, text_rows(account.id, 1))

    class Broken:
        def send(self, request):
            raise ConnectionError("gateway down")

    dispatch_once(Broken())
    m = messages_of(tenant_ctx.tenant_id, [mid])[mid]
    assert (m.status, m.error_code) == (MessageStatus.PENDING, "gateway_error")
    assert "gateway down" in m.error_message


def test_the_candidate_query_reads_the_index_alone(primary):
    """The claim's candidate query is covered by idx_scheduled_pending (migrations 0012,
    0014: due_at is a VIRTUAL column the index holds):
    a held-back backlog of pending messages costs an index scan, not a row lookup each.
    A condition on a column outside the index makes this fail."""
    from sqlalchemy.orm import Session

    from wework.services.dispatcher import _candidates

    plans = []
    with Session(primary) as s:
        original = s.execute

        def explain(stmt, *args, **kwargs):
            sql = str(stmt.compile(dialect=primary.dialect,
                                   compile_kwargs={"literal_binds": True}))
            plans.extend(s.connection().exec_driver_sql(f"EXPLAIN {sql}").mappings().all())
            return original(stmt, *args, **kwargs)

        s.execute = explain
        _candidates(s, utcnow(), 10, set(), set())
    scan = [p for p in plans if p["table"] == "messages"]
    assert scan and scan[0]["key"] == "idx_scheduled_pending", plans
    assert "Using index" in scan[0]["Extra"], plans


@pytest.mark.parametrize("n", [1, 2, 5])
def test_the_claims_update_finds_its_rows_by_primary_key(primary, tenant_ctx, n):
    """The claim's UPDATE (``by_key``) reads the claimed rows by primary key, whatever
    their number. One key written as a one-row ``(id, created_at) IN`` made MariaDB scan
    the whole primary key (a full table scan per single-message claim)."""
    from sqlalchemy import update

    from wework.models import Message
    from wework.services.dispatcher import by_key

    account = make_account(tenant_ctx)
    ids = messages.enqueue_many(tenant_ctx, text_rows(account.id, n))
    created = messages_of(tenant_ctx.tenant_id, ids)
    stmt = (update(Message).where(by_key((i, created[i].created_at) for i in ids))
            .with_hint("FORCE INDEX (PRIMARY)", dialect_name="mysql")
            .values(updated_at=Message.updated_at))
    sql = str(stmt.compile(dialect=primary.dialect, compile_kwargs={"literal_binds": True}))
    with primary.connect() as conn:
        (plan,) = conn.exec_driver_sql(f"EXPLAIN {sql}").mappings().all()
    assert plan["key"] == "PRIMARY" and plan["type"] in ("range", "const", "eq_ref"), plan


def test_the_candidate_query_reads_no_message_of_a_paused_batch(primary, tenant_ctx):
    """A paused batch's pending messages are not read by the dispatcher's poll at all
    (migration 0013: the index splits the pending rows by batch), so a large held-back
    backlog costs a poll nothing. ANALYZE counts the index rows the query really read."""
    from wework.services import batches

    account = make_account(tenant_ctx)
    paused = batches.create_batch(
        tenant_ctx, task_name="held", account_id=account.id, target_type="manual",
        target_config={"conversation_ids": [f"c{i}" for i in range(40)]},
        message_type="text", content={"text": "held back"})
    batches.pause_batch(tenant_ctx, paused.id)
    ready = messages.enqueue_many(tenant_ctx, text_rows(account.id, 3))
    found, plans = _analyzed_candidates(primary, 100, tenant_ctx.tenant_id)
    read = [_rows_read(p, "messages") for p in plans]
    with primary.connect() as conn:  # other tests' pending rows share the database
        elsewhere = conn.exec_driver_sql(
            "SELECT COUNT(*) FROM messages WHERE status = 'pending' "
            "AND (batch_id IS NULL OR batch_id <> %s)", (paused.id,)).scalar()
    assert {r.id for r in found} == set(ready)
    assert read and read[0] <= elsewhere, (read, elsewhere)  # + the 40 before 0013


def test_a_poll_reads_the_head_of_the_queue_not_the_backlog(primary, tenant_ctx):
    """idx_scheduled_pending is in dispatch order (migration 0014): a poll for 5
    candidates reads about 5 index entries, not the whole backlog of due messages, and
    sorts nothing. Before, every poll read and sorted all 150 of them."""
    account = make_account(tenant_ctx)
    backlog = messages.enqueue_many(tenant_ctx, text_rows(account.id, 150, priority=10))
    found, plans = _analyzed_candidates(primary, 5, tenant_ctx.tenant_id)
    read = [_rows_read(p, "messages") for p in plans]
    with primary.connect() as conn:  # other tests' pending rows share the database
        ahead = conn.exec_driver_sql(
            "SELECT COUNT(*) FROM messages WHERE status = 'pending' AND priority = 10 "
            "AND batch_id IS NULL AND tenant_id <> %s", (tenant_ctx.tenant_id,)).scalar()
    assert [r.id for r in found] == sorted(backlog)[:5]  # one second: by id
    assert read and read[0] <= 5 + ahead < 150, (read, ahead)
    assert "filesort" not in json.dumps(plans[0]), plans[0]


def _analyzed_candidates(primary, n: int, tenant_id: str) -> tuple[list, list[dict]]:
    """``_candidates`` of one tenant, and the ANALYZE FORMAT=JSON plan of each statement
    it ran that reads messages (ANALYZE runs it: the rows really read)."""
    from sqlalchemy.orm import Session

    from wework.services.dispatcher import _candidates

    plans: list[dict] = []
    with Session(primary) as s:
        original = s.execute

        def analyze(stmt, *args, **kwargs):
            sql = str(stmt.compile(dialect=primary.dialect,
                                   compile_kwargs={"literal_binds": True}))
            if "FROM messages" in sql:
                plan = s.connection().exec_driver_sql(f"ANALYZE FORMAT=JSON {sql}").scalar()
                plans.append(json.loads(plan))
            return original(stmt, *args, **kwargs)

        s.execute = analyze
        return _candidates(s, utcnow(), n, set(), set(), tenant_id), plans


def _rows_read(plan, table: str) -> int:
    """``r_rows`` of ``table`` in an ANALYZE FORMAT=JSON plan."""
    if isinstance(plan, dict):
        if plan.get("table_name") == table and "r_rows" in plan:
            return int(plan["r_rows"])
        values = plan.values()
    elif isinstance(plan, list):
        values = plan
    else:
        return -1
    return max((_rows_read(v, table) for v in values), default=-1)

"""Dispatch through a running worker (its threads and pools, the real database):
priorities, schedules, batch windows and rates; expired claims recovered without a
second delivery."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from messaging_helpers import (
    RecordingGateway,
    batch_invariant,
    make_account,
    messages_of,
    text_rows,
)
from worker_helpers import fast, running_worker, wait_for

from wework.enums import MessageStatus
from wework.gateway.simulator import WeComGatewaySimulator
from wework.models import utcnow
from wework.services import batches, callbacks, messages
from wework.services.dispatcher import dispatch_once
from wework.worker.jobs import Job, platform_jobs


def statuses(tenant_id: str, ids) -> dict[str, MessageStatus]:
    return {i: m.status for i, m in messages_of(tenant_id, ids).items()}


def test_priorities_schedules_windows_and_rates(tenant_ctx, settings):
    ctx = tenant_ctx
    account = make_account(ctx)
    low = messages.enqueue_many(ctx, text_rows(account.id, 3, priority=1))
    high = messages.enqueue_many(ctx, text_rows(account.id, 3, priority=10))
    soon = utcnow() + timedelta(seconds=3)
    scheduled = messages.send_message(ctx, account_id=account.id, conversation_id="s",
                                      message_type="text", content={"text": "later"},
                                      priority=10, scheduled_time=soon)
    now_local = utcnow()
    closed = [f"{now_local + timedelta(hours=2):%H}:00", f"{now_local + timedelta(hours=3):%H}:00"]
    shut = batches.create_batch(ctx, task_name="closed", account_id=account.id,
                                target_type="manual", target_config={"conversation_ids": ["w1"]},
                                message_type="text", content={"text": "x"},
                                send_strategy={"windows": [closed], "timezone": "UTC"})
    rated = batches.create_batch(ctx, task_name="rated", account_id=account.id,
                                 target_type="manual",
                                 target_config={"conversation_ids": [f"r{i}" for i in range(8)]},
                                 message_type="text", content={"text": "x"},
                                 send_strategy={"rate_per_minute": 3})
    gateway = RecordingGateway()
    # One loop claiming two at a time, one send thread: the gateway sees the claim order.
    one_by_one = fast(settings, worker_dispatch_loops=1, worker_batch_size=2,
                      worker_send_concurrency=1)
    with running_worker(one_by_one, gateway=gateway, jobs=[]):
        wait_for(lambda: statuses(ctx.tenant_id, [scheduled.id])[scheduled.id]
                 is MessageStatus.SENT, timeout=120, what="the scheduled message")
        wait_for(lambda: len(gateway.sent_for(ctx.tenant_id)) >= 10, timeout=120,
                 what="the due messages")
    sent = gateway.sent_for(ctx.tenant_id)
    rated_ids = [m.id for m in messages_of(ctx.tenant_id).values() if m.batch_id == rated.id]
    shut_ids = [m.id for m in messages_of(ctx.tenant_id).values() if m.batch_id == shut.id]
    # priority 10 before every priority 1 (the rated batch has the default priority 5)
    assert max(sent.index(i) for i in high) < min(sent.index(i) for i in low)
    # the scheduled one went out, and not before its time
    assert sent.count(scheduled.id) == 1
    assert messages_of(ctx.tenant_id, [scheduled.id])[scheduled.id].send_time >= soon.replace(
        microsecond=0)
    # the rate: at most 3 of the batch's 8 in any minute (a slow machine may let the test
    # run past the first minute), the rest held back
    rated_sent = [i for i in sent if i in rated_ids]
    times = sorted(m.send_time for m in messages_of(ctx.tenant_id, rated_sent).values())
    assert len(times) >= 3
    spans = [(later - first).total_seconds()
             for first, later in zip(times, times[3:], strict=False)]
    assert all(span >= 59 for span in spans)
    assert sorted(statuses(ctx.tenant_id, rated_ids).values()).count(
        MessageStatus.PENDING) == 8 - len(rated_sent)
    # outside its window nothing of the batch was sent
    assert not set(sent) & set(shut_ids)
    assert set(statuses(ctx.tenant_id, shut_ids).values()) == {MessageStatus.PENDING}
    assert len(sent) == len(set(sent))
    for task in (rated, shut):
        stored, recount = batch_invariant(ctx.tenant_id, task.id)
        assert stored == recount


def test_a_batch_completes_through_the_worker_and_its_simulator(tenant_ctx, settings):
    """The in-process simulator's receipts come back through callback ingestion."""
    account = make_account(tenant_ctx)
    task = batches.create_batch(tenant_ctx, task_name="all", account_id=account.id,
                                target_type="manual",
                                target_config={"conversation_ids": [f"c{i}" for i in range(40)]},
                                message_type="text", content={"text": "hello"})
    sim = WeComGatewaySimulator(latency_ms=(0, 5))
    with running_worker(fast(settings), gateway=sim, jobs=[]):
        done = wait_for(lambda: (b := batches.get_batch(tenant_ctx, task.id)).success_count == 40
                        and b, timeout=180, what="every message delivered")
    assert done.status.value == "completed" and done.end_time is not None
    assert (done.total_count, done.sent_count, done.failed_count) == (40, 40, 0)
    stored, recount = batch_invariant(tenant_ctx.tenant_id, task.id)
    assert stored == recount
    assert sim.stats()["delivered_twice"] == 0


class DiesAfterSending:
    """Hands the message to the gateway, then the process 'dies' before recording."""

    def __init__(self, gateway):
        self.gateway = gateway

    def send(self, request):
        self.gateway.send(request)
        raise KeyboardInterrupt


def recovery_job(settings) -> list[Job]:
    return [j for j in platform_jobs(settings) if j.name == "recovery"]


@pytest.mark.parametrize("idempotent", [True, False])
def test_an_expired_claim_is_recovered_without_a_second_delivery(tenant_ctx, settings,
                                                                 idempotent):
    """The worker died after the gateway took the message and before recording it; the
    gateway's receipt is late. ``idempotent=False`` is the control: a gateway that
    ignores the key delivers the recovered message twice, and this test sees it."""
    account = make_account(tenant_ctx)
    (mid,) = messages.enqueue_many(tenant_ctx, text_rows(account.id, 1))
    sim = WeComGatewaySimulator(honour_idempotency=idempotent)
    with pytest.raises(KeyboardInterrupt):
        dispatch_once(DiesAfterSending(sim))
    late_receipts = sim.drain_events()
    first = messages_of(tenant_ctx.tenant_id, [mid])[mid]
    assert first.status is MessageStatus.SENDING and sim.delivery_counts() == {mid: 1}

    quick = fast(settings, worker_claim_seconds=1.0, worker_recovery_every=0.2)
    with running_worker(quick, gateway=sim, jobs=recovery_job(quick)):
        m = wait_for(lambda: (m := messages_of(tenant_ctx.tenant_id, [mid])[mid]).retry_count
                     and m.status in (MessageStatus.SENT, MessageStatus.DELIVERED) and m,
                     timeout=120, what="the recovered message to be sent again")
    assert m.retry_count == 1 and m.error_code is None and m.send_time > first.send_time
    callbacks.ingest_many(late_receipts)
    assert messages_of(tenant_ctx.tenant_id, [mid])[mid].status is MessageStatus.DELIVERED
    if idempotent:
        assert sim.delivery_counts()[mid] == 1
        assert sim.stats()["duplicate_sends"] == 1
        assert m.wework_msg_id == json.loads(late_receipts[0])["data"]["wework_msg_id"]
    else:
        assert sim.delivery_counts()[mid] == 2


def test_a_claim_still_valid_is_left_alone(tenant_ctx, settings):
    account = make_account(tenant_ctx)
    (mid,) = messages.enqueue_many(tenant_ctx, text_rows(account.id, 1))
    with pytest.raises(KeyboardInterrupt):
        dispatch_once(DiesAfterSending(WeComGatewaySimulator()))
    long_claim = fast(settings, worker_claim_seconds=3600.0, worker_recovery_every=0.2)
    ran = threading.Event()
    jobs = [Job("recovery", 0.2, lambda: (recovery_job(long_claim)[0].run(), ran.set())[0])]
    with running_worker(long_claim, gateway=RecordingGateway(), jobs=jobs):
        wait_for(ran.is_set, timeout=20, what="the recovery job")
    assert messages_of(tenant_ctx.tenant_id, [mid])[mid].status is MessageStatus.SENDING


def test_the_set_based_record_keeps_every_field(tenant_ctx):
    """Per-row values travel through JSON_TABLE: non-ASCII text, NULLs, the retry time."""
    account = make_account(tenant_ctx)
    ok_id, retry_id, dead_id = messages.enqueue_many(tenant_ctx, text_rows(account.id, 3))

    class Mixed:
        def send(self, request):
            from wework.gateway.base import SendResult

            if request.message_id == ok_id:
                return SendResult(True, "wx-已发送-1")
            if request.message_id == retry_id:
                return SendResult(False, None, "E_网关", "网关超时 (timeout)")
            return SendResult(False, None, "E_拒绝", "内容被拒绝", retryable=False)

    now = utcnow().replace(microsecond=0)
    report = dispatch_once(Mixed(), now=now)
    assert report.outcomes == {"sent": 1, "retry": 1, "failed": 1}
    got = messages_of(tenant_ctx.tenant_id, [ok_id, retry_id, dead_id])
    ok, retry, dead = got[ok_id], got[retry_id], got[dead_id]
    assert (ok.status, ok.wework_msg_id, ok.error_code, ok.error_message) == (
        MessageStatus.SENT, "wx-已发送-1", None, None)
    assert (retry.status, retry.retry_count, retry.error_code, retry.error_message) == (
        MessageStatus.PENDING, 1, "E_网关", "网关超时 (timeout)")
    assert retry.scheduled_time == now + messages.retry_delay(1)
    assert retry.wework_msg_id is None
    assert (dead.status, dead.retry_count, dead.error_message) == (
        MessageStatus.FAILED, 0, "内容被拒绝")

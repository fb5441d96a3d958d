"""The batched callback path: receipts applied set-based, one counter delta per batch, and
the issue's mixed batch — every event stored with its own final status and reason."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from messaging_helpers import (
    RecordingGateway,
    batch_invariant,
    make_account,
    messages_of,
    sql_statements,
)
from sqlalchemy import select, update

from wework.enums import CallbackStatus
from wework.enums import MessageStatus as MS
from wework.gateway.base import NotifyType, make_event
from wework.models import CallbackEvent
from wework.models.callback_dedup import CallbackEventKey
from wework.services import batches, callbacks
from wework.services import messages as msgs
from wework.services.dispatcher import dispatch_once
from wework.services.uow import shard_transaction, transaction

OK, FAILED, IGNORED = CallbackStatus.PROCESSED, CallbackStatus.FAILED, CallbackStatus.IGNORED
TEXT = {"message_type": "text", "content": {"text": "hi"}}


def sent_batch(ctx, account, n: int):
    """A running batch of ``n`` messages, all handed to the gateway (sent)."""
    task = batches.create_batch(
        ctx, task_name="b", account_id=account.id, target_type="manual",
        target_config={"conversation_ids": [f"c{i}" for i in range(n)]}, **TEXT)
    dispatch_once(RecordingGateway())
    mids = sorted(m.id for m in messages_of(ctx.tenant_id).values() if m.batch_id == task.id)
    assert {m.status for m in messages_of(ctx.tenant_id, mids).values()} == {MS.SENT}
    return task, mids


def receipt(guid: str, message_id: str, status: str = "delivered", **data) -> str:
    return make_event(guid, NotifyType.MESSAGE_RECEIPT,
                      {"message_id": message_id, "status": status, **data})


def nested(levels: int) -> object:
    return json.loads("[" * levels + "]" * levels)


def test_the_mixed_batch_gives_each_event_its_own_outcome(make_tenant):
    a, b = make_tenant(), make_tenant()
    acc_a, acc_b = make_account(a.ctx), make_account(b.ctx)
    task, (m1, m2, m3, m4) = sent_batch(a.ctx, acc_a, 4)
    _, (theirs,) = sent_batch(b.ctx, acc_b, 1)
    first = receipt(acc_a.guid, m1)
    raws = [
        first,                                                    # 0 valid
        receipt(f"guid-{uuid.uuid4().hex}", m2),                  # 1 unknown guid
        receipt(acc_a.guid, theirs),                              # 2 another tenant's message
        '{"guid": "' + acc_a.guid + '", "notify_type": 20001,',   # 3 malformed JSON
        make_event(acc_a.guid, NotifyType.MESSAGE_RECEIPT,        # 4 nested deeper than 32
                   {"message_id": m2, "status": "delivered", "x": nested(33)}),
        first,                                                    # 5 duplicate of 0
        receipt(acc_a.guid, m2, "failed", error_code="E9"),       # 6 valid (failed)
        receipt(acc_a.guid, m3, wework_msg_id="w" * 101),         # 7 refused by the server
        receipt(acc_a.guid, m4, wework_msg_id="wx-4"),            # 8 valid
        receipt(acc_a.guid, m4),                                  # 9 second receipt, new id
        receipt(acc_a.guid, m3, wework_msg_id=7),                 # 10 wrong type
    ]
    events = callbacks.ingest_many(raws)
    got = [(e.status, e.error_message) for e in events]
    assert [s for s, _ in got] == [OK, FAILED, FAILED, FAILED, FAILED, IGNORED, OK, FAILED,
                                   OK, OK, FAILED]
    notes = [n for _, n in got]
    assert notes[0] is None and notes[6] is None and notes[8] is None
    assert notes[1].startswith("guid: no account has guid")
    assert notes[2] == f"data.message_id: no message {theirs!r}"
    assert notes[3].startswith("body: not valid JSON")
    assert notes[4].startswith("data: nests 35 arrays/objects deep")
    assert notes[5] == f"duplicate of callback event {events[0].id}"
    assert notes[7].startswith("database error: DataError: (1406")
    assert notes[9] == "message already delivered; receipt not applied"
    assert notes[10] == "data.wework_msg_id: must be a string"
    # Stored exactly as returned; the raw body of every one kept.
    for e, raw in zip(events, raws, strict=True):
        stored = callbacks.get_event(e.id)
        assert (stored.status, stored.error_message, stored.raw_data) == (
            e.status, e.error_message, raw)
        assert stored.process_time is not None
    assert callbacks.get_event(events[6].id).parsed_data["data"]["error_code"] == "E9"
    msgs = messages_of(a.ctx.tenant_id, [m1, m2, m3, m4])
    assert [msgs[m].status for m in (m1, m2, m3, m4)] == [MS.DELIVERED, MS.FAILED, MS.SENT,
                                                          MS.DELIVERED]
    assert (msgs[m2].error_code, msgs[m4].wework_msg_id) == ("E9", "wx-4")
    assert messages_of(b.ctx.tenant_id, [theirs])[theirs].status is MS.SENT
    stored, recomputed = batch_invariant(a.ctx.tenant_id, task.id)
    assert stored == recomputed
    assert (stored["sent_count"], stored["success_count"], stored["failed_count"]) == (3, 2, 1)
    # Only applied events hold a dedup key: a refused one can be replayed once fixed.
    with transaction(a.ctx.tenant_id) as s:
        keyed = set(s.scalars(select(CallbackEventKey.callback_event_id)
                              .where(CallbackEventKey.guid == acc_a.guid)))
    assert keyed == {events[i].id for i in (0, 6, 8, 9)}


def test_a_receipt_refused_after_the_claim_leaves_its_key_free(make_tenant):
    """The set-based round claims every key first; a receipt the messages then refuse
    (another tenant's message) fails alone, and its key is freed in the same transaction,
    so the event can be applied by a replay once its cause is fixed."""
    a, b = make_tenant(), make_tenant()
    acc_a, acc_b = make_account(a.ctx), make_account(b.ctx)
    _, (m1, m2) = sent_batch(a.ctx, acc_a, 2)
    _, (theirs,) = sent_batch(b.ctx, acc_b, 1)
    raws = [receipt(acc_a.guid, m1), receipt(acc_a.guid, theirs), receipt(acc_a.guid, m2)]
    with sql_statements() as statements:
        events = callbacks.ingest_many(raws)
    assert [e.status for e in events] == [OK, FAILED, OK]
    assert events[1].error_message == f"data.message_id: no message {theirs!r}"
    # One round, not one by one: a single UPDATE of the messages.
    assert len([s for s in statements if s.lstrip().startswith("UPDATE messages")]) == 1
    with transaction(a.ctx.tenant_id) as s:
        keyed = set(s.scalars(select(CallbackEventKey.callback_event_id)
                              .where(CallbackEventKey.guid == acc_a.guid)))
    assert keyed == {events[0].id, events[2].id}


def test_events_applied_before_their_results_were_saved_are_not_applied_again(tenant_ctx):
    """A replay of events whose keys they already hold (applied, then the process died
    before their status was saved) ends them processed without applying them again; a
    new event with one of those keys is a duplicate of the first."""
    account = make_account(tenant_ctx)
    task, mids = sent_batch(tenant_ctx, account, 3)
    raws = [receipt(account.guid, m) for m in mids]
    events = callbacks.ingest_many(raws)
    assert [e.status for e in events] == [OK] * 3
    with shard_transaction(callbacks.INTAKE_SHARD) as s:
        s.execute(update(CallbackEvent).where(CallbackEvent.id.in_([e.id for e in events]))
                  .values(status=CallbackStatus.RECEIVED, process_time=None))
    replayed = {e.id: e for e in callbacks.replay(status="received", limit=10_000)}
    assert [(replayed[e.id].status, replayed[e.id].error_message) for e in events] == [
        (OK, None)] * 3
    again = callbacks.ingest_many(raws[:1])
    assert (again[0].status, again[0].error_message) == (
        IGNORED, f"duplicate of callback event {events[0].id}")
    stored, recomputed = batch_invariant(tenant_ctx.tenant_id, task.id)
    assert stored == recomputed and stored["success_count"] == 3


def test_receipts_are_applied_set_based(tenant_ctx):
    """The statements a batch of receipts costs do not grow with its size: one UPDATE of
    the messages and one counter delta per batch, not one per event."""
    account = make_account(tenant_ctx)
    task, mids = sent_batch(tenant_ctx, account, 40)
    raws = [receipt(account.guid, m) for m in mids]
    with sql_statements() as statements:
        events = callbacks.ingest_many(raws)
    assert {e.status for e in events} == {OK}
    counter_updates = [s for s in statements if s.startswith("UPDATE batch_send_tasks")]
    message_updates = [s for s in statements if s.lstrip().startswith("UPDATE messages")]
    assert len(counter_updates) == 1 and len(message_updates) == 1
    assert len(statements) < 20, statements
    stored, recomputed = batch_invariant(tenant_ctx.tenant_id, task.id)
    assert stored == recomputed and stored["success_count"] == 40


def late(event: str, at: datetime) -> str:
    """``event`` as the gateway sends it long after it happened (its timestamp ``at``)."""
    event_json = json.loads(event)
    event_json["timestamp"] = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return json.dumps(event_json)


@pytest.mark.parametrize(
    "ingest", [callbacks.ingest_many, lambda raws: [callbacks.ingest(raws[0])]],
    ids=["set-based", "one event"])
def test_a_late_receipt_stamps_the_message_with_the_time_it_was_applied(tenant_ctx, ingest):
    """The receipt's own time is its callback_time; updated_at is when the row changed.
    The warehouse reads changes by updated_at (with a 10-minute overlap), so a receipt
    applied hours after its event (a gateway retrying, a replay of failed events) and
    stamped with the event's time was never extracted: its message stayed 'sent' in the
    marts until a --full run."""
    account = make_account(tenant_ctx)
    _, (mid, _) = sent_batch(tenant_ctx, account, 2)
    happened = datetime.now(UTC).replace(tzinfo=None, microsecond=0) - timedelta(hours=3)
    applied_from = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    (event,) = ingest([late(receipt(account.guid, mid), happened)])
    assert event.status is OK
    message = messages_of(tenant_ctx.tenant_id, [mid])[mid]
    assert message.status is MS.DELIVERED and message.callback_time == happened
    assert message.updated_at >= applied_from


def heartbeat(guid: str, at: datetime) -> str:
    return late(make_event(guid, NotifyType.ACCOUNT_HEARTBEAT, {}), at)


def test_heartbeats_are_applied_set_based_and_each_fails_alone(make_tenant):
    """A batch of heartbeats costs one UPDATE of the accounts whatever its size; each
    account keeps its latest time (a late, older beat never moves it back); a beat from
    the future fails alone; a duplicate is ignored."""
    from wework.models import WeworkAccount

    world = make_tenant()
    one, two = make_account(world.ctx), make_account(world.ctx)
    # All after the accounts' own creation stamps, within the allowed clock skew ahead.
    now = datetime.now(UTC).replace(microsecond=0)
    newest = now + timedelta(seconds=120)
    first = heartbeat(one.guid, newest)
    raws = [first]
    raws += [heartbeat(one.guid, now + timedelta(seconds=60 - i)) for i in range(30)]
    raws += [heartbeat(two.guid, now + timedelta(seconds=90 - i)) for i in range(30)]
    raws += [heartbeat(two.guid, now + timedelta(hours=2)),  # from the future
             first]                                          # a duplicate
    with sql_statements() as statements:
        events = callbacks.ingest_many(raws)
    statuses = [e.status for e in events]
    assert statuses[:61] == [OK] * 61
    assert statuses[61] is FAILED and "timestamp" in events[61].error_message
    assert statuses[62] is IGNORED and events[0].id in events[62].error_message
    account_updates = [s for s in statements if "UPDATE wework_accounts" in s]
    assert len(account_updates) == 1, account_updates
    assert len(statements) < 20, statements
    with transaction(world.ctx.tenant_id) as s:
        stamps = dict(s.execute(select(WeworkAccount.id, WeworkAccount.last_heartbeat_time)
                                .where(WeworkAccount.id.in_([one.id, two.id]))).all())
    assert stamps[one.id] == newest.replace(tzinfo=None)
    assert stamps[two.id] == (now + timedelta(seconds=90)).replace(tzinfo=None)


def test_concurrent_batches_with_the_same_events_apply_each_once(tenant_ctx):
    account = make_account(tenant_ctx)
    task, mids = sent_batch(tenant_ctx, account, 12)
    raws = [receipt(account.guid, m) for m in mids]
    results: list[list] = []
    lock = threading.Lock()

    def worker(offset: int) -> None:
        events = callbacks.ingest_many(raws[offset:] + raws[:offset])
        with lock:
            results.append(events)

    threads = [threading.Thread(target=worker, args=(i * 3,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(results) == 4
    by_raw: dict[str, list[str]] = {}
    for events in results:
        for e in events:
            by_raw.setdefault(e.raw_data, []).append(e.status.value)
    for raw in raws:
        assert sorted(by_raw[raw]) == ["ignored"] * 3 + ["processed"], by_raw[raw]
    stored, recomputed = batch_invariant(tenant_ctx.tenant_id, task.id)
    assert stored == recomputed and stored["success_count"] == 12


@contextmanager
def receipts_held_open(monkeypatch, raws: list[str]) -> Iterator[list]:
    """Ingest ``raws`` in a thread of its own and hold that transaction open, its receipts
    applied (messages locked, keys claimed) but not committed, while the body runs; the
    batch's events land in the yielded list once it commits. Fails if the body could
    not finish before the held batch gave up waiting for it (10 s), i.e. if the body
    waited on the held batch's locks."""
    held, released = threading.Event(), threading.Event()
    waited: list[bool] = []
    apply_receipts = msgs.apply_receipts

    def held_open(session, receipts, now):
        results = apply_receipts(session, receipts, now)
        if threading.current_thread() is holder:  # every call of the holder, a redo too
            held.set()
            waited.append(released.wait(timeout=10))
        return results

    monkeypatch.setattr(msgs, "apply_receipts", held_open)
    done: list = []
    holder = threading.Thread(target=lambda: done.extend(callbacks.ingest_many(raws)))
    holder.start()
    try:
        assert held.wait(timeout=30)
        yield done
    finally:
        released.set()
        holder.join(timeout=60)
    assert waited == [True], "the body waited for the held batch to commit"


def test_a_batch_does_not_wait_for_another_batch_of_the_same_account(tenant_ctx, monkeypatch):
    """Two intake processes apply receipts of one account at once: the second batch commits
    while the first is still open, its keys claimed and its messages locked. (Under
    REPEATABLE READ the first batch's locking read of its keys locked the gaps around
    keys not yet there, the second batch's INSERT of its own keys waited on them, and
    the two deadlocked.)"""
    account = make_account(tenant_ctx)
    # Two batch tasks: receipts of one task's messages share its counter row, and wait
    # for it by design (one delta per task per transaction).
    task_a, first = sent_batch(tenant_ctx, account, 20)
    task_b, second = sent_batch(tenant_ctx, account, 20)
    with receipts_held_open(monkeypatch, [receipt(account.guid, m) for m in first]) as done:
        done_second = callbacks.ingest_many([receipt(account.guid, m) for m in second])
    assert [e.status for e in done + done_second] == [OK] * 40
    assert {m.status for m in messages_of(tenant_ctx.tenant_id, first + second).values()
            } == {MS.DELIVERED}
    for task in (task_a, task_b):
        stored, recomputed = batch_invariant(tenant_ctx.tenant_id, task.id)
        assert stored == recomputed and stored["success_count"] == 20


def test_a_send_commits_while_a_receipt_batch_is_open(tenant_ctx, monkeypatch):
    """Receipts lock the messages they apply to, and nothing else: a new message of the
    same account is sent while a batch of receipts for the newest messages is open.
    (Under REPEATABLE READ their locking read also locked the gap after the newest
    message, where every new message id goes, and sends waited for the batch.)"""
    account = make_account(tenant_ctx)
    _, mids = sent_batch(tenant_ctx, account, 5)
    with receipts_held_open(monkeypatch, [receipt(account.guid, m) for m in mids]) as done:
        msgs.send_message(tenant_ctx, account_id=account.id, conversation_id="c-new", **TEXT)
    assert [e.status for e in done] == [OK] * 5

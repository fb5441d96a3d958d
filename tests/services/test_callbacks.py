"""Callbacks: raw first, apply once, failures kept and replayable, the CLI."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

from messaging_helpers import RecordingGateway, make_account, messages_of, text_rows
from sqlalchemy import select
from typer.testing import CliRunner

from wework.cli.messaging import callbacks_app
from wework.enums import AccountStatus, CallbackStatus
from wework.enums import MessageStatus as MS
from wework.gateway.base import NotifyType, make_event
from wework.gateway.simulator import WeComGatewaySimulator
from wework.models import AccountStatusHistory, Conversation, utcnow
from wework.models.callback_dedup import CallbackEventKey
from wework.services import accounts, callbacks, messages
from wework.services.dispatcher import dispatch_once
from wework.services.uow import transaction


def sent_message(ctx, account):
    (mid,) = messages.enqueue_many(ctx, text_rows(account.id, 1))
    dispatch_once(RecordingGateway())
    assert messages_of(ctx.tenant_id, [mid])[mid].status is MS.SENT
    return mid


def test_delivery_receipt_updates_the_message(tenant_ctx):
    account = make_account(tenant_ctx)
    mid = sent_message(tenant_ctx, account)
    raw = make_event(
        account.guid,
        NotifyType.MESSAGE_RECEIPT,
        {"message_id": mid, "status": "delivered", "wework_msg_id": "wx-final"},
    )
    event = callbacks.ingest(raw, source_ip="10.0.0.9", user_agent="sim/1")
    assert event.status is CallbackStatus.PROCESSED, event.error_message
    stored = callbacks.get_event(event.id)
    assert stored.raw_data == raw and stored.source_ip == "10.0.0.9"
    assert stored.parsed_data["data"]["message_id"] == mid
    assert stored.guid == account.guid and stored.notify_type == 20001
    m = messages_of(tenant_ctx.tenant_id, [mid])[mid]
    assert (m.status, m.wework_msg_id) == (MS.DELIVERED, "wx-final")
    assert m.callback_time is not None


def test_duplicate_event_is_stored_but_not_applied_twice(tenant_ctx):
    account = make_account(tenant_ctx)
    raw = make_event(
        account.guid,
        NotifyType.CONVERSATION_UPSERT,
        {"conversation_id": "room-1", "conversation_type": "group", "member_count": 3},
    )
    first = callbacks.ingest(raw)
    with transaction(tenant_ctx.tenant_id) as s:  # changed since: a re-apply would undo it
        conv = s.scalar(select(Conversation).where(Conversation.account_id == account.id))
        conv.member_count = 10
    second = callbacks.ingest(raw)
    assert first.status is CallbackStatus.PROCESSED
    assert second.status is CallbackStatus.IGNORED
    assert first.id in second.error_message
    with transaction(tenant_ctx.tenant_id) as s:
        convs = list(s.scalars(select(Conversation).where(Conversation.account_id == account.id)))
    assert [(c.conversation_id, c.member_count) for c in convs] == [("room-1", 10)]


def test_conversation_upsert_inserts_then_updates(tenant_ctx):
    account = make_account(tenant_ctx)
    sim = WeComGatewaySimulator()
    sim.conversation_event(account.guid, "p-1", conversation_name="Li", tags=["vip"])
    sim.conversation_event(account.guid, "p-1", conversation_name="Li Lei", unread_count=2)
    for raw in sim.drain_events():
        assert callbacks.ingest(raw).status is CallbackStatus.PROCESSED
    with transaction(tenant_ctx.tenant_id) as s:
        (conv,) = s.scalars(select(Conversation).where(Conversation.account_id == account.id))
    assert (conv.conversation_name, conv.tags, conv.unread_count) == ("Li Lei", ["vip"], 2)


def test_malformed_events_are_kept_as_failed(tenant_ctx):
    bad_json = callbacks.ingest('{"guid": "x", oops')
    assert bad_json.status is CallbackStatus.FAILED
    assert bad_json.error_message.startswith("body: not valid JSON")
    stored = callbacks.get_event(bad_json.id)
    assert stored.raw_data == '{"guid": "x", oops' and stored.event_type == "unparsed"

    not_utf8 = callbacks.ingest(b'{"x": "\xff\xfe"}')
    assert not_utf8.status is CallbackStatus.FAILED
    assert "\\xff" in callbacks.get_event(not_utf8.id).raw_data  # bytes kept, escaped

    account = make_account(tenant_ctx)
    cases = {
        "notify_type": {"event_id": "e1", "guid": account.guid, "notify_type": 999},
        "event_id": {"guid": account.guid, "notify_type": 11002},
        "event_type": {
            "event_id": "e2",
            "guid": account.guid,
            "notify_type": 11002,
            "event_type": "message.receipt",
        },
        "data.status": {
            "event_id": "e3",
            "guid": account.guid,
            "notify_type": 20001,
            "data": {"message_id": "m", "status": "read"},
        },
        "data.message_id": {
            "event_id": "e4",
            "guid": account.guid,
            "notify_type": 20001,
            "data": {"message_id": str(uuid.uuid4()), "status": "delivered"},
        },
    }
    for field, body in cases.items():
        event = callbacks.ingest(json.dumps(body))
        assert event.status is CallbackStatus.FAILED
        assert event.error_message.startswith(field + ":"), (field, event.error_message)


def test_receipt_for_another_accounts_message_fails(make_tenant):
    a, b = make_tenant(), make_tenant()
    acc_a, acc_b = make_account(a.ctx), make_account(b.ctx)
    mid = sent_message(a.ctx, acc_a)
    event = callbacks.ingest(
        make_event(
            acc_b.guid, NotifyType.MESSAGE_RECEIPT, {"message_id": mid, "status": "delivered"}
        )
    )
    assert event.status is CallbackStatus.FAILED and event.error_message.startswith("data.")
    assert messages_of(a.ctx.tenant_id, [mid])[mid].status is MS.SENT


def test_replay_applies_a_failed_event_once_the_cause_is_fixed(tenant_ctx):
    guid = f"guid-{uuid.uuid4().hex}"
    raw = make_event(guid, NotifyType.CONVERSATION_UPSERT, {"conversation_id": "late"})
    event = callbacks.ingest(raw)
    assert event.status is CallbackStatus.FAILED and event.error_message.startswith("guid:")
    account = make_account(tenant_ctx, guid=guid)  # the cause is fixed
    replayed = {e.id: e for e in callbacks.replay(status="failed", limit=1000)}
    assert replayed[event.id].status is CallbackStatus.PROCESSED
    stored = callbacks.get_event(event.id)
    assert stored.status is CallbackStatus.PROCESSED and stored.retry_count == 1
    with transaction(tenant_ctx.tenant_id) as s:
        assert (
            s.scalar(
                select(Conversation.conversation_id).where(Conversation.account_id == account.id)
            )
            == "late"
        )
    assert event.id not in {e.id for e in callbacks.replay(status="failed", limit=1000)}


def test_status_notifications_drive_the_account_state_machine(tenant_ctx):
    account = accounts.create_account(
        tenant_ctx, account_name=f"a-{uuid.uuid4().hex[:8]}", guid=f"guid-{uuid.uuid4().hex}"
    )
    sim = WeComGatewaySimulator(disconnect_rate=1.0, reconnect_rate=1.0, seed=3)
    sim.login(account.guid)
    events = [callbacks.ingest(raw) for raw in sim.drain_events()]
    assert [e.status for e in events] == [CallbackStatus.PROCESSED] * 4
    got = accounts.get_account(tenant_ctx, account.id)
    assert got.status is AccountStatus.ONLINE and got.qr_code_url.startswith("https://")
    assert got.user_info["name"] == "Simulated user"
    sim.tick()  # disconnect
    sim.tick()  # reconnect: recovering, online
    for raw in sim.drain_events():
        assert callbacks.ingest(raw).status is CallbackStatus.PROCESSED
    with transaction(tenant_ctx.tenant_id) as s:
        history = list(
            s.scalars(
                select(AccountStatusHistory)
                .where(AccountStatusHistory.account_id == account.id)
                .order_by(AccountStatusHistory.id)
            )
        )
    assert [h.new_status for h in history] == [
        "created",
        "logging_in",
        "waiting_scan",
        "waiting_confirm",
        "online",
        "offline",
        "recovering",
        "online",
    ]
    assert {h.operator_type.value for h in history[1:]} == {"system"}
    # An illegal transition (online → waiting_confirm) is refused and kept as failed.
    bad = callbacks.ingest(
        make_event(account.guid, NotifyType.ACCOUNT_STATUS, {"status": "waiting_confirm"})
    )
    assert bad.status is CallbackStatus.FAILED and "cannot change" in bad.error_message
    assert accounts.get_account(tenant_ctx, account.id).status is AccountStatus.ONLINE


def test_heartbeat_event_stamps_the_account(tenant_ctx):
    account = make_account(tenant_ctx, status="online")
    ahead = (utcnow() + timedelta(minutes=1)).replace(microsecond=0)
    raw = json.dumps(
        {
            "event_id": "hb1",
            "guid": account.guid,
            "notify_type": 11002,
            "timestamp": ahead.isoformat() + "Z",  # within the allowed clock skew
        }
    )
    assert callbacks.ingest(raw).status is CallbackStatus.PROCESSED
    got = accounts.get_account(tenant_ctx, account.id)
    assert got.last_heartbeat_time == ahead


def test_cli_ingest_file_and_replay(tenant_ctx, tmp_path):
    account = make_account(tenant_ctx)
    mid = sent_message(tenant_ctx, account)
    good = make_event(
        account.guid, NotifyType.MESSAGE_RECEIPT, {"message_id": mid, "status": "delivered"}
    )
    orphan_guid = f"guid-{uuid.uuid4().hex}"
    orphan = make_event(orphan_guid, NotifyType.ACCOUNT_HEARTBEAT, {})
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join([good, good, "not json", "", orphan]) + "\n")
    runner = CliRunner()
    result = runner.invoke(callbacks_app, ["ingest", str(path)])
    assert result.exit_code == 0, result.output
    assert "4 events: 1 processed, 1 ignored, 2 failed" in result.output
    assert messages_of(tenant_ctx.tenant_id, [mid])[mid].status is MS.DELIVERED
    make_account(tenant_ctx, guid=orphan_guid)
    result = runner.invoke(callbacks_app, ["replay", "--status", "failed", "--limit", "1000"])
    assert result.exit_code == 0, result.output
    assert "processed" in result.output
    stdin = runner.invoke(callbacks_app, ["ingest", "-"], input=good + "\n")
    assert "1 events: 0 processed, 1 ignored, 0 failed" in stdin.output


def test_ingest_many_isolates_each_event(tenant_ctx):
    """In the batched path a failing event rolls back only itself (SAVEPOINT per event)."""
    account = make_account(tenant_ctx)
    first, second = sent_message(tenant_ctx, account), sent_message(tenant_ctx, account)
    ok1 = make_event(
        account.guid, NotifyType.MESSAGE_RECEIPT, {"message_id": first, "status": "delivered"}
    )
    bad = make_event(account.guid, NotifyType.ACCOUNT_STATUS, {"status": "need_verify"})
    ok2 = make_event(
        account.guid,
        NotifyType.MESSAGE_RECEIPT,
        {"message_id": second, "status": "failed", "error_code": "E1"},
    )
    events = callbacks.ingest_many([ok1, bad, ok1, "{", ok2])
    assert [e.status.value for e in events] == [
        "processed",
        "failed",
        "ignored",
        "failed",
        "processed",
    ]
    assert "cannot change from online to need_verify" in events[1].error_message
    got = messages_of(tenant_ctx.tenant_id, [first, second])
    assert got[first].status is MS.DELIVERED
    assert (got[second].status, got[second].error_code) == (MS.FAILED, "E1")
    for e in events:
        stored = callbacks.get_event(e.id)
        assert (stored.status, stored.error_message) == (e.status, e.error_message)
    with transaction(tenant_ctx.tenant_id) as s:  # the failed event's dedup key rolled back
        keys = set(
            s.scalars(
                select(CallbackEventKey.event_id).where(CallbackEventKey.guid == account.guid)
            )
        )
    assert keys == {json.loads(ok1)["event_id"], json.loads(ok2)["event_id"]}


def test_simulation_brings_accounts_online_and_produces_activity(tenant_ctx):
    import random

    from wework.cli.messaging import run_simulation

    fresh = accounts.create_account(
        tenant_ctx, account_name=f"s-{uuid.uuid4().hex[:8]}", guid=f"guid-{uuid.uuid4().hex}"
    )
    (waiting,) = messages.enqueue_many(tenant_ctx, text_rows(fresh.id, 1))  # until online
    sim = WeComGatewaySimulator(seed=7)
    stats = run_simulation(sim, 2.0, 30.0, random.Random(7), echo=lambda *_: None)
    assert accounts.get_account(tenant_ctx, fresh.id).status is AccountStatus.ONLINE
    assert stats["enqueued"] > 0 and stats["sent"] > 0 and stats["processed"] > 0
    assert messages_of(tenant_ctx.tenant_id, [waiting])[waiting].status is MS.DELIVERED
    with transaction(tenant_ctx.tenant_id) as s:
        convs = list(
            s.scalars(
                select(Conversation.conversation_id).where(Conversation.account_id == fresh.id)
            )
        )
    assert len(convs) == 3  # the simulator announced conversations for the new account


def test_the_same_event_ingested_concurrently_is_applied_once(tenant_ctx):
    import threading

    account = make_account(tenant_ctx)
    mids = [sent_message(tenant_ctx, account) for _ in range(3)]
    raws = [
        make_event(
            account.guid, NotifyType.MESSAGE_RECEIPT, {"message_id": mid, "status": "delivered"}
        )
        for mid in mids
    ]
    results: list = []
    lock = threading.Lock()

    def worker() -> None:
        for raw in raws:
            event = callbacks.ingest(raw)
            with lock:
                results.append((raw, event.status))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for raw in raws:
        statuses = sorted(s.value for r, s in results if r == raw)
        assert statuses == ["ignored"] * 3 + ["processed"], statuses
    got = messages_of(tenant_ctx.tenant_id, mids)
    assert {m.status for m in got.values()} == {MS.DELIVERED}

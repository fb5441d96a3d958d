"""One poison event never stops intake, a batch or a replay: data nested deeper than
MariaDB stores, a notify type without a handler, a value the database refuses."""

from __future__ import annotations

import json
import uuid

from messaging_helpers import RecordingGateway, make_account, messages_of, text_rows
from sqlalchemy import text
from typer.testing import CliRunner

from wework.cli.messaging import callbacks_app
from wework.enums import CallbackStatus
from wework.enums import MessageStatus as MS
from wework.gateway.base import NotifyType, make_event
from wework.services import callbacks, messages
from wework.services.dispatcher import dispatch_once

OK, FAILED = CallbackStatus.PROCESSED, CallbackStatus.FAILED


def nested(levels: int) -> object:
    """``levels`` arrays nested in one another: [[[...]]]."""
    return json.loads("[" * levels + "]" * levels)


def conversation(guid: str, **extra) -> str:
    return make_event(guid, NotifyType.CONVERSATION_UPSERT,
                      {"conversation_id": f"c-{uuid.uuid4().hex[:8]}", **extra})


def test_the_nesting_limit_is_the_servers(primary):
    limit = callbacks.MAX_JSON_NESTING
    with primary.connect() as conn:
        valid = [conn.execute(text("SELECT JSON_VALID(:d)"),
                              {"d": json.dumps(nested(n))}).scalar() for n in (limit, limit + 1)]
    assert valid == [1, 0]


def test_deep_data_fails_alone_in_ingest_and_ingest_many(tenant_ctx):
    account = make_account(tenant_ctx)
    limit = callbacks.MAX_JSON_NESTING
    # data.extra at the limit: data adds one level, the event's object another.
    at_limit = conversation(account.guid, extra=nested(limit - 2))
    too_deep = conversation(account.guid, extra=nested(limit - 1))
    alone = callbacks.ingest(too_deep)
    assert alone.status is FAILED and alone.parsed_data is None
    assert alone.error_message == (f"data: nests {limit + 1} arrays/objects deep; MariaDB "
                                   f"stores JSON up to {limit} levels")
    batch = callbacks.ingest_many([conversation(account.guid), too_deep, at_limit,
                                   conversation(account.guid)])
    assert [e.status for e in batch] == [OK, FAILED, OK, OK]
    assert [callbacks.get_event(e.id).status for e in batch] == [OK, FAILED, OK, OK]


def test_replay_of_received_events_with_a_poison_one_finishes_them_all(tenant_ctx):
    account = make_account(tenant_ctx)
    # As an ingest that died after storing: raw rows, never processed.
    stranded = callbacks.store_raw_many([
        conversation(account.guid), conversation(account.guid, extra=nested(40)),
        conversation(account.guid)])
    replayed = {e.id: e for e in callbacks.replay(status="received", limit=10_000)}
    assert [replayed[e.id].status for e in stranded] == [OK, FAILED, OK]
    assert {callbacks.get_event(e.id).status for e in stranded} == {OK, FAILED}  # none left
    assert "nests 42 arrays/objects deep" in replayed[stranded[1].id].error_message


def test_cli_ingest_goes_on_past_a_poison_line(tenant_ctx, tmp_path):
    account = make_account(tenant_ctx)
    lines = [conversation(account.guid), conversation(account.guid, extra=nested(35)),
             conversation(account.guid)]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = CliRunner().invoke(callbacks_app, ["ingest", str(path), "--chunk", "2"])
    assert result.exit_code == 0, result.output
    assert "3 events: 2 processed, 0 ignored, 1 failed" in result.output


def test_every_notify_type_has_a_handler():
    assert set(callbacks.HANDLERS) == set(NotifyType)


def test_a_notify_type_without_a_handler_fails_alone_then_replays(tenant_ctx, monkeypatch,
                                                                   super_ctx):
    account = make_account(tenant_ctx)
    monkeypatch.delitem(callbacks.HANDLERS, NotifyType.CONVERSATION_UPSERT)
    heartbeat = make_event(account.guid, NotifyType.ACCOUNT_HEARTBEAT, {})
    batch = callbacks.ingest_many([heartbeat, conversation(account.guid), heartbeat
                                   .replace('"event_id": "', '"event_id": "2')])
    assert [e.status for e in batch] == [OK, FAILED, OK]
    assert batch[1].error_message.startswith("notify_type: no handler for notify type 30001")
    monkeypatch.undo()  # the handler is back: the kept event applies
    (again,) = callbacks.replay_events(super_ctx, [batch[1].id])
    assert again.status is OK


def test_a_value_the_database_refuses_fails_only_its_event(tenant_ctx):
    account = make_account(tenant_ctx)
    (first, second) = messages.enqueue_many(tenant_ctx, text_rows(account.id, 2))
    dispatch_once(RecordingGateway())

    def receipt(message_id: str, wework_msg_id: str) -> str:
        return make_event(account.guid, NotifyType.MESSAGE_RECEIPT,
                          {"message_id": message_id, "status": "delivered",
                           "wework_msg_id": wework_msg_id})

    # messages.wework_msg_id is VARCHAR(100): the server refuses 101 characters.
    batch = callbacks.ingest_many([receipt(first, "w" * 101), receipt(second, "wx-ok")])
    assert [e.status for e in batch] == [FAILED, OK]
    assert batch[0].error_message.startswith("database error: DataError: (1406")
    assert "w" * 101 not in batch[0].error_message  # the statement's values are not echoed
    got = messages_of(tenant_ctx.tenant_id, [first, second])
    assert (got[first].status, got[second].status) == (MS.SENT, MS.DELIVERED)

"""Batch tasks: the four target types, expansion, counters = message counts,
pause/resume/cancel, send strategy (rate per minute, windows)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from messaging_helpers import (
    RecordingGateway,
    batch_invariant,
    make_account,
    make_conversations,
    messages_of,
)

from wework.enums import BatchStatus
from wework.errors import InvalidTransitionError, QuotaExceededError, ValidationError
from wework.gateway.base import NotifyType, make_event
from wework.models import utcnow
from wework.services import batches, callbacks, templates
from wework.services.dispatcher import dispatch_once

TEXT = {"message_type": "text", "content": {"text": "sale!"}}


def drain(gw, now=None):
    while dispatch_once(gw, now=now, limit=200).claimed:
        pass


def receipt(guid, message_id, status="delivered"):
    return make_event(guid, NotifyType.MESSAGE_RECEIPT, {"message_id": message_id,
                                                          "status": status})


def test_manual_batch_runs_to_completion_with_counters_in_step(tenant_ctx):
    account = make_account(tenant_ctx)
    task = batches.create_batch(
        tenant_ctx, task_name="b", account_id=account.id, target_type="manual",
        target_config={"conversation_ids": ["a", "b", "c", "d", "a"]}, **TEXT,
    )
    assert task.status is BatchStatus.RUNNING and task.total_count == 4  # "a" once
    stored, expected = batch_invariant(tenant_ctx.tenant_id, task.id)
    assert stored == expected
    gw = RecordingGateway()
    ids = sorted(messages_of(tenant_ctx.tenant_id))
    gw.fail_ids.add(ids[0])
    gw.retryable = False
    drain(gw)
    stored, expected = batch_invariant(tenant_ctx.tenant_id, task.id)
    assert stored == expected
    assert (stored["sent_count"], stored["failed_count"]) == (3, 1)
    assert stored["progress_percent"] == 100
    assert batches.get_batch(tenant_ctx, task.id).status is BatchStatus.COMPLETED
    for mid in ids[1:3]:
        callbacks.ingest(receipt(account.guid, mid))
    callbacks.ingest(receipt(account.guid, ids[3], "failed"))
    stored, expected = batch_invariant(tenant_ctx.tenant_id, task.id)
    assert stored == expected
    assert (stored["success_count"], stored["failed_count"], stored["sent_count"]) == (2, 2, 2)
    assert batches.get_batch(tenant_ctx, task.id).end_time is not None


def test_import_targets_with_template_variables(tenant_ctx):
    account = make_account(tenant_ctx)
    t = templates.create_template(
        tenant_ctx, template_name="hi", template_type="text",
        template_content={"text": "Hi {{name}} from {{shop}}"}, variables=["name", "shop"],
    )
    rows = [{"conversation_id": "c1", "variables": {"name": "Li"}},
            {"conversation_id": "c2", "variables": {"name": "Wang"}}]
    task = batches.create_batch(
        tenant_ctx, task_name="imp", account_id=account.id, target_type="import",
        target_config={"rows": rows}, template_id=t.id, template_values={"shop": "S1"},
    )
    texts = sorted(m.content["text"] for m in messages_of(tenant_ctx.tenant_id).values())
    assert texts == ["Hi Li from S1", "Hi Wang from S1"]
    assert templates.get_template(tenant_ctx, t.id).usage_count == 2
    assert {m.template_id for m in messages_of(tenant_ctx.tenant_id).values()} == {t.id}
    # A row missing a variable refuses the whole batch; nothing is written or counted.
    rows.append({"conversation_id": "c3"})
    with pytest.raises(ValidationError) as err:
        batches.create_batch(
            tenant_ctx, task_name="imp2", account_id=account.id, target_type="import",
            target_config={"rows": rows}, template_id=t.id,
        )
    assert err.value.field == "targets[0].variables.shop"
    assert len(messages_of(tenant_ctx.tenant_id)) == 2
    assert templates.get_template(tenant_ctx, t.id).usage_count == 2
    assert len(batches.list_batches(tenant_ctx, fresh=True).items) == 1
    assert task.template_id == t.id


def test_group_and_filter_targets(tenant_ctx):
    account = make_account(tenant_ctx)
    groups = make_conversations(account, 3, "group")
    vip = make_conversations(account, 2, "private", tags=["vip", "new"])
    make_conversations(account, 2, "private", tags=["old"])
    task = batches.create_batch(tenant_ctx, task_name="g", account_id=account.id,
                                target_type="group", target_config={}, **TEXT)
    assert {m.conversation_id for m in messages_of(tenant_ctx.tenant_id).values()
            if m.batch_id == task.id} == set(groups)
    task = batches.create_batch(tenant_ctx, task_name="f", account_id=account.id,
                                target_type="filter",
                                target_config={"tags": ["vip"], "conversation_type": "private"},
                                **TEXT)
    assert {m.conversation_id for m in messages_of(tenant_ctx.tenant_id).values()
            if m.batch_id == task.id} == set(vip)
    with pytest.raises(ValidationError) as err:
        batches.create_batch(tenant_ctx, task_name="f", account_id=account.id,
                             target_type="filter", target_config={"tags": ["nobody"]}, **TEXT)
    assert err.value.field == "target_config"
    with pytest.raises(ValidationError) as err:
        batches.create_batch(tenant_ctx, task_name="f", account_id=account.id,
                             target_type="everyone", target_config={}, **TEXT)
    assert err.value.field == "target_type"


def test_pause_resume_cancel(tenant_ctx):
    account = make_account(tenant_ctx)
    task = batches.create_batch(
        tenant_ctx, task_name="p", account_id=account.id, target_type="manual",
        target_config={"conversation_ids": [f"c{i}" for i in range(6)]}, **TEXT,
    )
    batches.pause_batch(tenant_ctx, task.id)
    gw = RecordingGateway()
    drain(gw)
    assert gw.sent_for(tenant_ctx.tenant_id) == []
    with pytest.raises(InvalidTransitionError):
        batches.pause_batch(tenant_ctx, task.id)
    batches.resume_batch(tenant_ctx, task.id)
    dispatch_once(gw, limit=2)
    assert len(gw.sent_for(tenant_ctx.tenant_id)) == 2
    done = batches.cancel_batch(tenant_ctx, task.id)
    assert done.status is BatchStatus.CANCELLED
    statuses = sorted(m.status.value for m in messages_of(tenant_ctx.tenant_id).values())
    assert statuses == ["cancelled"] * 4 + ["sent"] * 2
    stored, expected = batch_invariant(tenant_ctx.tenant_id, task.id)
    assert stored == expected and stored["total_count"] == 2
    drain(gw)
    assert len(gw.sent_for(tenant_ctx.tenant_id)) == 2
    with pytest.raises(InvalidTransitionError):
        batches.resume_batch(tenant_ctx, task.id)


def test_rate_limit_per_account_and_send_windows(tenant_ctx):
    account = make_account(tenant_ctx)
    limited = batches.create_batch(
        tenant_ctx, task_name="r", account_id=account.id, target_type="manual",
        target_config={"conversation_ids": [f"c{i}" for i in range(5)]},
        send_strategy={"rate_per_minute": 2}, **TEXT,
    )
    gw = RecordingGateway()
    report = dispatch_once(gw, limit=50)
    assert len(gw.sent_for(tenant_ctx.tenant_id)) == 2 and report.held_back >= 3
    dispatch_once(gw, limit=50)
    assert len(gw.sent_for(tenant_ctx.tenant_id)) == 2  # still the same minute
    later = utcnow().replace(microsecond=0) + timedelta(seconds=61)
    dispatch_once(gw, now=later, limit=50)
    assert len(gw.sent_for(tenant_ctx.tenant_id)) == 4
    stored, expected = batch_invariant(tenant_ctx.tenant_id, limited.id)
    assert stored == expected

    # 09:00–10:00 Shanghai = 01:00–02:00 UTC.
    windowed = batches.create_batch(
        tenant_ctx, task_name="w", account_id=account.id, target_type="manual",
        target_config={"conversation_ids": ["w1", "w2"]},
        send_strategy={"windows": [["09:00", "10:00"]], "timezone": "Asia/Shanghai"}, **TEXT,
    )
    outside = datetime(2030, 1, 1, 3, 0)
    inside = datetime(2030, 1, 1, 1, 30)
    gw2 = RecordingGateway()
    dispatch_once(gw2, now=outside, limit=50)
    windowed_ids = {m.id for m in messages_of(tenant_ctx.tenant_id).values()
                    if m.batch_id == windowed.id}
    assert not windowed_ids & set(gw2.sent_for(tenant_ctx.tenant_id))
    dispatch_once(gw2, now=inside, limit=50)
    assert windowed_ids <= set(gw2.sent_for(tenant_ctx.tenant_id))


@pytest.mark.parametrize(
    ("strategy", "field"),
    [
        ({"rate_per_minute": 0}, "send_strategy.rate_per_minute"),
        ({"windows": [["9:00", "21:00"]]}, "send_strategy.windows[0]"),
        ({"windows": [["09:00", "21:00"]], "timezone": "Mars/Base"}, "send_strategy.timezone"),
        ({"burst": 3}, "send_strategy.burst"),
    ],
)
def test_bad_strategy_is_refused(tenant_ctx, strategy, field):
    account = make_account(tenant_ctx)
    with pytest.raises(ValidationError) as err:
        batches.create_batch(tenant_ctx, task_name="s", account_id=account.id,
                             target_type="manual", target_config={"conversation_ids": ["c"]},
                             send_strategy=strategy, **TEXT)
    assert err.value.field == field


def test_window_over_midnight():
    s = batches.parse_strategy({"windows": [["22:00", "02:00"]]})
    assert batches.in_send_window(s, datetime(2030, 1, 1, 23, 0))
    assert batches.in_send_window(s, datetime(2030, 1, 1, 1, 0))
    assert not batches.in_send_window(s, datetime(2030, 1, 1, 12, 0))


def test_batch_quota_is_checked_for_the_whole_batch(make_tenant):
    world = make_tenant(max_daily_messages=3)
    account = make_account(world.ctx)
    with pytest.raises(QuotaExceededError):
        batches.create_batch(world.ctx, task_name="q", account_id=account.id,
                             target_type="manual",
                             target_config={"conversation_ids": ["a", "b", "c", "d"]}, **TEXT)
    assert batches.list_batches(world.ctx, fresh=True).items == []


def test_batch_permissions_and_tenant_isolation(make_tenant):
    from wework.errors import NotFoundError, PermissionDeniedError

    a, b = make_tenant(), make_tenant()
    account = make_account(a.ctx)
    task = batches.create_batch(a.ctx, task_name="x", account_id=account.id,
                                target_type="manual", target_config={"conversation_ids": ["c"]},
                                **TEXT)
    analyst = a.user_ctx("analyst")
    assert batches.get_batch(analyst, task.id).id == task.id  # report:view reads
    with pytest.raises(PermissionDeniedError):
        batches.pause_batch(analyst, task.id)
    with pytest.raises(PermissionDeniedError):
        batches.create_batch(analyst, task_name="y", account_id=account.id,
                             target_type="manual", target_config={"conversation_ids": ["c"]},
                             **TEXT)
    for action in (batches.get_batch, batches.pause_batch, batches.cancel_batch):
        with pytest.raises(NotFoundError):
            action(b.ctx, task.id)
    assert batches.list_batches(b.ctx, fresh=True).items == []


def test_a_held_back_batch_does_not_starve_other_messages(tenant_ctx):
    from wework.services import messages

    account = make_account(tenant_ctx)
    # 10 urgent batch messages outside their window (09:00–10:00 UTC) …
    batches.create_batch(
        tenant_ctx, task_name="night", account_id=account.id, target_type="manual",
        target_config={"conversation_ids": [f"n{i}" for i in range(10)]}, priority=10,
        send_strategy={"windows": [["09:00", "10:00"]]}, **TEXT,
    )
    # … ahead of one ordinary low-priority message.
    plain = messages.send_message(tenant_ctx, account_id=account.id, conversation_id="p",
                                  message_type="text", content={"text": "x"}, priority=1)
    gw = RecordingGateway()
    held = 0
    for _ in range(30):  # other tests' due messages may go first: one per round
        report = dispatch_once(gw, now=datetime(2030, 1, 1, 12, 0), limit=1)
        held += report.held_back
        if gw.sent_for(tenant_ctx.tenant_id) or report.claimed == 0:
            break
    assert gw.sent_for(tenant_ctx.tenant_id) == [plain.id]
    assert held >= 3

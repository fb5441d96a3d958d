"""Each default rule fires on real data and resolves again, and the operators' webhook (a
local HTTP receiver checking signatures) gets exactly one firing and one resolved notice
per alert; a firing alert is not repeated before its repeat interval. Time-based rules
move the clock of the check, never the machine's.

Every test uses its own copy of a default rule (a unique name), so the alerts other
tests of this session raise never mix with its own."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from messaging_helpers import make_account
from sqlalchemy import select, text

from wework.alerts.engine import evaluate
from wework.alerts.notify import deliver_pending
from wework.alerts.rules import Rule, load_rules
from wework.config import Settings
from wework.db import migrate
from wework.db.engines import Role, get_engine
from wework.db.replication import wait_for_replica
from wework.enums import AlertState, NoticeDelivery
from wework.metrics.database import partition_headroom
from wework.models import Alert, AlertNotice, WebhookOutbox
from wework.services import accounts, callbacks
from wework.services.uow import shard_read_session

FIRING, RESOLVED = "alert.firing", "alert.resolved"


def default(name: str, settings: Settings, **changes) -> Rule:
    """The default rule ``name`` under a name of this test's own."""
    rule = next(r for r in load_rules(settings) if r.name == name)
    return replace(rule, name=f"{name}_{uuid.uuid4().hex[:8]}", **changes)


def cycle(settings: Settings, rules: list[Rule], now: datetime):
    """One evaluation at ``now`` and the posting of its notices, as the worker's job."""
    result = evaluate(settings, now, rules=rules)
    assert not result.errors, result.errors
    deliver_pending(settings, now)
    return result


def state(rule: Rule, subject: str) -> AlertState | None:
    with shard_read_session(0, fresh=True) as s:
        alert = s.scalar(select(Alert).where(Alert.rule == rule.name, Alert.subject == subject))
    return None if alert is None else alert.state


def test_partition_headroom_fires_when_the_clock_nears_p_future_and_repeats_only_on_schedule(
    alerting, alert_receiver
):
    migrate.partitions(alerting)  # what the worker's partitions job keeps doing
    rule = default("partition_headroom", alerting)
    now = datetime.now(UTC)
    cycle(alerting, [rule], now)
    assert alert_receiver.of(rule.name) == []  # months ahead: nothing to say

    with get_engine(Role.PRIMARY, None, alerting).connect() as conn:
        headroom = partition_headroom(conn, alerting.shard_databases, now)
    soonest = min(headroom, key=lambda h: h.future_from)
    subject = f"{soonest.schema}.{soonest.table}"
    late = soonest.future_from - timedelta(days=10)  # 10 days left < 30
    cycle(alerting, [rule], late)
    assert state(rule, subject) is AlertState.FIRING
    assert alert_receiver.of(rule.name, subject) == [(FIRING, 0)]

    # Still firing a minute later, and an hour later: no new notice (repeat is a day).
    cycle(alerting, [rule], late + timedelta(minutes=1))
    cycle(alerting, [rule], late + timedelta(hours=1))
    assert alert_receiver.of(rule.name, subject) == [(FIRING, 0)]
    # A day on: one reminder.
    cycle(alerting, [rule], late + timedelta(days=1, minutes=1))
    assert alert_receiver.of(rule.name, subject) == [(FIRING, 0), (FIRING, 1)]

    cycle(alerting, [rule], now)  # back to today: months of headroom again
    assert state(rule, subject) is AlertState.OK
    assert alert_receiver.of(rule.name, subject) == [(FIRING, 0), (FIRING, 1), (RESOLVED, 0)]
    assert alert_receiver.refused == 0


def test_a_tenant_with_too_many_accounts_offline_fires_to_the_operators_and_the_tenant(
    alerting, alert_receiver, make_tenant
):
    world = make_tenant(webhook_url="https://hooks.example.com/wework")
    other = make_tenant(webhook_url="https://hooks.example.com/other")
    healthy = [make_account(world.ctx, "online") for _ in range(4)]
    make_account(other.ctx, "online")
    rule = default("tenant_accounts_unhealthy", alerting)
    tenant = world.tenant.id

    wait_for_replica(settings=alerting)
    cycle(alerting, [rule], datetime.now(UTC))
    assert alert_receiver.of(rule.name, tenant) == []

    accounts.change_status(world.ctx, healthy[0].id, "offline", reason="test")  # 1 of 4: 25 %
    wait_for_replica(settings=alerting)
    cycle(alerting, [rule], datetime.now(UTC))
    assert state(rule, tenant) is AlertState.FIRING
    assert alert_receiver.of(rule.name, tenant) == [(FIRING, 0)]
    assert state(rule, other.tenant.id) is None  # the other tenant is fine

    accounts.change_status(world.ctx, healthy[0].id, "logging_in", reason="test")  # 0 of 4
    wait_for_replica(settings=alerting)
    cycle(alerting, [rule], datetime.now(UTC))
    assert state(rule, tenant) is AlertState.OK
    assert alert_receiver.of(rule.name, tenant) == [(FIRING, 0), (RESOLVED, 0)]

    # The tenant's own webhook got the same two, through its outbox, and only the tenant
    # it is about.
    with shard_read_session(0, fresh=True) as s:
        rows = list(s.scalars(select(WebhookOutbox).where(
            WebhookOutbox.event_type.in_([FIRING, RESOLVED]),
            WebhookOutbox.tenant_id.in_([tenant, other.tenant.id]))
            .order_by(WebhookOutbox.created_at, WebhookOutbox.id)))
    mine = [r for r in rows if r.payload["data"]["rule"] == rule.name]
    assert [(r.tenant_id, r.event_type) for r in mine] == [(tenant, FIRING), (tenant, RESOLVED)]
    assert mine[0].payload["data"]["subject"] == tenant


def _callback_counts(settings: Settings, since: datetime) -> tuple[int, int]:
    with get_engine(Role.REPLICA, 0, settings).connect() as conn:
        failed, finished = conn.execute(text(
            "SELECT COALESCE(SUM(status = 'failed'), 0), "
            "COALESCE(SUM(status IN ('processed', 'failed')), 0) FROM callback_events "
            "WHERE received_time >= :since"), {"since": since.replace(tzinfo=None)}).one()
    return int(failed), int(finished)


def test_failing_callbacks_fire_the_failure_rate_and_it_resolves_as_they_age_out(
    alerting, alert_receiver
):
    rule = default("callback_failure_rate", alerting)
    window = timedelta(seconds=rule.params["window_seconds"])
    # Other tests of this session may have processed callbacks just now: fail enough of
    # them to be well over 5 % whatever they did.
    failed, finished = _callback_counts(alerting, datetime.now(UTC) - window)
    n = max(5, int((0.10 * finished - failed) / 0.90) + 1)
    stored = callbacks.ingest_many([f'{{"guid": "x-{i}", broken' for i in range(n)])
    assert {e.status.value for e in stored} == {"failed"}
    wait_for_replica(settings=alerting)
    now = datetime.now(UTC) + timedelta(seconds=1)
    result = cycle(alerting, [rule], now)
    assert state(rule, "callbacks") is AlertState.FIRING, result.line()
    assert alert_receiver.of(rule.name) == [(FIRING, 0)]

    # Ten minutes on, those failures are out of the window: nothing finished, no rate.
    cycle(alerting, [rule], now + window + timedelta(seconds=5))
    assert state(rule, "callbacks") is AlertState.OK
    assert alert_receiver.of(rule.name) == [(FIRING, 0), (RESOLVED, 0)]


def test_backup_age_rules_wait_for_the_first_backup_then_hold_the_rpo(
    alerting, alert_receiver, tmp_path
):
    from wework.ops.backup import full_backup, incremental_backup

    s = alerting.model_copy(update={"backup_dir": tmp_path / "backups"})
    full = default("backup_full_age", s)
    recovery = default("backup_recovery_point_age", s)
    cycle(s, [full, recovery], datetime.now(UTC) + timedelta(days=3))
    assert state(full, "backups") is None  # no backup configured yet: nothing to hold

    first = full_backup(s)
    cycle(s, [recovery], first.time + timedelta(minutes=16))  # 16 min > the 15 min RPO
    assert state(recovery, "backups") is AlertState.FIRING
    second = incremental_backup(s)
    cycle(s, [recovery], second.time + timedelta(minutes=1))
    assert state(recovery, "backups") is AlertState.OK
    assert alert_receiver.of(recovery.name) == [(FIRING, 0), (RESOLVED, 0)]

    cycle(s, [full], second.time + timedelta(hours=25))  # the full one is over a day old
    assert state(full, "backups") is AlertState.FIRING
    third = full_backup(s)
    cycle(s, [full], third.time + timedelta(minutes=1))
    assert state(full, "backups") is AlertState.OK
    assert alert_receiver.of(full.name) == [(FIRING, 0), (RESOLVED, 0)]


def test_disk_and_cache_rules_follow_their_thresholds(alerting, alert_receiver):
    """Nobody fills the machine's disk in a test: the rule's threshold moves instead
    (rules are data), over the real free space; the cache rule over Redis' real counters."""
    from wework.cache.redis import get_redis

    redis = get_redis(alerting)
    key = f"wework:test:{uuid.uuid4().hex}"
    redis.call(lambda r: (r.get(key), r.set(key, "1", ex=60), r.get(key)), default=None)
    now = datetime.now(UTC)
    for name in ("disk_free", "cache_hit_rate"):
        always = default(name, alerting, below=1.01, for_seconds=0)
        if name == "cache_hit_rate":  # the test's few reads decide the rate here
            always = replace(always, params={"min_lookups": 1})
        cycle(alerting, [always], now)
        (alert,) = _alerts(always)
        assert alert.state is AlertState.FIRING and 0 <= alert.value <= 1, alert.summary
        cycle(alerting, [replace(always, below=0.0)], now + timedelta(minutes=1))
        assert _alerts(always)[0].state is AlertState.OK
        assert alert_receiver.of(always.name) == [(FIRING, 0), (RESOLVED, 0)]


def _alerts(rule: Rule) -> list[Alert]:
    with shard_read_session(0, fresh=True) as s:
        return list(s.scalars(select(Alert).where(Alert.rule == rule.name)))


def test_a_notice_the_receiver_refuses_is_retried_with_the_same_webhook_id(
    alerting, alert_receiver
):
    rule = default("disk_free", alerting, below=1.01)
    now = datetime.now(UTC)
    down = alerting.model_copy(update={"alert_webhook_url": "http://127.0.0.1:9/closed"})
    evaluate(down, now, rules=[rule])
    assert deliver_pending(down, now)["retry"] == 1
    with shard_read_session(0, fresh=True) as s:
        (notice,) = s.scalars(select(AlertNotice).where(AlertNotice.rule == rule.name))
    assert notice.delivery is NoticeDelivery.PENDING and notice.attempts == 1
    assert "127.0.0.1" not in notice.last_error  # the URL may carry a token: never shown
    assert deliver_pending(alerting, now)["delivered"] == 0  # not due yet
    assert deliver_pending(alerting, now + timedelta(minutes=2))["delivered"] == 1
    (got,) = [n for n in alert_receiver.notices if n["data"]["rule"] == rule.name]
    assert got["data"]["notice_id"] == notice.id and got["type"] == FIRING
    assert json.dumps(got).find(alert_receiver.secret) == -1

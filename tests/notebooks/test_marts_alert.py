"""The marts_stale alert rule over the really published marts: quiet while they are fresh,
firing once the check's clock is past two hours after their publish, resolved when the
clock is back (a new publish)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from wework.alerts.engine import evaluate
from wework.alerts.rules import load_rules
from wework.enums import AlertState, NoticeKind
from wework.models import Alert, AlertNotice
from wework.services.uow import shard_read_session
from wework.warehouse import open_marts


def test_stale_marts_fire_and_resolve(settings, published_marts):
    rule = next(r for r in load_rules(settings) if r.name == "marts_stale")
    rule = replace(rule, name=f"marts_stale_{uuid.uuid4().hex[:8]}")
    con = open_marts(settings)
    try:
        (published_at,) = con.execute("SELECT published_at FROM marts.publish_info").fetchone()
    finally:
        con.close()
    published = published_at.replace(tzinfo=UTC)

    def run(at: datetime) -> AlertState | None:
        result = evaluate(settings, at, rules=[rule])
        assert not result.errors, result.errors
        with shard_read_session(0, fresh=True) as s:
            alert = s.scalar(select(Alert).where(Alert.rule == rule.name))
        return None if alert is None else alert.state

    assert run(published + timedelta(minutes=5)) is None
    assert run(published + timedelta(hours=2, minutes=1)) is AlertState.FIRING
    assert run(published + timedelta(hours=3)) is AlertState.FIRING  # no second notice
    assert run(published + timedelta(minutes=30)) is AlertState.OK
    with shard_read_session(0, fresh=True) as s:
        kinds = list(s.scalars(select(AlertNotice.kind).where(AlertNotice.rule == rule.name)
                               .order_by(AlertNotice.id)))
    assert kinds == [NoticeKind.FIRING, NoticeKind.RESOLVED]

"""Replication rules on a private MariaDB pair (never the shared one): stopping the
replica's SQL thread fires "replication stopped" at once and "replica lag" after a minute
over 1 s; starting it again resolves both. The minute is the check's clock."""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from stacks import private_stack

from wework.alerts.engine import evaluate
from wework.alerts.notify import deliver_pending
from wework.alerts.rules import load_rules
from wework.db import migrate
from wework.db.replication import wait_for_replica
from wework.metrics.database import read_replication

pytestmark = pytest.mark.slow


def wait_lag(settings, above: float | None = None, below: float | None = None) -> float:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        lag = read_replication(settings).lag_seconds
        if lag is not None and (above is None or lag > above) and (below is None or lag < below):
            return lag
        time.sleep(0.2)
    raise TimeoutError(f"replica lag never went {'above' if above else 'below'} the mark")


def test_a_stopped_sql_thread_fires_both_replication_rules_and_restarting_resolves_them(
    alerting, alert_receiver
):
    with private_stack("alerts") as stack:
        s = stack.settings().model_copy(update={
            "db_name": f"wework_alerts_{uuid.uuid4().hex[:8]}",
            "alert_webhook_url": alerting.alert_webhook_url,
            "alert_webhook_secret": alerting.alert_webhook_secret,
        })
        migrate.upgrade(settings=s)
        rules = {r.name: r for r in load_rules(s)}
        suffix = uuid.uuid4().hex[:8]
        lag = replace(rules["replica_lag"], name=f"replica_lag_{suffix}")
        stopped = replace(rules["replication_stopped"], name=f"replication_stopped_{suffix}")

        def cycle(at: datetime) -> None:
            result = evaluate(s, at, rules=[lag, stopped])
            assert not result.errors, result.errors
            deliver_pending(s, at)

        wait_lag(s, below=1.0)
        now = datetime.now(UTC)
        cycle(now)
        assert alert_receiver.of(lag.name) == alert_receiver.of(stopped.name) == []

        stack._sql(stack.replica, "STOP SLAVE SQL_THREAD", log_bin=False)
        try:
            wait_lag(s, above=1.5)
            cycle(now + timedelta(seconds=5))
            assert alert_receiver.of(stopped.name) == [("alert.firing", 0)]
            assert alert_receiver.of(lag.name) == []  # over 1 s, not yet for a minute
            cycle(now + timedelta(seconds=66))
            assert alert_receiver.of(lag.name) == [("alert.firing", 0)]
            cycle(now + timedelta(seconds=126))  # still stopped: no new notice
        finally:
            stack._sql(stack.replica, "START SLAVE SQL_THREAD", log_bin=False)
        wait_for_replica(timeout=60, settings=s)
        wait_lag(s, below=1.0)
        cycle(now + timedelta(seconds=186))
        assert alert_receiver.of(stopped.name) == [("alert.firing", 0), ("alert.resolved", 0)]
        assert alert_receiver.of(lag.name) == [("alert.firing", 0), ("alert.resolved", 0)]

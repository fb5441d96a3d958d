"""The gauge collector against the real primary + replica, the read-back query and the
`wework metrics` commands, all against a real VictoriaMetrics."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from metrics_vm import export, wait_for_points
from ports import free_port
from sqlalchemy import Engine, insert
from typer.testing import CliRunner

from wework import metrics
from wework.cli import app
from wework.config import Settings
from wework.db.replication import wait_for_replica
from wework.metrics.localserver import VictoriaMetricsServer
from wework.metrics.query import (
    MetricsQueryError,
    MetricsQueryRefused,
    over_range,
    recent,
    series_names,
)
from wework.models import CallbackEvent, Message, WeworkAccount


def _account(tenant: str, status: str, heartbeat_age_s: float | None) -> dict:
    now = datetime.now(UTC).replace(tzinfo=None)
    return {
        "id": str(uuid.uuid4()),
        "tenant_id": tenant,
        "account_name": f"acct-{uuid.uuid4().hex[:8]}",
        "status": status,
        "last_heartbeat_time": None
        if heartbeat_age_s is None
        else now - timedelta(seconds=heartbeat_age_s),
    }


def _message(tenant: str, account_id: str, status: str, updated_ago_s: float = 0) -> dict:
    now = datetime.now(UTC).replace(tzinfo=None)
    return {
        "id": str(uuid.uuid4()),
        "tenant_id": tenant,
        "account_id": account_id,
        "conversation_id": "conv-1",
        "message_type": "text",
        "content": {"text": "hi"},
        "status": status,
        "created_at": now - timedelta(seconds=updated_ago_s),
        "updated_at": now - timedelta(seconds=updated_ago_s),
    }


def _callback(status: str) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "guid": "guid-1",
        "notify_type": 1,
        "event_type": "message.status",
        "raw_data": "{}",
        "status": status,
    }


def test_collector_reads_replica_and_records_gauges(
    empty_db: Settings, primary: Engine, vm: VictoriaMetricsServer
) -> None:
    a, b = "tenant-a-" + uuid.uuid4().hex[:6], "tenant-b-" + uuid.uuid4().hex[:6]
    accounts = [
        _account(a, "online", 5),
        _account(a, "online", 600),  # stale: silent for 10 minutes
        _account(a, "offline", None),
        _account(b, "error", None),
        _account(b, "online", 1),
    ]
    sender = accounts[0]["id"]
    messages = [
        _message(a, sender, "pending"),
        _message(a, sender, "pending"),
        _message(a, sender, "failed", updated_ago_s=60),
        _message(a, sender, "failed", updated_ago_s=2 * 3600),  # outside the last hour
        _message(b, sender, "sent"),
    ]
    callbacks = [_callback("failed"), _callback("received"), _callback("processed")]
    with primary.begin() as conn:
        conn.execute(insert(WeworkAccount), accounts)
        conn.execute(insert(Message), messages)
        conn.execute(insert(CallbackEvent), callbacks)
    wait_for_replica(settings=empty_db)

    settings = empty_db.model_copy(update={"influx_url": vm.url})
    metrics.configure(settings, flush_interval=60)
    try:
        gauges = metrics.collect_platform_gauges(settings)
        assert metrics.flush() is True
    finally:
        metrics.close()

    assert gauges.accounts == {a: {"online": 2, "offline": 1}, b: {"error": 1, "online": 1}}
    online, stale, max_age = gauges.heartbeat[a]
    assert (online, stale) == (2, 1)
    assert 600 <= max_age < 700
    assert gauges.messages[a] == (2, 1)
    assert gauges.messages[b] == (0, 0)
    assert (gauges.failed_callbacks, gauges.callback_backlog) == (1, 1)
    assert gauges.replica_lag_seconds is not None and gauges.replica_lag_seconds >= 0

    series = wait_for_points(vm.url, f'{{tenant_id="{a}"}}', 7)
    got = {s["metric"]["__name__"]: s["values"][-1] for s in series}
    assert got["accounts_online"] == 2
    assert got["accounts_offline"] == 1
    assert got["heartbeat_stale_accounts"] == 1
    assert got["messages_pending"] == 2
    assert got["messages_failed_last_hour"] == 1
    assert export(vm.url, "callbacks_failed")[-1]["values"][-1] == 1
    assert wait_for_points(vm.url, "replica_lag_seconds", 1)


def test_recent_returns_points_with_labels(tmp_path, vm: VictoriaMetricsServer) -> None:
    tenant = "tenant-q-" + uuid.uuid4().hex[:6]
    other = "tenant-r-" + uuid.uuid4().hex[:6]
    settings = Settings(data_dir=tmp_path, influx_url=vm.url)
    now = datetime.now(UTC)
    metrics.configure(settings, flush_interval=60)
    try:
        for i in range(3):
            metrics.message_sent(tenant, "text", "sent", float(i), now - timedelta(minutes=i))
        metrics.message_sent(other, "image", "failed", 9.0, now)
        metrics.message_sent(tenant, "text", "sent", 99.0, now - timedelta(hours=3))  # too old
        assert metrics.flush()
    finally:
        metrics.close()
    wait_for_points(vm.url, f'{{tenant_id="{tenant}"}}', 8, minutes=240)

    frame = recent("message_send_latency_seconds", 30, {"tenant_id": tenant}, settings=settings)
    assert frame["value"].to_list() == [2.0, 1.0, 0.0]  # oldest first, the old one left out
    assert set(frame["tenant_id"]) == {tenant}
    assert set(frame["outcome"]) == {"sent"}
    assert frame.schema["time"].time_zone == "UTC"

    both = recent("message_send_*", 30, {"tenant_id": other}, settings=settings)
    assert sorted(both["series"].to_list()) == [
        "message_send_count",
        "message_send_latency_seconds",
    ]
    assert recent("no_such_series", 30, settings=settings).is_empty()
    assert "message_send_latency_seconds" in series_names(settings=settings)


def test_recent_errors_are_clear(tmp_path) -> None:
    with pytest.raises(MetricsQueryError, match="WEWORK_INFLUX_URL"):
        recent("x", 5, settings=Settings(data_dir=tmp_path, influx_url=None))
    down = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(MetricsQueryError, match=down):
        recent("x", 5, url=down)
    with pytest.raises(ValueError, match="series"):
        recent('x"}', 5, url=down)
    with pytest.raises(ValueError, match="minutes"):
        recent("x", 0, url=down)


def test_over_range_aggregates_a_past_window_per_step(tmp_path, vm: VictoriaMetricsServer) -> None:
    series = f"ops_range_{uuid.uuid4().hex[:6]}"
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=1)
    settings = Settings(data_dir=tmp_path, influx_url=vm.url)
    metrics.configure(settings, flush_interval=60)
    try:  # two hours of one point a minute: 1..60, then 100 from 30 minutes on
        for minute in range(120):
            value = 100.0 if minute >= 90 else float(minute % 60 + 1)
            metrics.record(
                series, {"v": value}, {"k": "a"}, hour + timedelta(minutes=minute, seconds=30)
            )
        assert metrics.flush()
    finally:
        metrics.close()
    wait_for_points(vm.url, f"{series}_v", 120, minutes=3 * 24 * 60)
    step = timedelta(hours=1)
    peaks = over_range(
        f"max_over_time({series}_v[1h])", hour + step, hour + 2 * step, step, settings=settings
    )
    assert peaks["value"].to_list() == [60.0, 100.0]  # each hour's own points
    assert peaks["time"].to_list() == [hour + step, hour + 2 * step]
    assert set(peaks["k"]) == {"a"}
    over = over_range(
        f"count_gt_over_time({series}_v[1h], 50)",
        hour + step,
        hour + 2 * step,
        step,
        settings=settings,
    )
    assert over["value"].to_list() == [10.0, 30.0]
    assert over_range(
        "no_such_series", hour + step, hour + 2 * step, step, settings=settings
    ).is_empty()
    with pytest.raises(MetricsQueryRefused, match="unknown func"):
        over_range("no_such_function(x[1h])", hour + step, hour + 2 * step, step, settings=settings)
    with pytest.raises(MetricsQueryError, match="WEWORK_INFLUX_URL"):
        over_range(
            "x", hour, hour + step, step, settings=Settings(data_dir=tmp_path, influx_url=None)
        )
    with pytest.raises(ValueError, match="end"):
        over_range("x", hour, hour, step, settings=settings)
    with pytest.raises(ValueError, match="more than 30000 points"):
        over_range("x", hour, hour + timedelta(days=60), timedelta(minutes=1), settings=settings)


def test_cli_up_down_status_idempotent(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEWORK_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("WEWORK_INFLUX_URL", raising=False)
    port = str(free_port())
    runner = CliRunner()
    try:
        first = runner.invoke(app, ["metrics", "up", "--port", port])
        assert first.exit_code == 0, first.output
        assert "started" in first.output
        again = runner.invoke(app, ["metrics", "up", "--port", port])
        assert "already running" in again.output
        status = runner.invoke(app, ["metrics", "status", "--port", port])
        assert status.exit_code == 0 and "healthy" in status.output
        assert (tmp_path / "victoria-metrics" / "victoria-metrics.pid").exists()
    finally:
        down = runner.invoke(app, ["metrics", "down", "--port", port])
    assert "stopped" in down.output
    assert "not running" in runner.invoke(app, ["metrics", "down", "--port", port]).output
    after = runner.invoke(app, ["metrics", "status", "--port", port])
    assert after.exit_code == 1 and "not running" in after.output


def test_cli_up_refuses_a_busy_port(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEWORK_DATA_DIR", str(tmp_path))
    server = VictoriaMetricsServer(tmp_path / "other", free_port())
    server.up()
    try:
        result = CliRunner().invoke(app, ["metrics", "up", "--port", str(server.port)])
        assert result.exit_code == 1
        assert "in use" in result.output
    finally:
        server.down()


def test_cli_collect_writes_and_reports_a_down_store(
    empty_db: Settings, primary: Engine, vm: VictoriaMetricsServer, monkeypatch
) -> None:
    tenant = "tenant-cli-" + uuid.uuid4().hex[:6]
    with primary.begin() as conn:
        conn.execute(insert(WeworkAccount), [_account(tenant, "online", 3)])
    wait_for_replica(settings=empty_db)
    runner = CliRunner()
    monkeypatch.setenv("WEWORK_INFLUX_URL", vm.url)
    try:
        ok = runner.invoke(app, ["metrics", "collect"])
        assert ok.exit_code == 0, ok.output
        assert "wrote" in ok.output
        assert wait_for_points(vm.url, f'{{__name__="accounts_online",tenant_id="{tenant}"}}', 1)

        down = f"http://127.0.0.1:{free_port()}"
        monkeypatch.setenv("WEWORK_INFLUX_URL", down)
        failed = runner.invoke(app, ["metrics", "collect"])
        assert failed.exit_code == 1
        assert f"could not write to {down}" in failed.output
    finally:
        metrics.close()

"""The recorder against a real VictoriaMetrics: points written through influxdb-client are
read back over its HTTP export API, and a store that is down or hung never reaches the
caller (bounded buffer, counted drops, delivery once it is back)."""

from __future__ import annotations

import os
import signal
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from metrics_vm import all_values, export, wait_for_points

from wework import metrics
from wework.config import Settings
from wework.metrics.localserver import VictoriaMetricsServer
from wework.metrics.recorder import MetricsRecorder, NullRecorder, to_line


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def test_points_round_trip_with_tags_and_times(vm: VictoriaMetricsServer) -> None:
    name = unique("roundtrip")
    # Two days back (inside the server's 90-day retention), millisecond precision.
    at = (datetime.now(UTC) - timedelta(days=2)).replace(microsecond=678000)
    recorder = MetricsRecorder(vm.url, flush_interval=60)
    try:
        recorder.record(name, {"latency_seconds": 0.25, "count": 3}, {"tenant_id": "t-1"}, at)
        # Naive datetimes are UTC, like every timestamp of the platform.
        recorder.record(name, {"latency_seconds": 1.5}, {"tenant_id": "t-2"}, datetime.now())
        assert recorder.flush() is True
        stats = recorder.stats()
        assert (stats.written, stats.buffered, stats.dropped) == (2, 0, 0)
    finally:
        recorder.close()

    series = wait_for_points(vm.url, f'{{__name__=~"{name}_.*"}}', 3, minutes=3 * 24 * 60)
    by_key = {(s["metric"]["__name__"], s["metric"]["tenant_id"]): s for s in series}
    old = by_key[(f"{name}_latency_seconds", "t-1")]
    assert old["values"] == [0.25]
    assert old["timestamps"] == [int(at.timestamp() * 1000)]
    assert by_key[(f"{name}_count", "t-1")]["values"] == [3]
    recent = by_key[(f"{name}_latency_seconds", "t-2")]
    now_ms = datetime.now(UTC).timestamp() * 1000
    assert abs(recent["timestamps"][0] - now_ms) < 60_000  # stamped now in UTC, not local


def test_background_thread_flushes_on_batch_size(vm: VictoriaMetricsServer) -> None:
    name = unique("batched")
    # A long interval: only reaching batch_size can wake the writer.
    recorder = MetricsRecorder(vm.url, batch_size=10, flush_interval=3600)
    try:
        for i in range(10):
            recorder.record(name, {"value": i})
        series = wait_for_points(vm.url, f"{name}_value", 10)
        assert all_values(series) == list(range(10))
        assert recorder.stats().written == 10
    finally:
        recorder.close()


def test_bad_input_is_counted_not_raised(vm: VictoriaMetricsServer) -> None:
    recorder = MetricsRecorder(vm.url, flush_interval=60)
    try:
        recorder.record("", {"v": 1})
        recorder.record("m", {})
        recorder.record("m", {"v": None})
        recorder.record("m", {"v": [1, 2]})
        recorder.record("m", {"v": float("nan")})
        stats = recorder.stats()
        assert (stats.rejected, stats.buffered) == (5, 0)
    finally:
        recorder.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("", {"v": 1}), "measurement"),
        (("m", {"v": None}), "fields"),
        (("m", {"payload": {"a": 1}}), "fields['payload']: dict"),
        (("m", {"v": float("inf")}), "fields['v']: inf"),
    ],
)
def test_to_line_names_the_bad_field(args: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        to_line(*args)


def test_store_down_buffers_bounded_drops_counted_then_recovers(
    tmp_path, vm: VictoriaMetricsServer
) -> None:
    # A server of its own: this test stops and restarts it.
    from ports import free_port

    server = VictoriaMetricsServer(tmp_path, free_port())
    server.up()
    name = unique("outage")
    recorder = MetricsRecorder(server.url, batch_size=20, max_buffer=50, flush_interval=0.1)
    try:
        recorder.record(name, {"value": -1})
        assert recorder.flush()
        server.down()

        total = 200
        for i in range(total):  # the business operation: must neither fail nor block
            recorder.record(name, {"value": i})
        assert recorder.flush() is False
        stats = recorder.stats()
        assert stats.buffered == 50  # bounded
        assert stats.dropped == total - 50  # every dropped point is counted
        assert stats.written == 1
        assert stats.write_errors >= 1
        assert "Connection" in (stats.last_error or "")

        server.up()  # same port, same data
        # Drain the backlog first: a new point on a still-full buffer would push out the
        # oldest one, and whether the 0.1 s flusher got there first depends on the load.
        assert recorder.flush() is True
        for i in range(total, total + 5):
            recorder.record(name, {"value": i})
        assert recorder.flush() is True
        stats = recorder.stats()
        assert (stats.buffered, stats.dropped, stats.written) == (0, total - 50, 1 + 50 + 5)
        # What arrives: the point from before the outage, the newest 50 buffered during
        # it (oldest dropped first) and the points recorded after it, in order.
        expected = [-1, *range(total - 50, total), *range(total, total + 5)]
        series = wait_for_points(server.url, f"{name}_value", len(expected))
        assert all_values(series) == expected
    finally:
        recorder.close(flush=False)
        server.down()


def test_hung_store_never_blocks_the_caller(tmp_path) -> None:
    """A store that accepts connections but never answers (the process is SIGSTOPped):
    record() keeps returning while the writer thread waits out its timeout."""
    from ports import free_port

    server = VictoriaMetricsServer(tmp_path, free_port())
    server.up()
    pid = server.running_pid()
    assert pid is not None
    name = unique("hung")
    recorder = MetricsRecorder(server.url, batch_size=5, flush_interval=0.05, timeout=1.0)
    try:
        os.kill(pid, signal.SIGSTOP)
        for i in range(20):
            recorder.record(name, {"value": i})
        # Recording finished although nothing could be written: the calls did not wait.
        assert recorder.stats().written == 0
        # flush() waits out the timeout in this thread; business code never calls it.
        assert recorder.flush() is False
        assert recorder.stats().write_errors >= 1
        os.kill(pid, signal.SIGCONT)
        assert recorder.flush() is True
        series = wait_for_points(server.url, f"{name}_value", 20)
        # At least once: the stopped server may still apply the batch that timed out on
        # our side, and its retry then arrives a second time.
        assert sorted(set(all_values(series))) == list(range(20))
    finally:
        os.kill(pid, signal.SIGCONT)
        recorder.close(flush=False)
        server.down()


def test_off_without_url_is_a_no_op(tmp_path) -> None:
    recorder = metrics.configure(Settings(data_dir=tmp_path, influx_url=None))
    try:
        assert isinstance(recorder, NullRecorder)
        metrics.message_sent("t", "text", "sent", 0.1)
        metrics.record("anything", {"v": 1})
        assert metrics.flush() is True
        assert metrics.stats().enabled is False
    finally:
        metrics.close()


def test_named_helpers_write_their_series(tmp_path, vm: VictoriaMetricsServer) -> None:
    tenant = unique("tenant")
    metrics.configure(Settings(data_dir=tmp_path, influx_url=vm.url), flush_interval=60)
    try:
        at = datetime.now(UTC) - timedelta(seconds=5)
        metrics.accounts_by_status(tenant, {"online": 3, "offline": 1, "error": 0}, at)
        metrics.heartbeat_age(tenant, 12.5, 1, 3, at)
        metrics.message_sent(tenant, "text", "failed", 2.0, at)
        metrics.pending_messages(tenant, 7, 2, at)
        metrics.batch_progress(tenant, "task-1", "running", 10, 4, 1, at)
        metrics.pipeline_run(unique("pipe"), 1234, 5.5, at=at)
        assert metrics.flush() is True
        assert metrics.stats().written == 6
    finally:
        metrics.close()
    series = wait_for_points(vm.url, f'{{tenant_id="{tenant}"}}', 14)
    got = {s["metric"]["__name__"]: s["values"][0] for s in series}
    assert got["accounts_online"] == 3
    assert got["accounts_offline"] == 1
    assert got["accounts_error"] == 0
    assert got["heartbeat_max_age_seconds"] == 12.5
    assert got["heartbeat_stale_accounts"] == 1
    assert got["message_send_latency_seconds"] == 2.0
    assert got["messages_pending"] == 7
    assert got["batch_progress_progress"] == 0.5
    outcome = export(vm.url, f'{{__name__="message_send_count",tenant_id="{tenant}"}}')
    assert outcome[0]["metric"]["outcome"] == "failed"

"""The worker offers the db_monitor and alerts jobs beside the others, and each runs once
per interval under its lock, recording its result on the job's row."""

from __future__ import annotations

import uuid
from dataclasses import replace

from wework.worker.jobs import platform_jobs, run_if_due


def test_the_worker_runs_db_monitor_and_alerts_every_minute(alerting):
    jobs = {j.name: j for j in platform_jobs(alerting)}
    assert jobs["db_monitor"].every == jobs["alerts"].every == 60
    assert {"gauges", "partitions", "heartbeat_sweep"} < set(jobs)  # beside, not instead
    # Under names of this test's own: a worker elsewhere in the session may have run the
    # real ones within the minute.
    suffix = uuid.uuid4().hex[:8]
    monitor = replace(jobs["db_monitor"], name=f"db_monitor_{suffix}")
    alerts = replace(jobs["alerts"], name=f"alerts_{suffix}")

    ran = run_if_due(monitor, alerting)
    assert ran.ran and ran.error is None and ran.result == "read primary, replica", ran
    ran = run_if_due(alerts, alerting)
    assert ran.ran and ran.error is None, ran.error
    assert ran.result.startswith("10 rule(s):")
    again = run_if_due(alerts, alerting)
    assert not again.ran and 0 < again.next_due_in <= 60

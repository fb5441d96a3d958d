"""The once-at-a-time jobs: the named lock (two workers never run a job at once, a dead
holder frees it), the cluster-wide schedule, and jobs firing on their own in a real
``wework worker`` process (the heartbeat sweep, the partitions)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from messaging_helpers import RecordingGateway, make_account
from sqlalchemy import select, text
from worker_helpers import fast, running_worker, wait_for

from wework.db.engines import DbUser, Role, get_engine
from wework.enums import AccountStatus
from wework.models import WebhookOutbox, WeworkAccount, utcnow
from wework.services import tenants
from wework.services.uow import transaction
from wework.worker.jobs import Job, job_states, run_if_due
from wework.worker.locks import lock_holder, named_lock


def test_named_lock_is_exclusive_and_dies_with_its_connection(settings):
    with named_lock("test.exclusive", settings) as mine:
        assert mine
        assert lock_holder("test.exclusive", settings) is not None
        with named_lock("test.exclusive", settings) as theirs:  # another connection
            assert not theirs
    assert lock_holder("test.exclusive", settings) is None

    # A holder that dies (SIGKILL: its connection is cut) leaves no lock behind.
    engine = get_engine(Role.PRIMARY, 0, settings)
    holder = engine.raw_connection()
    try:
        cursor = holder.cursor()
        cursor.execute("SELECT GET_LOCK(%s, 0), CONNECTION_ID()",
                       (f"{settings.db_name}.test.killed",))
        got, connection_id = cursor.fetchone()
        assert got == 1
        with named_lock("test.killed", settings) as theirs:
            assert not theirs
        with engine.connect() as conn:
            conn.execute(text(f"KILL CONNECTION {int(connection_id)}"))
        wait_for(lambda: lock_holder("test.killed", settings) is None, timeout=10,
                 what="the server to free the dead holder's lock")
        with named_lock("test.killed", settings) as mine:
            assert mine
    finally:
        holder.invalidate()


def test_two_workers_never_run_a_job_at_the_same_time(settings):
    active, overlaps, runs = [0], [0], {"a": 0, "b": 0}
    guard = threading.Lock()

    def probe(who: str):
        def run() -> str:
            with guard:
                active[0] += 1
                overlaps[0] = max(overlaps[0], active[0])
            time.sleep(0.3)  # long enough for the other worker to try meanwhile
            with guard:
                active[0] -= 1
                runs[who] += 1
            return who
        return run

    name = f"probe_{time.monotonic_ns() % 10**9}"
    quick = fast(settings)
    with running_worker(quick, gateway=RecordingGateway(), jobs=[Job(name, 0.05, probe("a"))]), \
            running_worker(quick, gateway=RecordingGateway(), jobs=[Job(name, 0.05, probe("b"))]):
        wait_for(lambda: runs["a"] >= 2 and runs["b"] >= 2, timeout=60,
                 what="both workers to run the job")
    assert overlaps[0] == 1
    (row,) = [j for j in job_states() if j.name == name]
    assert row.runs == runs["a"] + runs["b"]


def test_the_interval_is_shared_by_every_worker(settings):
    calls = []
    job = Job(f"daily_{time.monotonic_ns() % 10**9}", 86_400, lambda: calls.append(1) or "ok")
    first = run_if_due(job, settings, "worker-1")
    second = run_if_due(job, settings, "worker-2")  # another worker, a moment later
    assert first.ran and not second.ran and len(calls) == 1
    assert 86_000 < second.next_due_in <= 86_400
    failing = Job(f"failing_{time.monotonic_ns() % 10**9}", 86_400,
                  lambda: (_ for _ in ()).throw(RuntimeError("boom")))
    run = run_if_due(failing, settings, "worker-1")
    assert run.ran and run.error == "RuntimeError: boom" and run.next_due_in == 60
    (row,) = [j for j in job_states() if j.name == failing.name]
    assert row.last_error == "RuntimeError: boom" and row.run_by == "worker-1"


def _last_partition(conn, table: str) -> str:
    return conn.execute(text(
        "SELECT PARTITION_NAME FROM information_schema.PARTITIONS WHERE TABLE_SCHEMA = "
        "DATABASE() AND TABLE_NAME = :t AND PARTITION_NAME <> 'p_future' "
        "ORDER BY PARTITION_ORDINAL_POSITION DESC LIMIT 1"), {"t": table}).scalar()


def test_sweep_and_partitions_fire_on_their_own(make_tenant, primary, settings, worker_process):
    # A silent online account (no guid: the simulator does not heartbeat it).
    world = make_tenant()
    tenants.update_tenant(world.ctx, world.tenant.id, webhook_url="https://hooks.example.com/x")
    silent = make_account(world.ctx)
    with transaction(world.ctx.tenant_id) as s:
        account = s.get(WeworkAccount, silent.id)
        account.guid = None
        account.last_heartbeat_time = utcnow() - timedelta(minutes=10)
    # The newest monthly partition merged back into p_future: the job must split it again.
    with get_engine(Role.PRIMARY, 0, settings, user=DbUser.MIGRATOR).begin() as conn:  # DDL
        newest = _last_partition(conn, "callback_events")
        conn.execute(text(f"ALTER TABLE callback_events REORGANIZE PARTITION {newest}, p_future "
                          "INTO (PARTITION p_future VALUES LESS THAN MAXVALUE)"))
        assert _last_partition(conn, "callback_events") != newest

    runs_before = {j.name: j.runs for j in job_states()}.get("partitions", 0)
    worker = worker_process(WEWORK_WORKER_HEARTBEAT_SWEEP_EVERY="0.5",
                            WEWORK_HEARTBEAT_TIMEOUT_SECONDS="300",
                            WEWORK_WORKER_PARTITIONS_EVERY="0.5")

    def swept():
        with transaction(world.ctx.tenant_id) as s:
            return s.get(WeworkAccount, silent.id).status is AccountStatus.OFFLINE

    wait_for(swept, timeout=60, what="the heartbeat sweep to mark the account offline")

    def split_again():
        with primary.connect() as conn:
            return _last_partition(conn, "callback_events") == newest

    wait_for(split_again, timeout=60, what="the partition job to split the month off again")
    wait_for(lambda: {j.name: j.runs for j in job_states()}["partitions"] >= runs_before + 2,
             timeout=30, what="the partition job to run again on its own")
    assert worker.stop() < 10
    assert worker.proc.returncode == 0, worker.output()
    with transaction(world.ctx.tenant_id) as s:
        events = s.scalars(select(WebhookOutbox.event_type)
                           .where(WebhookOutbox.tenant_id == world.ctx.tenant_id)).all()
    # The account event once; the tenant may also get the alert its offline accounts raise.
    assert [e for e in events if e.startswith("account.")] == ["account.offline"]

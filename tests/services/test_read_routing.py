"""Service reads: the replica through the lag policy, the primary for read-your-writes,
and one remembered decision per shard for about a second."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from wework.config import reload_settings
from wework.db import routing
from wework.db.engines import Role, get_engine
from wework.errors import ReplicaLagError
from wework.services import users
from wework.services.uow import read_session


def server_id(session) -> int:
    return session.execute(text("SELECT @@server_id")).scalar_one()


@pytest.fixture
def server_ids(settings):
    if settings.uses_local_stack is False and not settings.replica_url:
        pytest.skip("no separate replica configured")
    ids = {}
    for role in Role:
        with get_engine(role, 0, settings).connect() as conn:
            ids[role] = conn.execute(text("SELECT @@server_id")).scalar_one()
    assert ids[Role.PRIMARY] != ids[Role.REPLICA]
    return ids


@pytest.fixture
def policy(monkeypatch: pytest.MonkeyPatch):
    """Set the lag policy for this test (settings reloaded, decisions forgotten)."""

    def apply(**values) -> None:
        for name, value in values.items():
            monkeypatch.setenv(f"WEWORK_{name.upper()}", str(value))
        reload_settings()
        routing.forget_read_decisions()

    yield apply
    monkeypatch.undo()
    reload_settings()
    routing.forget_read_decisions()


def test_reads_go_to_the_replica_while_it_keeps_up(world, server_ids, policy):
    policy(replica_max_lag_seconds=30)
    with read_session(world.tenant.id) as s:
        assert server_id(s) == server_ids[Role.REPLICA]
    with read_session(world.tenant.id, fresh=True) as s:  # read-your-writes
        assert server_id(s) == server_ids[Role.PRIMARY]


def test_a_lagging_replica_sends_reads_where_the_policy_says(world, server_ids, policy):
    # A negative threshold makes any measured lag too much: the policy decides.
    policy(replica_max_lag_seconds=-1, replica_fallback="primary")
    with read_session(world.tenant.id) as s:
        assert server_id(s) == server_ids[Role.PRIMARY]
    # ... and the services' lists follow it: the new user is there at once.
    assert world.admin.id in {u.id for u in users.list_users(world.ctx).items}

    policy(replica_max_lag_seconds=-1, replica_fallback="fail")
    with pytest.raises(ReplicaLagError, match="refuses to read from the primary"):
        users.list_users(world.ctx)

    policy(replica_max_lag_seconds=-1, replica_fallback="wait",
           replica_wait_timeout_seconds=0.6)
    started = time.monotonic()
    with pytest.raises(ReplicaLagError, match="after waiting"):
        users.list_users(world.ctx)
    assert 0.5 <= time.monotonic() - started < 10


def test_the_decision_is_remembered_per_shard_for_about_a_second(
    world, policy, monkeypatch: pytest.MonkeyPatch
):
    policy(replica_max_lag_seconds=30)
    measured = []
    real = routing.replica_lag_seconds

    def counting(*args, **kwargs):
        measured.append(time.monotonic())
        return real(*args, **kwargs)

    monkeypatch.setattr(routing, "replica_lag_seconds", counting)
    started = time.monotonic()
    for _ in range(20):
        users.list_users(world.ctx)
    elapsed = time.monotonic() - started
    # One heartbeat query per second at most, however many reads (one if the machine is
    # quiet: 20 short reads take well under a second).
    assert 1 <= len(measured) <= 1 + elapsed / routing.DECISION_TTL_SECONDS
    assert len(measured) < 20
    measured.clear()
    time.sleep(routing.DECISION_TTL_SECONDS + 0.1)
    users.list_users(world.ctx)
    assert len(measured) == 1  # the remembered decision expired: measured again

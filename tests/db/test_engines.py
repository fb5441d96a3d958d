"""The engines' pool: a connection reused at once is neither pinged nor rolled back (two
round trips of every transaction saved), yet one that may hold a transaction is rolled
back on return, and one the server closed is replaced before use."""

from __future__ import annotations

import pymysql
import pytest
from sqlalchemy import text
from waiting import wait_for

from wework.db import engines
from wework.db.engines import Role, database_url


@pytest.fixture
def engine(settings):
    """A private one-connection engine on shard 0 (the pool's reuse is what is tested)."""
    e = engines.new_engine(database_url(Role.PRIMARY, settings.shard_database(0), settings),
                           pool_size=1, max_overflow=0)
    yield e
    e.dispose()


def session_status(conn, name: str) -> int:
    return int(conn.execute(text(f"SHOW SESSION STATUS LIKE '{name}'")).one()[1])


def test_committed_transactions_are_not_rolled_back_on_return(engine):
    with engine.begin() as conn:
        before = session_status(conn, "Com_rollback")
    for _ in range(5):
        with engine.begin() as conn:
            conn.execute(text("SELECT 1"))
    with engine.begin() as conn:
        assert session_status(conn, "Com_rollback") == before


def test_a_connection_returned_inside_a_transaction_is_rolled_back(engine, settings):
    code = "engine-reset-test"
    raw = engine.raw_connection()  # past the Connection: only the pool's reset is left
    with raw.cursor() as cur:
        cur.execute("INSERT INTO tenants (id, tenant_name, tenant_code) VALUES (%s, %s, %s)",
                    (code, code, code))
    raw.close()  # returned with the INSERT uncommitted
    with engine.begin() as conn:  # the same pooled connection (pool_size=1)
        assert conn.execute(text("SELECT COUNT(*) FROM tenants WHERE id = :c"),
                            {"c": code}).scalar_one() == 0


def test_a_connection_the_server_closed_is_replaced_on_checkout_without_a_round_trip(
        engine, primary):
    """Just used (so not pinged): the server's close left its socket readable, which the
    checkout sees; no statement fails."""
    with engine.begin() as conn:
        first = conn.execute(text("SELECT CONNECTION_ID()")).scalar_one()
    with primary.begin() as admin:  # a user may kill its own connections
        admin.execute(text(f"KILL {int(first)}"))
    wait_for(lambda: _closed(engine), timeout=10, what="the server closing the connection")
    with engine.begin() as conn:
        assert conn.execute(text("SELECT CONNECTION_ID()")).scalar_one() != first


def _closed(engine) -> bool:
    raw = engine.pool._pool.queue[0].dbapi_connection  # the one idle connection
    return engines._closed_by_server(raw)


def test_a_connection_idle_past_the_limit_is_pinged_and_one_in_use_is_not(engine,
                                                                          monkeypatch):
    pings = []
    real_ping = pymysql.connections.Connection.ping
    monkeypatch.setattr(pymysql.connections.Connection, "ping",
                        lambda self, *a, **k: pings.append(1) or real_ping(self, *a, **k))
    for _ in range(3):
        with engine.begin() as conn:
            conn.execute(text("SELECT 1"))
    assert pings == []
    monkeypatch.setattr(engines, "PING_AFTER_IDLE_SECONDS", 0.0)  # now everything is idle
    with engine.begin() as conn:
        conn.execute(text("SELECT 1"))
    assert pings == [1]

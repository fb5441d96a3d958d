"""`wework db seed`: coherent data, checked in SQL on the loaded databases.

The seed runs into its own two-shard database set (not the session's), so it can wipe
and reload freely and exercise the per-shard split of the bulk path.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from wework.config import Settings
from wework.db import migrate
from wework.db.engines import Role, get_engine
from wework.db.sharding import shard_for_tenant
from wework.enums import AccountStatus
from wework.models import new_id
from wework.seed import SeedConfig, SeedError, seed, table_counts
from wework.services.accounts import TRANSITIONS
from wework.services.batches import counts_from_messages, stored_counts
from wework.services.permissions import SYSTEM_ROLES

NOW = datetime(2026, 11, 20, 10, 0, 0)
CONFIG = SeedConfig(tenants=4, accounts=30, days=10, messages=12_000, seed=7, now=NOW,
                    chunk_size=5_000)


@pytest.fixture(scope="module")
def seeded(settings: Settings) -> Iterator[tuple[Settings, object]]:
    s = Settings(**{**settings.model_dump(), "db_name": f"{settings.db_name}_seed",
                    "shard_count": 2})
    migrate.upgrade(settings=s)
    try:
        yield s, seed(CONFIG, s)
    finally:
        migrate.drop_databases(s)


def query(s: Settings, sql: str, **params) -> list[tuple]:
    rows: list[tuple] = []
    for shard in range(s.shard_count):
        with get_engine(Role.PRIMARY, shard, s).connect() as conn:
            rows += [tuple(r) for r in conn.execute(text(sql), params)]
    return rows


def test_sizes_follow_the_flags(seeded):
    s, summary = seeded
    counts = table_counts(s)
    assert counts["tenants"] == CONFIG.tenants
    assert counts["wework_accounts"] == CONFIG.accounts
    assert counts["messages"] == CONFIG.messages == summary.counts["messages"]
    assert counts["roles"] == CONFIG.tenants * len(SYSTEM_ROLES)
    assert counts["callback_events"] > 0 and counts["batch_send_tasks"] > 0
    assert counts["callback_events"] == summary.counts["callback_events"]


def test_rows_live_in_their_tenants_shard(seeded):
    s, _ = seeded
    for shard in range(s.shard_count):
        with get_engine(Role.PRIMARY, shard, s).connect() as conn:
            tenants = conn.execute(text("SELECT id FROM tenants")).scalars().all()
            assert all(shard_for_tenant(t, 2) == shard for t in tenants)
            stray = conn.execute(text(
                "SELECT COUNT(*) FROM messages m LEFT JOIN tenants t ON t.id = m.tenant_id "
                "WHERE t.id IS NULL")).scalar_one()
            assert stray == 0


def test_every_account_status_appears_and_histories_end_in_it(seeded):
    s, _ = seeded
    accounts = dict(query(s, "SELECT id, status FROM wework_accounts"))
    assert set(accounts.values()) == {st.value for st in AccountStatus}
    history: dict[str, list[tuple]] = {}
    for account_id, old, new, at in query(
        s, "SELECT account_id, old_status, new_status, created_at FROM account_status_history "
        "ORDER BY account_id, created_at, id"
    ):
        history.setdefault(account_id, []).append((old, new, at))
    assert set(history) == set(accounts)
    for account_id, steps in history.items():
        assert steps[0][:2] == (None, "created")
        for (_, prev_new, prev_at), (old, new, at) in itertools.pairwise(steps):
            assert old == prev_new, account_id
            assert AccountStatus(new) in TRANSITIONS[AccountStatus(old)], (account_id, old, new)
            assert at >= prev_at
        assert steps[-1][1] == accounts[account_id]


def test_batch_counters_equal_their_messages(seeded):
    s, _ = seeded
    checked = 0
    for shard in range(s.shard_count):
        with Session(get_engine(Role.PRIMARY, shard, s)) as session:
            from wework.models import BatchSendTask

            for task in session.query(BatchSendTask):
                assert stored_counts(task) == counts_from_messages(session, task.id), task.id
                checked += 1
    assert checked > 0
    statuses = {r[0] for r in query(s, "SELECT DISTINCT status FROM batch_send_tasks")}
    assert "completed" in statuses


def test_messages_are_plausible(seeded):
    s, _ = seeded
    bad = query(s, """
        SELECT
          SUM(m.send_time < m.created_at),
          SUM(m.callback_time < m.send_time),
          SUM(m.status = 'delivered' AND m.callback_time IS NULL),
          SUM(m.status = 'failed' AND m.error_code IS NULL),
          SUM(m.status IN ('pending', 'cancelled') AND m.send_time IS NOT NULL),
          SUM(a.tenant_id <> m.tenant_id),
          SUM(c.id IS NULL),
          SUM(m.created_at >= :now)
        FROM messages m
        JOIN wework_accounts a ON a.id = m.account_id
        LEFT JOIN conversations c ON c.account_id = m.account_id
             AND c.conversation_id = m.conversation_id
    """, now=NOW)
    for row in bad:
        assert [int(v or 0) for v in row] == [0] * 8
    types = {r[0] for r in query(s, "SELECT DISTINCT message_type FROM messages")}
    statuses = {r[0] for r in query(s, "SELECT DISTINCT status FROM messages")}
    assert types == {"text", "image", "file", "link", "miniprogram", "at"}
    assert statuses == {"pending", "sending", "sent", "delivered", "failed", "cancelled"}
    never_online = query(s, """
        SELECT COUNT(*) FROM messages m JOIN wework_accounts a ON a.id = m.account_id
        WHERE NOT EXISTS (SELECT 1 FROM account_status_history h
                          WHERE h.account_id = a.id AND h.new_status = 'online')""")
    assert sum(r[0] for r in never_online) == 0


def test_quotas_are_sized_from_traffic(seeded):
    s, _ = seeded
    rows = query(s, """
        SELECT t.max_daily_messages, MAX(d.n) FROM tenants t JOIN (
          SELECT tenant_id, DATE(created_at) AS day, COUNT(*) AS n FROM messages
          GROUP BY tenant_id, DATE(created_at)) d ON d.tenant_id = t.id
        GROUP BY t.id, t.max_daily_messages""")
    assert rows and all(quota >= peak for quota, peak in rows)
    over = query(s, "SELECT COUNT(*) FROM (SELECT tenant_id, COUNT(*) AS n FROM wework_accounts "
                    "GROUP BY tenant_id) a JOIN tenants t ON t.id = a.tenant_id "
                    "WHERE a.n > t.max_accounts")
    assert sum(r[0] for r in over) == 0


def test_callback_events_are_coherent(seeded):
    s, _ = seeded
    rows = query(s, """
        SELECT e.status, COUNT(*), SUM(k.event_id IS NOT NULL), SUM(e.error_message IS NULL)
        FROM callback_events e
        LEFT JOIN callback_event_keys k ON k.callback_event_id = e.id
        GROUP BY e.status""")
    by_status: dict[str, list[int]] = {}
    for status, n, keyed, no_error in rows:
        acc = by_status.setdefault(status, [0, 0, 0])
        for i, v in enumerate((n, keyed, no_error)):
            acc[i] += int(v)
    assert set(by_status) == {"processed", "failed", "ignored"}
    n, keyed, no_error = by_status["processed"]
    assert keyed == n and no_error == n  # every applied event holds its dedup key
    assert by_status["failed"][1] == 0 and by_status["failed"][2] == 0
    assert by_status["ignored"][1] == 0
    receipts = query(s, """
        SELECT COUNT(*) FROM callback_events e
        WHERE e.event_type = 'message.receipt' AND e.status = 'processed'
          AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.id =
                          JSON_VALUE(e.raw_data, '$.data.message_id'))""")
    assert sum(r[0] for r in receipts) == 0


def test_ids_are_uuid7_stamped_with_their_creation_time(seeded):
    """Seeded ids are what ``new_id`` makes live: UUIDv7 text whose first 48 bits are the
    row's creation time in ms, so they sort by time (InnoDB appends instead of splitting)."""
    s, _ = seeded
    uuid_tables = query(s, """
        SELECT table_name FROM information_schema.columns
        WHERE table_schema = DATABASE() AND column_name = 'id' AND column_type = 'varchar(36)'""")
    assert len(uuid_tables) >= 2 * 9
    for (table,) in set(uuid_tables):
        for n, v7 in query(s, f"SELECT COUNT(*), SUM(SUBSTRING(id, 15, 1) = '7') FROM {table}"):
            assert int(v7 or 0) == n, f"{table}: {n - int(v7 or 0)} ids are not UUIDv7"
    stamp = "CONV(REPLACE(LEFT(id, 13), '-', ''), 16, 10) DIV 1000"
    for n, stamped in query(s, f"""
        SELECT COUNT(*), SUM({stamp} = UNIX_TIMESTAMP(created_at)) FROM messages
        UNION ALL
        SELECT COUNT(*), SUM({stamp} - UNIX_TIMESTAMP(received_time) BETWEEN 0 AND 5)
        FROM callback_events"""):
        assert n > 0 and int(stamped) == n


def test_new_ids_sort_by_creation_time():
    ids = [new_id() for _ in range(2_000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(uuid.UUID(i).version == 7 for i in ids)


def test_the_same_seed_gives_the_same_data(seeded):
    s, _ = seeded
    digest = "SELECT COUNT(*), SUM(CRC32(CONCAT(id, status, created_at))) FROM messages"
    before = sorted(query(s, digest))
    seed(CONFIG, s, replace=True)
    assert sorted(query(s, digest)) == before


def test_seeding_a_database_that_holds_data_needs_replace(seeded):
    s, _ = seeded
    with pytest.raises(SeedError, match="--replace"):
        seed(CONFIG, s)


@pytest.mark.parametrize(
    "change, field",
    [({"tenants": 0}, "tenants"), ({"accounts": 2}, "accounts"), ({"messages": -1}, "messages")],
)
def test_bad_sizes_are_refused_naming_the_flag(seeded, change, field):
    s, _ = seeded
    cfg = SeedConfig(**{**CONFIG.__dict__, **change})
    with pytest.raises(SeedError, match=rf"^{field}:"):
        seed(cfg, s, replace=True)


def test_templated_messages_are_rendered(seeded):
    s, _ = seeded
    leftovers = query(s, "SELECT COUNT(*) FROM messages WHERE content LIKE '%{{%'")
    templated = query(s, "SELECT COUNT(*) FROM messages WHERE template_id IS NOT NULL")
    assert sum(r[0] for r in leftovers) == 0
    assert sum(r[0] for r in templated) > 0
    placeholders = query(s, "SELECT COUNT(*) FROM message_templates "
                            "WHERE template_content LIKE '%{{%'")
    assert sum(r[0] for r in placeholders) == CONFIG.tenants * 5

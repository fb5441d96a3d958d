"""The deployed schema against the spec, the models, Alembic and the real servers."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError, OperationalError

from wework.config import Settings
from wework.db import migrate
from wework.db.ddl import SCHEMA_SQL, render_schema
from wework.db.engines import UTC_INIT, Role, database_url, get_engine
from wework.db.replication import wait_for_replica
from wework.db.sharding import shard_for_tenant
from wework.models import Base

# What the tests need of the spec, kept in the repository (tests/db/spec_extract.py wrote
# it from the original design document and says what it holds).
SPEC = Path(__file__).with_name("spec_schema.json")
SPEC_TABLES = {
    "tenants", "users", "roles", "user_roles", "wework_accounts", "account_status_history",
    "conversations", "messages", "message_templates", "batch_send_tasks", "callback_events",
    "message_statistics",
}


@pytest.fixture(scope="module")
def spec_tables() -> dict[str, dict]:
    return json.loads(SPEC.read_text(encoding="utf-8"))["tables"]


@pytest.fixture(scope="module")
def spec(spec_tables) -> tuple[dict[str, dict[str, str]], dict[str, set[str]]]:
    """Columns (name -> type) and index names of every table of the spec, the extra
    indexes of §索引设计 included."""
    columns = {t: {c["name"]: c["type"] for c in v["columns"]} for t, v in spec_tables.items()}
    indexes = {t: {i["name"] for i in v["indexes"]} for t, v in spec_tables.items()}
    return columns, indexes


def live_columns(conn, table: str) -> dict[str, dict]:
    rows = conn.execute(
        text(
            "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, COLUMN_COMMENT "
            "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :t"
        ),
        {"t": table},
    ).mappings()
    return {r["COLUMN_NAME"]: dict(r) for r in rows}


def live_indexes(conn, table: str) -> set[str]:
    return set(
        conn.execute(
            text(
                "SELECT DISTINCT INDEX_NAME FROM information_schema.STATISTICS "
                "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :t"
            ),
            {"t": table},
        ).scalars()
    )


def test_spec_fixture_holds_every_table(spec):
    columns, indexes = spec
    assert set(columns) == SPEC_TABLES
    assert len(columns["messages"]) == 19 and "idx_scheduled_pending" in indexes["messages"]


def test_every_spec_table_column_and_index_exists(spec, primary):
    columns, indexes = spec
    with primary.connect() as conn:
        for table, cols in columns.items():
            live = live_columns(conn, table)
            missing = set(cols) - set(live)
            assert not missing, f"{table} lacks spec columns {missing}"
            for name, spec_type in cols.items():
                if spec_type.startswith("enum("):
                    assert live[name]["COLUMN_TYPE"] == spec_type, (table, name)
                # Spec comments are kept (encrypted columns add a note to theirs).
            missing_idx = indexes[table] - live_indexes(conn, table)
            assert not missing_idx, f"{table} lacks spec indexes {missing_idx}"


def test_not_null_and_defaults_follow_the_spec(spec_tables, primary):
    """Every NOT NULL of the spec holds and every literal DEFAULT is the spec's."""
    with primary.connect() as conn:
        for table, spec_table in spec_tables.items():
            live = live_columns(conn, table)
            for column in spec_table["columns"]:
                col = live[column["name"]]
                if column["not_null"]:
                    assert col["IS_NULLABLE"] == "NO", (table, column["name"])
                if (default := column["default"] or "").startswith("'"):
                    assert str(col["COLUMN_DEFAULT"]).strip("'") == default.strip("'"), (
                        table, column["name"], col["COLUMN_DEFAULT"])


def test_unique_keys_of_the_spec_are_unique(spec_tables, primary):
    with primary.connect() as conn:
        for table, spec_table in spec_tables.items():
            unique = set(conn.execute(text(
                "SELECT DISTINCT INDEX_NAME FROM information_schema.STATISTICS "
                "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :t AND NON_UNIQUE = 0"
            ), {"t": table}).scalars())
            for index in spec_table["indexes"]:
                if index["unique"]:
                    assert index["name"] in unique, (table, index["name"])


def test_enum_values_are_the_specs_in_its_order(spec_tables):
    """wework.enums (which the models use as column types) lists each ENUM's values as the
    spec does, in the spec's order (MySQL sorts and compares ENUMs by that order)."""
    spec_enums = json.loads(SPEC.read_text(encoding="utf-8"))["enums"]
    assert spec_enums, "the fixture lists no enum"
    for qualified, values in spec_enums.items():
        table, column = qualified.split(".")
        assert list(Base.metadata.tables[table].c[column].type.enums) == values, qualified


def test_schema_sql_is_the_models_rendering():
    assert SCHEMA_SQL.read_text(encoding="utf-8") == render_schema(), (
        "sql/mysql/schema.sql differs from the models: run `wework db ddl --write`"
    )


def test_migrated_database_matches_the_models(primary):
    with primary.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = [
            d for d in compare_metadata(ctx, Base.metadata)
            # MariaDB reports a generated column's expression differently; the column and
            # its unique index are compared through the other entries.
            if not (isinstance(d, tuple) and d[0] == "modify_default")
        ]
    assert diffs == []


@pytest.mark.parametrize(
    "table, column, bad",
    [
        ("tenants", "status", "archived"),
        ("messages", "message_type", "video"),
        ("wework_accounts", "status", "sleeping"),
    ],
)
def test_bad_enum_value_is_refused_by_the_database(primary, table, column, bad):
    row = {
        "tenants": "INSERT INTO tenants (id, tenant_code, tenant_name, status) "
        "VALUES (:id, :id, 'x', :bad)",
        "messages": "INSERT INTO messages (id, tenant_id, account_id, conversation_id, "
        "message_type, content) VALUES (:id, 't', 'a', 'c', :bad, '{}')",
        "wework_accounts": "INSERT INTO wework_accounts (id, tenant_id, account_name, status) "
        "VALUES (:id, 't', :id, :bad)",
    }[table]
    with pytest.raises(DBAPIError, match=r"1265|Data truncated"), primary.begin() as conn:
        conn.execute(text(row), {"id": str(uuid.uuid4()), "bad": bad})


def test_invalid_json_is_refused_by_the_database(primary):
    with pytest.raises(DBAPIError, match=r"4025|CONSTRAINT"), primary.begin() as conn:
        conn.execute(
            text("INSERT INTO tenants (id, tenant_code, tenant_name, config) "
                 "VALUES (:id, :id, 'x', '{not json')"),
            {"id": str(uuid.uuid4())},
        )


def test_partitioned_primary_key_allows_no_foreign_keys(primary):
    """The spec's partitioned tables carry the partition column in their primary key."""
    with primary.connect() as conn:
        for table, column in (("messages", "created_at"), ("callback_events", "received_time"),
                              ("account_status_history", "created_at")):
            keys = conn.execute(text(
                "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE "
                "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :t "
                "AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION"), {"t": table}
            ).scalars().all()
            assert keys == ["id", column]


def test_a_row_written_to_the_primary_appears_on_the_replica(settings, primary, replica):
    tenant_id = str(uuid.uuid4())
    with primary.begin() as conn:
        conn.execute(
            text("INSERT INTO tenants (id, tenant_code, tenant_name) VALUES (:i, :c, 'r')"),
            {"i": tenant_id, "c": tenant_id[:20]},
        )
    wait_for_replica(timeout=15, settings=settings)
    with replica.connect() as conn:
        name = conn.execute(text("SELECT tenant_name FROM tenants WHERE id = :i"),
                            {"i": tenant_id}).scalar_one()
    assert name == "r"


def test_replica_refuses_writes(replica):
    with pytest.raises(OperationalError, match=r"read-only|1290"), replica.begin() as conn:
        conn.execute(text("INSERT INTO tenants (id, tenant_code, tenant_name) "
                          "VALUES ('x', 'x', 'x')"))


def test_timestamps_are_utc_whatever_the_server_zone(primary):
    with primary.connect() as conn:
        zone = conn.execute(text("SELECT @@session.time_zone")).scalar_one()
        now_db = conn.execute(text("SELECT NOW()")).scalar_one()
    assert zone == "+00:00"
    assert abs((datetime.now(UTC).replace(tzinfo=None) - now_db).total_seconds()) < 5


def test_partitions_are_kept_ahead_and_rows_land_in_their_period(settings, primary):
    with primary.begin() as conn:
        names = conn.execute(text(
            "SELECT PARTITION_NAME FROM information_schema.PARTITIONS WHERE TABLE_SCHEMA = "
            "DATABASE() AND TABLE_NAME = 'messages' ORDER BY PARTITION_ORDINAL_POSITION"
        )).scalars().all()
        year = datetime.now(UTC).year
        assert {f"p{year}", f"p{year + 1}", f"p{year + 2}"} <= set(names)
        assert names[-1] == "p_future"
        month = datetime.now(UTC).strftime("%Y%m")
        months = conn.execute(text(
            "SELECT PARTITION_NAME FROM information_schema.PARTITIONS WHERE TABLE_SCHEMA = "
            "DATABASE() AND TABLE_NAME = 'callback_events'")).scalars().all()
        assert f"p{month}" in months and len(months) >= 4
        msg_id = str(uuid.uuid4())
        conn.execute(text(
            "INSERT INTO messages (id, tenant_id, account_id, conversation_id, message_type, "
            "content, created_at) VALUES (:i, 't', 'a', 'c', 'text', '{}', :at)"),
            {"i": msg_id, "at": datetime(year + 1, 3, 1, 12)})
        in_partition = conn.execute(text(
            f"SELECT COUNT(*) FROM messages PARTITION (p{year + 1}) WHERE id = :i"),
            {"i": msg_id}).scalar_one()
        conn.execute(text("DELETE FROM messages WHERE id = :i"), {"i": msg_id})
    assert in_partition == 1
    # Running the maintenance again adds nothing.
    again = migrate.partitions(settings)
    assert all(not r.added for reports in again.values() for r in reports)


def test_upgrade_downgrade_upgrade_on_every_shard(settings):
    """Alembic from empty, back to empty and up again, on two shard databases."""
    s = Settings(**{**settings.model_dump(), "db_name": f"{settings.db_name}_mig",
                    "shard_count": 2})
    try:
        first = migrate.upgrade(settings=s)
        assert [r.after for r in first] == [migrate.head_revision()] * 2
        migrate.downgrade("base", s)
        assert [migrate.current_revision(i, s) for i in range(2)] == [None, None]
        with get_engine(Role.PRIMARY, 1, s).connect() as conn:
            assert conn.execute(text("SHOW TABLES")).scalars().all() == ["alembic_version"]
        again = migrate.upgrade(settings=s)
        assert [r.before for r in again] == [None, None]
        assert [migrate.current_revision(i, s) for i in range(2)] == [migrate.head_revision()] * 2
    finally:
        migrate.drop_databases(s)


def test_shard_router_is_crc32_mod_n():
    import zlib

    ids = [str(uuid.UUID(int=i)) for i in range(200)]
    for n in (1, 2, 8):
        assert all(shard_for_tenant(t, n) == zlib.crc32(t.encode()) % n for t in ids)
    assert len({shard_for_tenant(t, 8) for t in ids}) == 8


def test_engines_pin_utc_even_against_a_server_in_another_zone(settings):
    """A raw connection with the server's zone set to +08:00 reads shifted values; ours
    (UTC_INIT) reads the stored UTC value unchanged."""
    url = database_url(Role.PRIMARY, settings.shard_database(0), settings)
    shanghai = create_engine(url, connect_args={"init_command": "SET time_zone='+08:00'"})
    ours = create_engine(url, connect_args={"init_command": UTC_INIT})
    try:
        with ours.begin() as conn:
            conn.execute(text("CREATE TEMPORARY TABLE tz (t TIMESTAMP)"))
            conn.execute(text("INSERT INTO tz VALUES ('2026-01-01 00:00:00')"))
            stored = conn.execute(text("SELECT UNIX_TIMESTAMP(t) FROM tz")).scalar_one()
        with shanghai.connect() as conn:
            shifted = conn.execute(text("SELECT FROM_UNIXTIME(:s)"), {"s": stored}).scalar_one()
        assert stored == 1767225600
        assert shifted == datetime(2026, 1, 1, 8, 0)
    finally:
        shanghai.dispose()
        ours.dispose()

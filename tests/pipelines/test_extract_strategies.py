"""The extraction strategies for tables that change without ``updated_at``, on a real
replica and a real DuckDB file, run by run."""

from __future__ import annotations

from datetime import timedelta

import duckdb
import pytest
from etl_dataset import utcnow
from sqlalchemy import Engine, text

from pipelines.checks import check_window, raw_row_count, source_row_count
from pipelines.extract import (
    DEFAULT_OVERLAP,
    _select_list,
    attach_source,
    extract_table,
    mysql_query_sql,
    source_query,
    source_seen_until,
    table_specs,
    window_condition,
    window_parts,
)
from wework.db.engines import Role, database_url
from wework.db.replication import wait_for_replica
from wework.warehouse import setting


@pytest.fixture
def con(empty_db, tmp_path):
    c = duckdb.connect(str(tmp_path / "w.duckdb"))
    attach_source(c, "src", database_url(Role.REPLICA, empty_db.shard_database(0), empty_db))
    yield c
    c.close()


def _sync(settings, primary: Engine, sql: str, params: dict | None = None) -> None:
    with primary.begin() as conn:
        conn.execute(text(sql), params or {})
    wait_for_replica(timeout=180, settings=settings)


def test_callback_status_changes_are_picked_up_without_updated_at(empty_db, primary, con):
    spec = table_specs()["callback_events"]
    old = utcnow() - timedelta(days=2)  # far outside any overlap window
    for i, status in enumerate(("received", "processing", "processed")):
        _sync(
            empty_db,
            primary,
            "INSERT INTO callback_events (id, guid, notify_type, event_type, raw_data, status,"
            " received_time, process_time) VALUES (:id, 'g', 1, 'x', '{}', :st, :rt, :pt)",
            {"id": f"cb{i}", "st": status, "rt": old, "pt": old if status == "processed" else None},
        )
    assert extract_table(con, "src", spec, 0).rows_read == 3

    # A newer event sets the watermark well past the old ones.
    _sync(
        empty_db,
        primary,
        "INSERT INTO callback_events (id, guid, notify_type, event_type, raw_data, status,"
        " received_time) VALUES ('cb9', 'g', 1, 'x', '{}', 'processed', UTC_TIMESTAMP())",
    )
    # received → processing: no timestamp moves at all; processing → failed: process_time.
    _sync(empty_db, primary, "UPDATE callback_events SET status = 'processing' WHERE id = 'cb0'")
    _sync(
        empty_db,
        primary,
        "UPDATE callback_events SET status = 'failed', process_time = UTC_TIMESTAMP() "
        "WHERE id = 'cb1'",
    )
    extract_table(con, "src", spec, 0)
    rows = dict(con.execute("SELECT id, status FROM raw.callback_events").fetchall())
    assert rows == {"cb0": "processing", "cb1": "failed", "cb2": "processed", "cb9": "processed"}


def test_the_callback_window_counted_in_disjoint_parts_counts_each_event_once(
    empty_db, primary, con
):
    """The check counts callback_events' window as parts no row meets twice: an event
    received lately AND processed lately AND still in flight is one row, an event whose
    process_time is NULL is in flight or not in the window at all."""
    spec = table_specs()["callback_events"]
    now, old = utcnow(), utcnow() - timedelta(days=2)
    rows = {  # id: (status, received_time, process_time)
        "new-processed": ("processed", now, now),  # received and processed lately
        "new-in-flight": ("received", now, None),  # received lately and in flight
        "old-processed-lately": ("failed", old, now),
        "old-in-flight": ("processing", old, None),
        "old-in-flight-processed-lately": ("processing", old, now),
        "old-done": ("processed", old, old),  # outside the window
        "old-never-processed": ("ignored", old, None),  # outside the window
    }
    with primary.begin() as conn:
        for i, (st, rt, pt) in rows.items():
            conn.execute(text(
                "INSERT INTO callback_events (id, guid, notify_type, event_type, raw_data, "
                "status, received_time, process_time) VALUES (:id, 'g', 1, 'x', '{}', :st, "
                ":rt, :pt)"), {"id": i, "st": st, "rt": rt, "pt": pt})
    wait_for_replica(timeout=180, settings=empty_db)
    wm = {"received_time": now, "process_time": now}
    parts = window_parts(spec, wm, DEFAULT_OVERLAP)
    assert len(parts) == 3
    whole = window_condition(spec, wm, DEFAULT_OVERLAP)
    assert source_row_count(con, "src", "callback_events", whole) == 5
    assert [source_row_count(con, "src", "callback_events", p) for p in parts] == [2, 2, 1]
    assert source_row_count(con, "src", "callback_events", tuple(parts)) == 5
    # No process_time seen yet: two parts (received lately; in flight before that).
    parts = window_parts(spec, {**wm, "process_time": None}, DEFAULT_OVERLAP)
    assert [source_row_count(con, "src", "callback_events", p) for p in parts] == [2, 2]


def test_the_window_starts_no_earlier_than_the_overlap_before_the_last_read(
    empty_db, primary, con
):
    """After a burst and a quiet spell the window no longer hangs on the burst's newest
    row: a late commit must land within the overlap of its stamp, so what is older than
    the overlap before the last read was seen by it. A late commit inside that overlap
    is still read."""
    spec = table_specs()["messages"]
    burst = utcnow().replace(microsecond=0) - timedelta(minutes=30)
    insert = (
        "INSERT INTO messages (id, tenant_id, account_id, conversation_id, message_type, "
        "content, status, created_at, updated_at) VALUES "
        "(:id, 't', 'a', 'c', 'text', '{}', 'sent', :at, :at)"
    )
    for i in range(3):
        _sync(empty_db, primary, insert, {"id": f"m{i}", "at": burst + timedelta(seconds=i)})
    assert extract_table(con, "src", spec, 0).rows_read == 3
    # Marks alone: the burst's newest row is the mark, the burst is read again every run.
    assert extract_table(con, "src", spec, 0).rows_read == 3
    seen = source_seen_until(con, "src", 0.0)
    quiet = extract_table(con, "src", spec, 0, seen_until=seen)
    assert quiet.rows_read == 0 and quiet.rows_in_raw == 3
    # Stamped a minute before that read, committed after it: inside the overlap.
    _sync(empty_db, primary, insert, {"id": "late", "at": seen - timedelta(minutes=1)})
    late = extract_table(con, "src", spec, 0, seen_until=seen)
    assert (late.rows_read, late.rows_changed, late.rows_in_raw) == (1, 1, 4)


def test_a_row_read_again_is_a_change_only_when_a_column_differs(empty_db, primary, con):
    """The overlap window re-reads rows raw already holds: only those that differ in some
    column count as changes, NULL against a value included, even when ``updated_at`` did
    not move; and the change logs get the old version of each changed row next to its
    new one (a message moved to another day dirties both days)."""
    from pipelines import changes

    spec = table_specs()["messages"]
    at = utcnow().replace(microsecond=0) - timedelta(minutes=2)
    for i in range(3):
        _sync(empty_db, primary,
              "INSERT INTO messages (id, tenant_id, account_id, conversation_id, message_type,"
              " content, status, created_at, updated_at) VALUES "
              "(:id, 't', 'a', 'c', 'text', '{}', 'sent', :at, :at)", {"id": f"m{i}", "at": at})
    assert extract_table(con, "src", spec, 0).rows_changed == 3
    changes.ensure(con)
    again = extract_table(con, "src", spec, 0)
    assert (again.rows_read, again.rows_changed) == (3, 0)

    # m0: a NULL column gets a value, updated_at left as it was; m1: moved a day back.
    _sync(empty_db, primary, "UPDATE messages SET wework_msg_id = 'w0', updated_at = updated_at "
          "WHERE id = 'm0'")
    _sync(empty_db, primary, "UPDATE messages SET created_at = created_at - INTERVAL 1 DAY, "
          "updated_at = :at WHERE id = 'm1'", {"at": at + timedelta(seconds=1)})
    changed = extract_table(con, "src", spec, 0)
    assert (changed.rows_read, changed.rows_changed, changed.rows_in_raw) == (3, 2, 3)
    assert con.execute("SELECT id, wework_msg_id, CAST(created_at AS DATE) FROM raw.messages "
                       "ORDER BY id").fetchall() == [
        ("m0", "w0", at.date()), ("m1", None, at.date() - timedelta(days=1)),
        ("m2", None, at.date())]
    day, before = at.date(), at.date() - timedelta(days=1)
    logged = con.execute(f"SELECT DISTINCT CAST(created_at AS DATE) FROM "
                         f"{changes.changed_table('messages')} ORDER BY 1").fetchall()
    assert logged == [(before,), (day,)]
    deltas = con.execute(f"SELECT _sign, CAST(created_at AS DATE) FROM "
                         f"{changes.delta_table('messages')} ORDER BY ALL").fetchall()
    # m0 out of and back into its day, m1 out of its day and into the day before (the
    # first load was a reload, which logs no deltas; the second run logged nothing).
    assert deltas == [(-1, day), (-1, day), (1, before), (1, day)]

    # The NULL back: a change again; read once more unchanged: none.
    _sync(empty_db, primary, "UPDATE messages SET wework_msg_id = NULL, updated_at = updated_at "
          "WHERE id = 'm0'")
    assert extract_table(con, "src", spec, 0).rows_changed == 1
    assert extract_table(con, "src", spec, 0).rows_changed == 0


def test_status_history_row_committed_late_with_old_time_is_read(empty_db, primary, con):
    spec = table_specs()["account_status_history"]
    now = utcnow()
    insert = (
        "INSERT INTO account_status_history (account_id, old_status, new_status, "
        "operator_type, created_at) VALUES ('a1', 'created', :st, 'system', :at)"
    )
    _sync(empty_db, primary, insert, {"st": "logging_in", "at": now})
    extract_table(con, "src", spec, 0, overlap=timedelta(minutes=1))
    # Stamped an hour ago (outside the overlap) but with a new id: found by the id mark.
    _sync(empty_db, primary, insert, {"st": "online", "at": now - timedelta(hours=1)})
    result = extract_table(con, "src", spec, 0, overlap=timedelta(minutes=1))
    assert result.rows_in_raw == 2
    assert (
        con.execute("SELECT count(DISTINCT id) FROM raw.account_status_history").fetchone()[0] == 2
    )


def test_count_check_ignores_rows_written_after_the_read_but_sees_a_lost_row(
    empty_db, primary, con
):
    spec = table_specs()["account_status_history"]
    now = utcnow().replace(microsecond=0)
    insert = (
        "INSERT INTO account_status_history (account_id, old_status, new_status, "
        "operator_type, created_at) VALUES ('a1', 'created', 'online', 'system', :at)"
    )
    for minutes in (3, 2, 1):
        _sync(empty_db, primary, insert, {"at": now - timedelta(minutes=minutes)})
    result = extract_table(con, "src", spec, 0)
    # The live platform goes on writing before the check counts the source.
    for _ in range(2):
        _sync(empty_db, primary, insert, {"at": now})
    read = window_condition(spec, result.window, DEFAULT_OVERLAP)
    assert source_row_count(con, "src", spec.name, read) == 5  # what a plain recount sees

    def counts() -> tuple[int, int]:
        w = check_window(con, spec, 0, result.window, DEFAULT_OVERLAP)
        return source_row_count(con, "src", spec.name, w.source), raw_row_count(
            con, spec.name, 0, w.raw
        )

    # The rows older than the newest one read: the newest second itself may have grown.
    assert counts() == (2, 2)
    con.execute(
        "DELETE FROM raw.account_status_history WHERE created_at = ?",
        [now - timedelta(minutes=3)],
    )
    assert counts() == (2, 1)


def test_json_text_arrives_intact(empty_db, primary, con):
    with primary.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO tenants (id, tenant_code, tenant_name, max_accounts,"
                " max_daily_messages, status) VALUES ('t1', 'c1', 'one', 1, 1, 'active')"
            )
        )
    _sync(
        empty_db,
        primary,
        "INSERT INTO roles (id, tenant_id, role_code, role_name, permissions)"
        " VALUES ('r1', 't1', 'c1', '角色', :perms)",
        {"perms": '["报表:查看", "企业微信"]'},
    )
    extract_table(con, "src", table_specs()["roles"], 0)
    name, perms = con.execute("SELECT role_name, permissions FROM raw.roles").fetchone()
    assert name == "角色" and perms == '["报表:查看", "企业微信"]'


def test_first_load_creates_raw_with_the_source_scan_types_and_reruns_upsert(
    empty_db, primary, con
):
    # The first load creates each raw table from its Arrow stream; the types must be those
    # of a direct mysql_query() scan, or marts and later upserts would see other types.
    for name, spec in table_specs().items():
        extract_table(con, "src", spec, 0)
        direct = con.execute(
            f"DESCRIBE SELECT {_select_list(spec, 0)} FROM "
            f"{mysql_query_sql('src', source_query(spec, {}, DEFAULT_OVERLAP))}"
        ).fetchall()
        created = con.execute(f'DESCRIBE raw."{name}"').fetchall()
        assert [(c[0], c[1]) for c in created] == [(c[0], c[1]) for c in direct], name

    # A second shard appends to the existing table instead of creating it again.
    spec = table_specs()["tenants"]
    _sync(
        empty_db,
        primary,
        "INSERT INTO tenants (id, tenant_code, tenant_name, max_accounts, max_daily_messages,"
        " status) VALUES ('t1', 'c1', 'one', 1, 1, 'active')",
    )
    assert extract_table(con, "src", spec, 1).rows_in_raw == 1
    assert extract_table(con, "src", spec, 0).rows_in_raw == 1
    assert con.execute("SELECT count(*) FROM raw.tenants").fetchone()[0] == 2


def test_setting_is_restored_after_the_block_even_on_error(tmp_path):
    c = duckdb.connect(str(tmp_path / "s.duckdb"))
    c.execute("SET threads = 2")
    with pytest.raises(duckdb.CatalogException), setting(c, "threads", 1):
        assert c.execute("SELECT current_setting('threads')").fetchone()[0] == 1
        c.execute("SELECT * FROM no_such_table")
    assert c.execute("SELECT current_setting('threads')").fetchone()[0] == 2


def test_a_table_still_empty_changes_nothing_and_its_first_row_is_a_logged_change(
    empty_db, primary, con
):
    from pipelines import changes

    wait_for_replica(timeout=180, settings=empty_db)  # the emptied tables, on the replica
    spec = table_specs()["tenants"]
    extract_table(con, "src", spec, 0)  # creates raw.tenants: its marts rebuild whole
    assert changes.keys_with_prefix(con, "full:") == {"tenants"}
    changes.clear_changes(con, ["tenants"])
    # Read again, still empty: nothing changed, nothing flagged (before, every run flagged
    # an empty table, and its marts were rebuilt and republished whole every run).
    again = extract_table(con, "src", spec, 0)
    assert (again.rows_read, again.rows_changed) == (0, 0)
    assert changes.keys_with_prefix(con, "full:") == set()
    assert changes.columns_of(con, changes.changed_table("tenants")) is None
    # Its first row is an ordinary logged change, not a reload.
    _sync(
        empty_db,
        primary,
        "INSERT INTO tenants (id, tenant_code, tenant_name, max_accounts, max_daily_messages,"
        " status) VALUES ('t1', 'c1', 'one', 1, 1, 'active')",
    )
    first = extract_table(con, "src", spec, 0)
    assert (first.rows_read, first.rows_changed, first.rows_in_raw) == (1, 1, 1)
    assert changes.keys_with_prefix(con, "full:") == set()
    logged = con.execute(f"SELECT id FROM {changes.changed_table('tenants')}").fetchall()
    assert logged == [("t1",)]

"""The key-uniqueness check of raw tables (pipelines.checks.duplicate_keys), on DuckDB."""

from __future__ import annotations

import duckdb
import pytest

from pipelines.checks import duplicate_keys

KEY = ("_shard", "id")


@pytest.fixture
def con():
    c = duckdb.connect()
    c.execute("CREATE SCHEMA raw")
    c.execute("CREATE TABLE raw.t (_shard INTEGER, id VARCHAR, updated_at INTEGER)")
    c.execute("INSERT INTO raw.t SELECT s, 'id-' || i, i FROM range(2) AS a(s), "
              "range(5000) AS b(i)")
    yield c
    c.close()


def test_unique_keys_pass(con):
    assert duplicate_keys(con, "raw.t", KEY) == 0
    assert duplicate_keys(con, "raw.t", KEY, "updated_at >= 4990") == 0


def test_each_key_held_twice_counts_once(con):
    # Same id in another shard is another key; the same (shard, id) twice is one duplicate.
    con.execute("INSERT INTO raw.t VALUES (0, 'id-7', 7), (0, 'id-7', 7), (1, 'id-9', 9)")
    assert duplicate_keys(con, "raw.t", KEY) == 2


def test_a_duplicate_whose_other_row_lies_outside_the_window_is_found(con):
    # The new version was written in this run's window; the old one, left behind, was not.
    con.execute("INSERT INTO raw.t VALUES (1, 'id-3', 9999)")
    assert duplicate_keys(con, "raw.t", KEY, "updated_at >= 9000") == 1
    assert duplicate_keys(con, "raw.t", KEY, "updated_at BETWEEN 10 AND 20") == 0

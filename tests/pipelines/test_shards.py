"""With two shard databases the pipeline fans out: raw keeps each shard's rows apart
(auto-increment ids repeat across shards) and the marts cover both shards."""

from __future__ import annotations

import pytest
from etl_compare import assert_marts_match
from etl_dataset import build_dataset, utcnow, write_dataset
from sqlalchemy import text

from wework.config import reload_settings
from wework.db import migrate
from wework.db.engines import DbUser, Role, get_engine
from wework.db.replication import wait_for_replica
from wework.warehouse import connect_warehouse


@pytest.fixture
def two_shards(empty_db, wh, monkeypatch):
    monkeypatch.setenv("WEWORK_SHARD_COUNT", "2")
    s = reload_settings()
    migrate.upgrade(settings=s)  # shard 0 is already at head; creates shard 1
    yield s
    with get_engine(Role.PRIMARY, None, s, user=DbUser.MIGRATOR).begin() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS `{s.shard_database(1)}`"))


def test_two_shards_fan_out(two_shards, run_pipeline):
    s = two_shards
    now = utcnow()
    for shard, seed in ((0, 1), (1, 2)):
        write_dataset(get_engine(Role.PRIMARY, shard, s), build_dataset(now, seed, 150))
    wait_for_replica(timeout=180, settings=s)
    run_pipeline(now)

    replicas = [get_engine(Role.REPLICA, shard, s) for shard in (0, 1)]
    # Marts whose grain is per tenant/account/task: their rows are disjoint across shards.
    assert_marts_match(
        replicas,
        s,
        now,
        marts=("message_stats_hourly", "account_health_daily", "batch_task_performance"),
    )
    with connect_warehouse(s) as con:
        per_shard = dict(
            con.execute(
                "SELECT _shard, count(*) FROM raw.account_status_history GROUP BY 1"
            ).fetchall()
        )
        shared_ids = con.execute(
            "SELECT count(*) FROM (SELECT id FROM raw.account_status_history "
            "GROUP BY id HAVING count(DISTINCT _shard) = 2)"
        ).fetchone()[0]
    assert set(per_shard) == {0, 1}
    assert shared_ids > 0  # the same ids in both shards, both kept

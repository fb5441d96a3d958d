"""Dagster resources, configured from the ``WEWORK_`` environment (wework.config)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import dagster as dg
import duckdb

from pipelines.marts import CLOCK_STEP
from wework.config import Settings, get_settings
from wework.db.engines import DbUser, Role, database_url
from wework.db.routing import HEARTBEAT_TABLE, ReadDecision, choose_read_source
from wework.warehouse import connect_warehouse, private_files


class MySQLReplicaResource(dg.ConfigurableResource):
    """Where extraction reads each shard: the replica, unless the lag policy says otherwise.
    It reads as the ETL user (SELECT only).

    Empty/None fields fall back to the settings (WEWORK_REPLICA_MAX_LAG_SECONDS,
    WEWORK_REPLICA_FALLBACK, WEWORK_SHARD_COUNT ...).
    """

    overlap_seconds: int = 600
    heartbeat_table: str = HEARTBEAT_TABLE
    max_lag_seconds: float | None = None
    fallback: str | None = None
    wait_timeout_seconds: float = 60.0

    def settings(self) -> Settings:
        s = get_settings()
        update: dict[str, object] = {}
        if self.max_lag_seconds is not None:
            update["replica_max_lag_seconds"] = self.max_lag_seconds
        if self.fallback is not None:
            update["replica_fallback"] = self.fallback
        return s.model_copy(update=update) if update else s

    @property
    def overlap(self) -> timedelta:
        return timedelta(seconds=self.overlap_seconds)

    def shards(self) -> list[int]:
        return list(range(self.settings().shard_count))

    def decide(self, shard: int) -> ReadDecision:
        return choose_read_source(
            shard,
            self.settings(),
            heartbeat_table=self.heartbeat_table,
            wait_timeout=self.wait_timeout_seconds,
            user=DbUser.ETL,
        )

    def url(self, decision: ReadDecision):
        s = self.settings()
        return database_url(decision.role, s.shard_database(decision.shard), s, DbUser.ETL)

    def replica_url(self, shard: int):
        """The replica itself (for the asset checks' counts on the replica)."""
        s = self.settings()
        return database_url(Role.REPLICA, s.shard_database(shard), s, DbUser.ETL)


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file (WEWORK_WAREHOUSE_PATH) and its published copy
    (WEWORK_PUBLISH_DIR). ``as_of`` pins the marts' "now" (tests); empty means the clock.
    ``clock_step_minutes``: how long the marts' as_of may stand still while nothing
    changes (pipelines.marts.marts_as_of); 0 moves it on every run.
    ``at_once``: raw tables extracted, and marts built, at the same time, each on a
    cursor of its own (pipelines.assets.raw, pipelines.marts.build_marts)."""

    memory_limit: str = "1GB"
    threads: int = 2
    at_once: int = 3
    as_of: str | None = None
    clock_step_minutes: float = CLOCK_STEP.total_seconds() / 60

    @property
    def clock_step(self) -> timedelta:
        return timedelta(minutes=self.clock_step_minutes)

    def settings(self) -> Settings:
        return get_settings()

    def now(self) -> datetime:
        if self.as_of:
            return datetime.fromisoformat(self.as_of)
        return datetime.now(UTC).replace(tzinfo=None, microsecond=0)

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        # Every file the step writes (warehouse, WAL, spill files, published Parquet) is
        # created 0600: the umask holds for the whole step.
        with private_files():
            con = connect_warehouse(self.settings())
            try:
                con.execute(f"SET memory_limit = '{self.memory_limit}'")
                con.execute(f"SET threads = {int(self.threads)}")
                # Streaming inserts need no ordering; this keeps memory bounded.
                con.execute("SET preserve_insertion_order = false")
                # No FSST string compression in the warehouse: its ids are UUID strings,
                # which FSST compresses little at a high CPU cost on every write and
                # checkpoint. Measured at 20M messages, alternating: a 1 %-changed run
                # 1.1-2.1 s faster (the checkpoint alone 0.33 s), the full load's
                # messages 4.3 s faster; raw takes 65 % more disk (1.13 -> 1.87 GB) and
                # scans no slower. The published marts (Parquet) are not affected.
                con.execute("SET disabled_compression_methods = 'fsst'")
                yield con
            finally:
                con.close()

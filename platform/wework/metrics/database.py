"""The database's own health (``wework db monitor``), read as the monitor user.

Per server (primary, replica) and shard database (``<db_name>_<i>``):

- **top statements** by total time, from ``performance_schema`` statement digests: calls,
  average, p95 and max. MySQL 8 keeps p95 in the digest row (``QUANTILE_95``); MariaDB
  10.11 does not, so there p95 is taken from the recent statements of that digest in
  ``events_statements_history`` (with the number of samples it rests on), or left empty;
- **unused indexes**: secondary indexes with no reads in ``userstat``'s
  ``INDEX_STATISTICS`` since the server started (reads go to the replica, so an index is
  only unused when no server reads it); **duplicate indexes**: an index whose columns are
  a leftmost prefix of another index of the same table;
- **table and partition sizes** (``information_schema.PARTITIONS``: estimates, no scan);
- **connections** in use against ``max_connections``; **buffer-pool hit rate**;
- on the primary, **partition headroom**: days until ``p_future`` would receive rows,
  i.e. until the start of the first period no partition has been split off for yet;
- **replication**: threads and heartbeat lag (:mod:`wework.db.replication`);
- **backups**: age of the last full backup and of the last recovery point (full or
  incremental) in the backup catalogue (:mod:`wework.ops.manifest`);
- **disk**: free space where the data directory lives.

:func:`collect_database_health` reads all this and records it in the metrics store (the
worker's ``db_monitor`` job, every minute), so the Monitoring page shows lag and size
history. Measurements (series ``<measurement>_<field>``):

======================  ============================  =====================================
measurement             tags                          fields
======================  ============================  =====================================
db_connections          server                        in_use, max, max_used
db_buffer_pool          server                        hit_rate
db_statement            server, schema, digest        calls, total_seconds, avg_seconds,
                                                      p95_seconds, max_seconds
db_indexes              server                        unused, duplicate
db_table                schema, table                 rows, data_bytes, index_bytes,
                                                      total_bytes (primary)
db_partition_headroom   schema, table                 days, rows_in_future
db_replication          replica                       io_running, sql_running, lag_seconds
db_backup               (none)                        full_age_seconds,
                                                      recovery_point_age_seconds
disk                    path                          free_ratio, free_bytes
======================  ============================  =====================================

Every query reads catalogue tables or counters, never a platform table, so a collection
costs the same at any data size.
"""

from __future__ import annotations

import shutil
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, bindparam, text

from wework.config import Settings, get_settings
from wework.db.engines import DbUser, Role, get_engine
from wework.db.replication import replication_status
from wework.metrics.state import record
from wework.models.partitioning import SCHEMES

PICOSECONDS = 1e12
DIGEST_TEXT_CHARS = 300
P95_MIN_SAMPLES = 5  # fewer recent statements than this: no p95 from history


@dataclass
class Statement:
    schema: str | None
    digest: str
    text: str
    calls: int
    total_seconds: float
    avg_seconds: float
    max_seconds: float
    p95_seconds: float | None
    p95_source: str | None  # "digest" (QUANTILE_95), "history (n samples)", None
    rows_examined: int
    no_index_used: int


@dataclass
class Index:
    schema: str
    table: str
    name: str
    columns: tuple[str, ...]
    unique: bool
    rows_read: int | None = None  # userstat INDEX_STATISTICS; None: no reads recorded


@dataclass
class DuplicateIndex:
    schema: str
    table: str
    name: str
    columns: tuple[str, ...]
    covered_by: str


@dataclass
class TableSize:
    schema: str
    table: str
    partition: str | None
    rows: int
    data_bytes: int
    index_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.data_bytes + self.index_bytes


@dataclass
class Headroom:
    schema: str
    table: str
    future_from: datetime  # where p_future starts (UTC)
    days: float  # from the check's clock until then; negative: rows already land there
    rows_in_future: int  # the server's estimate


@dataclass
class ServerHealth:
    server: str  # "primary" | "replica"
    connections: int | None = None
    max_connections: int | None = None
    max_used_connections: int | None = None
    buffer_pool_hit_rate: float | None = None
    statements: list[Statement] = field(default_factory=list)
    unused_indexes: list[Index] = field(default_factory=list)
    duplicate_indexes: list[DuplicateIndex] = field(default_factory=list)
    tables: list[TableSize] = field(default_factory=list)
    headroom: list[Headroom] = field(default_factory=list)
    userstat: bool = False
    error: str | None = None


@dataclass
class Replication:
    configured: bool
    io_running: str | None
    sql_running: str | None
    lag_seconds: float | None
    last_error: str | None

    @property
    def stopped(self) -> bool:
        return self.configured and not (self.io_running == "Yes" and self.sql_running == "Yes")


@dataclass
class Backups:
    directory: str
    count: int
    last_full_at: datetime | None
    last_at: datetime | None  # the last recovery point: full or incremental
    full_age_seconds: float | None
    recovery_point_age_seconds: float | None
    error: str | None = None


@dataclass
class Disk:
    path: str
    total_bytes: int
    free_bytes: int

    @property
    def free_ratio(self) -> float:
        return self.free_bytes / self.total_bytes if self.total_bytes else 0.0


@dataclass
class DatabaseHealth:
    at: datetime  # the check's clock (UTC, aware)
    servers: list[ServerHealth]
    replication: Replication | None
    backups: Backups
    disk: Disk | None

    def server(self, name: str) -> ServerHealth | None:
        return next((s for s in self.servers if s.server == name), None)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------- per server


def _in_shards(column: str) -> str:
    return f"{column} IN :schemas"


def _status(conn: Connection, names: tuple[str, ...]) -> dict[str, str]:
    rows = conn.execute(
        text("SELECT VARIABLE_NAME, VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS "
             "WHERE VARIABLE_NAME IN :names").bindparams(bindparam("names", expanding=True)),
        {"names": [n.upper() for n in names]},
    ).all()
    return {str(k).lower(): str(v) for k, v in rows}


def _connections_and_buffer_pool(conn: Connection, health: ServerHealth) -> None:
    status = _status(conn, ("threads_connected", "max_used_connections",
                            "innodb_buffer_pool_read_requests", "innodb_buffer_pool_reads"))
    health.connections = int(status.get("threads_connected", 0))
    health.max_used_connections = int(status.get("max_used_connections", 0))
    health.max_connections = int(conn.execute(text("SELECT @@GLOBAL.max_connections")).scalar())
    requests = int(status.get("innodb_buffer_pool_read_requests", 0))
    disk_reads = int(status.get("innodb_buffer_pool_reads", 0))
    # Logical reads answered from memory; disk_reads are the ones that went to disk.
    health.buffer_pool_hit_rate = None if requests == 0 else 1.0 - disk_reads / requests


def _has_quantiles(conn: Connection) -> bool:
    return bool(conn.execute(text(
        "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = "
        "'performance_schema' AND TABLE_NAME = 'events_statements_summary_by_digest' "
        "AND COLUMN_NAME = 'QUANTILE_95'")).scalar())


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def top_statements(conn: Connection, schemas: list[str], limit: int) -> list[Statement]:
    """The ``limit`` statement digests of ``schemas`` with the most total time."""
    quantile = "QUANTILE_95" if _has_quantiles(conn) else "NULL"
    rows = conn.execute(
        text(
            f"""SELECT SCHEMA_NAME, DIGEST, LEFT(DIGEST_TEXT, {DIGEST_TEXT_CHARS}), COUNT_STAR,
                       SUM_TIMER_WAIT, AVG_TIMER_WAIT, MAX_TIMER_WAIT, {quantile},
                       SUM_ROWS_EXAMINED, SUM_NO_INDEX_USED + SUM_NO_GOOD_INDEX_USED
                FROM performance_schema.events_statements_summary_by_digest
                WHERE {_in_shards("SCHEMA_NAME")} AND DIGEST IS NOT NULL
                ORDER BY SUM_TIMER_WAIT DESC LIMIT :limit"""
        ).bindparams(bindparam("schemas", expanding=True)),
        {"schemas": schemas, "limit": limit},
    ).all()
    statements = [
        Statement(
            schema=r[0], digest=r[1], text=r[2] or "", calls=int(r[3]),
            total_seconds=int(r[4]) / PICOSECONDS, avg_seconds=int(r[5]) / PICOSECONDS,
            max_seconds=int(r[6]) / PICOSECONDS,
            p95_seconds=None if r[7] is None else int(r[7]) / PICOSECONDS,
            p95_source=None if r[7] is None else "digest",
            rows_examined=int(r[8]), no_index_used=int(r[9]),
        )
        for r in rows
    ]
    missing = [s.digest for s in statements if s.p95_seconds is None]
    if missing:
        samples: dict[str, list[float]] = defaultdict(list)
        for digest, wait in conn.execute(
            text("SELECT DIGEST, TIMER_WAIT FROM performance_schema.events_statements_history "
                 "WHERE DIGEST IN :digests AND TIMER_WAIT IS NOT NULL"
                 ).bindparams(bindparam("digests", expanding=True)),
            {"digests": missing},
        ):
            samples[digest].append(int(wait) / PICOSECONDS)
        for s in statements:
            got = samples.get(s.digest, [])
            if s.p95_seconds is None and len(got) >= P95_MIN_SAMPLES:
                s.p95_seconds = _p95(got)
                s.p95_source = f"history ({len(got)} samples)"
    return statements


def indexes(conn: Connection, schemas: list[str]) -> list[Index]:
    """Every index of ``schemas`` (PRIMARY included), with its reads when userstat has any."""
    found: dict[tuple[str, str, str], Index] = {}
    for schema, table, name, column, non_unique in conn.execute(
        text(f"""SELECT TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, COLUMN_NAME, NON_UNIQUE
                 FROM information_schema.STATISTICS WHERE {_in_shards("TABLE_SCHEMA")}
                 ORDER BY TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX"""
             ).bindparams(bindparam("schemas", expanding=True)),
        {"schemas": schemas},
    ):
        key = (schema, table, name)
        index = found.get(key)
        if index is None:
            index = found[key] = Index(schema, table, name, (), not int(non_unique))
        index.columns = (*index.columns, column)
    try:
        reads = conn.execute(
            text(f"""SELECT TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, ROWS_READ
                     FROM information_schema.INDEX_STATISTICS
                     WHERE {_in_shards("TABLE_SCHEMA")}"""
                 ).bindparams(bindparam("schemas", expanding=True)),
            {"schemas": schemas},
        ).all()
    except Exception:  # MySQL has no userstat: every rows_read stays None
        reads = []
    for schema, table, name, rows_read in reads:
        index = found.get((schema, table, name))
        if index is not None:
            index.rows_read = int(rows_read)
    return list(found.values())


def unused_indexes(all_indexes: list[Index]) -> list[Index]:
    """Secondary indexes nothing has read since the server started (userstat)."""
    return [i for i in all_indexes if i.name != "PRIMARY" and not i.rows_read]


def duplicate_indexes(all_indexes: list[Index]) -> list[DuplicateIndex]:
    """Indexes whose columns are a leftmost prefix of another index of the same table
    (the longer one serves every lookup the shorter one does). A unique index is only
    redundant when another has exactly its columns and is unique too: its constraint
    would be lost otherwise."""
    by_table: dict[tuple[str, str], list[Index]] = defaultdict(list)
    for index in all_indexes:
        by_table[(index.schema, index.table)].append(index)
    found = []
    for group in by_table.values():
        for index in group:
            if index.name == "PRIMARY":
                continue
            for other in group:
                if other is index or other.columns[: len(index.columns)] != index.columns:
                    continue
                same = other.columns == index.columns
                if index.unique and not (same and other.unique):
                    continue
                # Two identical indexes: report the later name once, not both.
                if same and other.unique == index.unique and other.name > index.name:
                    continue
                found.append(DuplicateIndex(index.schema, index.table, index.name,
                                            index.columns, other.name))
                break
    return found


def table_sizes(conn: Connection, schemas: list[str]) -> list[TableSize]:
    """Rows and bytes per table and, for partitioned tables, per partition."""
    rows = conn.execute(
        text(f"""SELECT TABLE_SCHEMA, TABLE_NAME, PARTITION_NAME, COALESCE(TABLE_ROWS, 0),
                        COALESCE(DATA_LENGTH, 0), COALESCE(INDEX_LENGTH, 0)
                 FROM information_schema.PARTITIONS WHERE {_in_shards("TABLE_SCHEMA")}
                 ORDER BY TABLE_SCHEMA, TABLE_NAME, PARTITION_ORDINAL_POSITION"""
             ).bindparams(bindparam("schemas", expanding=True)),
        {"schemas": schemas},
    ).all()
    return [TableSize(r[0], r[1], r[2], int(r[3]), int(r[4]), int(r[5])) for r in rows]


def partition_headroom(conn: Connection, schemas: list[str], now: datetime) -> list[Headroom]:
    """For each range-partitioned table: where ``p_future`` starts and how many days from
    ``now`` that is (the worker's ``partitions`` job moves it forward)."""
    rows = conn.execute(
        text(f"""SELECT TABLE_SCHEMA, TABLE_NAME, PARTITION_NAME, PARTITION_DESCRIPTION,
                        COALESCE(TABLE_ROWS, 0)
                 FROM information_schema.PARTITIONS
                 WHERE {_in_shards("TABLE_SCHEMA")} AND TABLE_NAME IN :tables
                   AND PARTITION_NAME IS NOT NULL"""
             ).bindparams(bindparam("schemas", expanding=True),
                          bindparam("tables", expanding=True)),
        {"schemas": schemas, "tables": list(SCHEMES)},
    ).all()
    bounds: dict[tuple[str, str], int] = {}
    future_rows: dict[tuple[str, str], int] = {}
    for schema, table, partition, description, table_rows in rows:
        key = (schema, table)
        if partition == "p_future":
            future_rows[key] = int(table_rows)
        elif description and description.upper() != "MAXVALUE":
            bounds[key] = max(bounds.get(key, 0), int(description))
    result = []
    for (schema, table), bound in sorted(bounds.items()):
        start = datetime.fromtimestamp(bound, UTC)
        result.append(Headroom(schema, table, start, (start - now).total_seconds() / 86400,
                               future_rows.get((schema, table), 0)))
    return result


def read_server(role: Role, settings: Settings, now: datetime, top: int) -> ServerHealth:
    health = ServerHealth(server=role.value)
    schemas = settings.shard_databases
    try:
        with get_engine(role, None, settings, user=DbUser.MONITOR).connect() as conn:
            health.userstat = str(conn.execute(text("SELECT @@GLOBAL.userstat")).scalar()) in (
                "1", "ON")
            _connections_and_buffer_pool(conn, health)
            health.statements = top_statements(conn, schemas, top)
            every_index = indexes(conn, schemas)
            health.unused_indexes = unused_indexes(every_index) if health.userstat else []
            health.duplicate_indexes = duplicate_indexes(every_index)
            health.tables = table_sizes(conn, schemas)
            if role is Role.PRIMARY:
                health.headroom = partition_headroom(conn, schemas, now)
    except Exception as e:  # this server is down or refuses: the others are still read
        health.error = str(getattr(e, "orig", None) or e).splitlines()[0][:300]
    return health


# ---------------------------------------------------------------- outside the servers


def read_backups(settings: Settings, now: datetime) -> Backups:
    from wework.ops.manifest import Manifest, ManifestError

    directory = settings.backup_path
    try:
        backups = Manifest(directory).load()
    except ManifestError as e:
        return Backups(str(directory), 0, None, None, None, None, error=str(e))
    full = [b.time for b in backups if b.kind == "full"]
    last_full = max(full, default=None)
    last = max((b.time for b in backups), default=None)
    return Backups(
        str(directory), len(backups), last_full, last,
        None if last_full is None else (now - last_full).total_seconds(),
        None if last is None else (now - last).total_seconds(),
    )


def read_disk(path: Path) -> Disk | None:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent  # the data dir may not exist yet: its volume does
    try:
        usage = shutil.disk_usage(probe)
    except OSError:
        return None
    return Disk(str(path), usage.total, usage.free)


def read_replication(settings: Settings) -> Replication | None:
    try:
        status = replication_status(settings)
    except Exception:
        return None
    if status.same_server:
        return None
    return Replication(status.configured, status.io_running, status.sql_running,
                       status.lag_seconds, status.last_error)


def read_database_health(settings: Settings | None = None, now: datetime | None = None,
                         top: int = 10) -> DatabaseHealth:
    """Everything above, read now (records nothing). ``now`` is the check's clock (tests
    move it, not the machine's)."""
    s = settings or get_settings()
    at = now or datetime.now(UTC)
    roles = [Role.PRIMARY]
    replication = read_replication(s)
    if replication is not None:
        roles.append(Role.REPLICA)
    return DatabaseHealth(
        at=at,
        servers=[read_server(role, s, at, top) for role in roles],
        replication=replication,
        backups=read_backups(s, at),
        disk=read_disk(s.data_dir),
    )


# ---------------------------------------------------------------- recording


def record_database_health(health: DatabaseHealth) -> int:
    """Write ``health`` to the metrics store (see the module's table). Returns points."""
    at = health.at
    points = 0

    def put(measurement: str, fields: dict[str, Any], tags: dict[str, Any] | None = None):
        nonlocal points
        if any(v is not None for v in fields.values()):
            record(measurement, fields, tags, at)
            points += 1

    for server in health.servers:
        tag = {"server": server.server}
        put("db_connections", {"in_use": server.connections, "max": server.max_connections,
                               "max_used": server.max_used_connections}, tag)
        put("db_buffer_pool", {"hit_rate": server.buffer_pool_hit_rate}, tag)
        if server.error is None:
            put("db_indexes", {"unused": len(server.unused_indexes) if server.userstat else None,
                               "duplicate": len(server.duplicate_indexes)}, tag)
        for st in server.statements:
            put("db_statement", {"calls": st.calls, "total_seconds": st.total_seconds,
                                 "avg_seconds": st.avg_seconds, "p95_seconds": st.p95_seconds,
                                 "max_seconds": st.max_seconds},
                {**tag, "schema": st.schema, "digest": st.digest})
        if server.server == Role.PRIMARY.value:
            totals: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
            for t in server.tables:
                total = totals[(t.schema, t.table)]
                total[0] += t.rows
                total[1] += t.data_bytes
                total[2] += t.index_bytes
            for (schema, table), (rows, data, index) in sorted(totals.items()):
                put("db_table", {"rows": rows, "data_bytes": data, "index_bytes": index,
                                 "total_bytes": data + index},
                    {"schema": schema, "table": table})
            for h in server.headroom:
                put("db_partition_headroom", {"days": h.days, "rows_in_future": h.rows_in_future},
                    {"schema": h.schema, "table": h.table})
    if health.replication is not None:
        r = health.replication
        put("db_replication", {"io_running": int(r.io_running == "Yes"),
                               "sql_running": int(r.sql_running == "Yes"),
                               "lag_seconds": r.lag_seconds}, {"replica": "replica"})
    b = health.backups
    put("db_backup", {"full_age_seconds": b.full_age_seconds,
                      "recovery_point_age_seconds": b.recovery_point_age_seconds})
    if health.disk is not None:
        put("disk", {"free_ratio": health.disk.free_ratio,
                     "free_bytes": health.disk.free_bytes}, {"path": health.disk.path})
    return points


def collect_database_health(settings: Settings | None = None, top: int = 10) -> DatabaseHealth:
    """Read the database health and record it in the metrics store (the worker's
    ``db_monitor`` job). A metrics store that is down never makes this fail."""
    health = read_database_health(settings, top=top)
    record_database_health(health)
    return health

"""Replication health: GTID positions, thread state and the heartbeat lag.

Works the same for the local pair and for external servers: everything goes through the
server-level engines of :mod:`wework.db.engines` (``shard=None``), never the unix socket.

Lag is measured with a heartbeat row: an EVENT on the primary writes
``wework_meta.heartbeat.ts = UTC_TIMESTAMP(6)`` every second, and the lag is the replica's
``UTC_TIMESTAMP(6)`` minus the ``ts`` it has applied. Because the row is written once a
second, the figure includes up to one second of tick age: it is an upper bound.
``Seconds_Behind_Master`` is shown too but is 0 on an idle link and jumpy under load.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine, text

from wework.config import Settings, get_settings
from wework.db.engines import DbUser, Role, get_engine, server_url

# Replication state is read as the monitoring user (SHOW SLAVE STATUS needs SLAVE MONITOR).
MONITOR = DbUser.MONITOR

HEARTBEAT_DB = "wework_meta"
_UPSERT = (
    f"INSERT INTO {HEARTBEAT_DB}.heartbeat (id, ts) VALUES (1, UTC_TIMESTAMP(6)) "
    "ON DUPLICATE KEY UPDATE ts = UTC_TIMESTAMP(6)"
)


def ensure_heartbeat(engine: Engine) -> bool:
    """Create the heartbeat table and its once-a-second EVENT on the primary (idempotent).

    ``engine`` is a server-level engine for the primary. Returns whether the primary's
    event scheduler is ON (when it is OFF the heartbeat goes stale and lag grows).
    """
    with engine.begin() as conn:
        conn.exec_driver_sql(
            f"CREATE DATABASE IF NOT EXISTS {HEARTBEAT_DB} "
            "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        )
        conn.exec_driver_sql(
            f"CREATE TABLE IF NOT EXISTS {HEARTBEAT_DB}.heartbeat "
            "(id TINYINT PRIMARY KEY, ts TIMESTAMP(6) NOT NULL) ENGINE=InnoDB"
        )
        conn.exec_driver_sql(_UPSERT)
        # An upsert rather than an UPDATE: the beat comes back even if the row is deleted.
        # The connection is pinned to UTC, which the event keeps as its time zone.
        # OR REPLACE, not IF NOT EXISTS: an event runs with its DEFINER's privileges, and
        # one created by an earlier user (e.g. the app user, before it lost EVENT when the
        # per-role users came) fails every second with "access denied" while the lag grows.
        conn.exec_driver_sql(
            f"CREATE OR REPLACE EVENT {HEARTBEAT_DB}.heartbeat_tick "
            f"ON SCHEDULE EVERY 1 SECOND DO {_UPSERT}"
        )
        return conn.exec_driver_sql("SELECT @@GLOBAL.event_scheduler").scalar() == "ON"


@dataclass
class ServerInfo:
    role: str
    address: str  # host:port (or socket), no credentials
    reachable: bool = False
    version: str | None = None
    server_id: int | None = None
    error: str | None = None


@dataclass
class ReplicationStatus:
    primary: ServerInfo
    replica: ServerInfo
    # No separate replica configured: "replica" reads go to the primary itself.
    same_server: bool = False
    primary_gtid_binlog_pos: str | None = None
    replica_gtid_slave_pos: str | None = None
    configured: bool = False  # SHOW SLAVE STATUS returned a row
    io_running: str | None = None  # Yes / No / Connecting
    sql_running: str | None = None
    gtid_io_pos: str | None = None
    seconds_behind_master: int | None = None
    last_error: str | None = None
    lag_seconds: float | None = None  # heartbeat lag; None without a heartbeat table
    notes: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        """Why the pair is not healthy (empty when it is)."""
        found = []
        for server in (self.primary, self.replica):
            if not server.reachable:
                found.append(f"{server.role} at {server.address} is unreachable: {server.error}")
        if self.same_server or not self.replica.reachable:
            return found
        if not self.configured:
            found.append("the replica has no replication configured")
            return found
        if self.io_running != "Yes":
            found.append(f"replica IO thread is {self.io_running}")
        if self.sql_running != "Yes":
            found.append(f"replica SQL thread is {self.sql_running}")
        if self.last_error:
            found.append(f"replication error: {self.last_error}")
        return found

    @property
    def healthy(self) -> bool:
        return not self.problems


def _address(role: Role, settings: Settings) -> str:
    try:
        url = server_url(role, settings)
    except RuntimeError:
        return "(not configured)"
    host = url.query.get("unix_socket") or f"{url.host}:{url.port or 3306}"
    return str(host)


def _server_info(role: Role, settings: Settings) -> tuple[ServerInfo, Engine | None]:
    info = ServerInfo(role.value, _address(role, settings))
    try:
        engine = get_engine(role, shard=None, settings=settings, user=MONITOR)
        with engine.connect() as conn:
            info.version, info.server_id = conn.exec_driver_sql(
                "SELECT VERSION(), @@server_id"
            ).one()
        info.reachable = True
        return info, engine
    except Exception as e:  # any failure to reach it is what we report
        info.error = _one_line(e)
        return info, None


def _one_line(error: Exception) -> str:
    return str(getattr(error, "orig", None) or error).splitlines()[0]


def replication_status(settings: Settings | None = None) -> ReplicationStatus:
    """State of the primary, the replica and the link between them. Never raises for an
    unreachable server: that is reported in the result."""
    s = settings or get_settings()
    primary, primary_engine = _server_info(Role.PRIMARY, s)
    replica, replica_engine = _server_info(Role.REPLICA, s)
    status = ReplicationStatus(primary=primary, replica=replica)
    status.same_server = replica.address == primary.address or (
        primary.server_id is not None and primary.server_id == replica.server_id
    )

    if primary_engine is not None:
        with primary_engine.connect() as conn:
            status.primary_gtid_binlog_pos = conn.exec_driver_sql(
                "SELECT @@GLOBAL.gtid_binlog_pos"
            ).scalar()

    if replica_engine is not None and not status.same_server:
        with replica_engine.connect() as conn:
            status.replica_gtid_slave_pos = conn.exec_driver_sql(
                "SELECT @@GLOBAL.gtid_slave_pos"
            ).scalar()
            try:
                row = conn.exec_driver_sql("SHOW SLAVE STATUS").mappings().first()
            except Exception as e:  # e.g. an external account without SLAVE MONITOR
                status.notes.append(f"SHOW SLAVE STATUS failed: {_one_line(e)}")
                row = None
            if row is not None:
                status.configured = True
                status.io_running = row["Slave_IO_Running"]
                status.sql_running = row["Slave_SQL_Running"]
                status.gtid_io_pos = row.get("Gtid_IO_Pos")
                status.seconds_behind_master = row["Seconds_Behind_Master"]
                status.last_error = (
                    row["Last_SQL_Error"] or row["Last_IO_Error"] or row["Last_Error"] or None
                )
            status.lag_seconds = _heartbeat_lag(conn, status)

    return status


def _heartbeat_lag(conn, status: ReplicationStatus) -> float | None:
    try:
        lag = conn.exec_driver_sql(
            f"SELECT TIMESTAMPDIFF(MICROSECOND, ts, UTC_TIMESTAMP(6)) / 1e6 "
            f"FROM {HEARTBEAT_DB}.heartbeat WHERE id = 1"
        ).scalar()
    except Exception as e:  # no heartbeat table yet (not migrated / not replicated)
        status.notes.append(f"no heartbeat on the replica: {_one_line(e)}")
        return None
    return None if lag is None else float(lag)


def wait_for_replica(timeout: float = 10.0, settings: Settings | None = None) -> None:
    """Block until the replica has applied everything the primary has binlogged so far.

    For read-after-write on the replica (tests, ETL right after a write). Raises
    TimeoutError if it has not caught up within ``timeout`` seconds.
    """
    s = settings or get_settings()
    with get_engine(Role.PRIMARY, shard=None, settings=s, user=MONITOR).connect() as conn:
        position, primary_id = conn.exec_driver_sql(
            "SELECT @@GLOBAL.gtid_binlog_pos, @@server_id"
        ).one()
    if not position:
        return
    with get_engine(Role.REPLICA, shard=None, settings=s, user=MONITOR).connect() as conn:
        if conn.exec_driver_sql("SELECT @@server_id").scalar() == primary_id:
            return  # no separate replica: reads see writes already
        # MASTER_GTID_WAIT returns 0 once gtid_slave_pos has reached the position, -1 on timeout.
        result = conn.execute(
            text("SELECT MASTER_GTID_WAIT(:pos, :timeout)"),
            {"pos": position, "timeout": timeout},
        ).scalar()
    if result != 0:
        raise TimeoutError(
            f"replica did not reach the primary's GTID position {position} within "
            f"{timeout} s; see `wework db status`"
        )

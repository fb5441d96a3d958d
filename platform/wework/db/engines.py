"""Engines for the primary and the read replica, one per shard database.

Every connection pins ``time_zone='+00:00'``: all times in this platform are UTC and a
server in another zone must not shift a single value.
"""

from __future__ import annotations

import select
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from threading import Lock

import pymysql
from pymysql.constants.SERVER_STATUS import SERVER_STATUS_IN_TRANS
from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError

from wework.config import Settings, get_settings
from wework.errors import PrimaryUnavailable

UTC_INIT = "SET time_zone='+00:00'"
# A host that is down must not hold a caller for PyMySQL's default 10 s.
CONNECT_TIMEOUT_SECONDS = 5
# Service transactions (short OLTP statements) also bound every socket read/write, so a
# primary that accepts connections but never answers fails instead of hanging forever.
OLTP_IO_TIMEOUT_SECONDS = 30

# MySQL client error codes meaning the server is not reachable (any more).
CANNOT_CONNECT = 2003  # CR_CONN_HOST_ERROR
SERVER_GONE = 2006  # CR_SERVER_GONE_ERROR
LOST_CONNECTION = 2013  # CR_SERVER_LOST
UNAVAILABLE_CODES = {CANNOT_CONNECT, SERVER_GONE, LOST_CONNECTION}


def error_code(error: BaseException) -> int | None:
    orig = getattr(error, "orig", error)
    args = getattr(orig, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


@contextmanager
def unavailable_as_error(engine: Engine) -> Iterator[None]:
    """Turn "cannot connect" / "lost the connection" into :class:`PrimaryUnavailable`."""
    try:
        yield
    except DBAPIError as e:
        code = error_code(e)
        if code in UNAVAILABLE_CODES:
            url = engine.url
            detail = str(getattr(e, "orig", e)).splitlines()[0]
            raise PrimaryUnavailable(f"{url.host}:{url.port}", code, detail) from e
        raise


class Role(StrEnum):
    """Which server: the primary or its read replica."""

    PRIMARY = "primary"
    REPLICA = "replica"


class DbUser(StrEnum):
    """Who connects: one database user per kind of work, each with only the privileges
    that work needs (:mod:`wework.db.privileges`)."""

    APP = "app"  # services, worker, API, app: DML on the shard databases
    MIGRATOR = "migrator"  # DDL: migrations, partitions, retention, the bulk seed
    ETL = "etl"  # SELECT: the pipelines' extract (from the replica)
    BACKUP = "backup"  # mariadb-dump and binlog copies
    MONITOR = "monitor"  # replication status, gauges, `wework db check`


def local_user_name(user: DbUser, settings: Settings) -> str:
    """The name the local stack gives ``user`` (``wework`` for the app)."""
    if user is DbUser.APP:
        return settings.local_db_user
    return getattr(settings, f"db_{user}_user") or f"wework_{user}"


def credentials(user: DbUser, settings: Settings) -> tuple[str, str | None] | None:
    """(name, password) of ``user``; None on external servers when that role has no user
    of its own (it then connects as the user in the URL)."""
    if settings.uses_local_stack:
        password = (
            settings.local_db_password
            if user is DbUser.APP
            else getattr(settings, f"db_{user}_password")
        )
        return local_user_name(user, settings), password
    name = None if user is DbUser.APP else getattr(settings, f"db_{user}_user")
    return (name, getattr(settings, f"db_{user}_password")) if name else None


def server_url(
    role: Role | str, settings: Settings | None = None, user: DbUser = DbUser.APP
) -> URL:
    """URL of the primary or replica server for ``user``, without a database selected."""
    s = settings or get_settings()
    role = Role(role)
    login = credentials(user, s)
    if s.uses_local_stack:
        assert login is not None
        if not login[1]:
            raise RuntimeError(
                f"No database configured for the {user} user: set WEWORK_PRIMARY_URL/"
                "WEWORK_REPLICA_URL, or run `wework db up` to start the local pair (it "
                "generates every user's password into local.env)."
            )
        port = s.primary_port if role is Role.PRIMARY else s.replica_port
        return URL.create(
            "mysql+pymysql",
            username=login[0],
            password=login[1],
            host="127.0.0.1",
            port=port,
            query={"charset": "utf8mb4"},
        )
    raw = s.primary_url if role is Role.PRIMARY else (s.replica_url or s.primary_url)
    if not raw:
        raise RuntimeError("WEWORK_PRIMARY_URL must be set when WEWORK_REPLICA_URL is.")
    url = make_url(raw)
    if "charset" not in url.query:
        url = url.update_query_dict({"charset": "utf8mb4"})
    if login is not None:
        url = url.set(username=login[0], password=login[1])
    return url.set(database=None)


def database_url(
    role: Role | str,
    database: str | None,
    settings: Settings | None = None,
    user: DbUser = DbUser.APP,
) -> URL:
    return server_url(role, settings, user).set(database=database)


def new_engine(url: URL, **kwargs) -> Engine:
    """An engine whose every connection is pinned to UTC, checked before use when it sat
    idle in the pool, and reset on return only when it may still hold a transaction
    (:func:`_ping_if_idle`, :func:`_reset_if_in_transaction`)."""
    connect_args = {
        "init_command": UTC_INIT,
        "connect_timeout": CONNECT_TIMEOUT_SECONDS,
        **kwargs.pop("connect_args", {}),
    }
    engine = create_engine(
        url,
        pool_recycle=3600,
        pool_reset_on_return=None,  # _reset_if_in_transaction does it when needed
        connect_args=connect_args,
        **kwargs,
    )
    event.listen(engine, "checkout", _ping_if_idle)
    event.listen(engine, "checkin", _note_idle_since)
    event.listen(engine, "commit", _note_transaction_ended)
    event.listen(engine, "rollback", _note_transaction_ended)
    event.listen(engine, "reset", _reset_if_in_transaction)
    return engine


# SQLAlchemy's pool_pre_ping and rollback-on-return each cost a round trip per checkout,
# two of a single send's five (ping, INSERT, UPDATE, COMMIT, ROLLBACK): about a third of
# its client CPU with PyMySQL. Instead, a checkout looks at the socket without a round
# trip: a server that closed the connection (stopped, restarted, killed it, timed it
# out) has left it readable, with the FIN or a last error packet. Only a connection idle
# longer than this is also pinged (a peer gone without a word, e.g. behind a firewall).
PING_AFTER_IDLE_SECONDS = 5.0
_IDLE_SINCE, _ENDED = "wework_idle_since", "wework_transaction_ended"


def _ping_if_idle(dbapi_connection, record, proxy) -> None:
    """Pool ``checkout``: refuse a pooled connection the server has closed, and ping one
    idle past PING_AFTER_IDLE_SECONDS; on DisconnectionError the pool replaces it (the
    documented pessimistic disconnect handling)."""
    record.info[_ENDED] = False
    idle_since = record.info.get(_IDLE_SINCE)
    if idle_since is None:
        return  # just connected
    if _closed_by_server(dbapi_connection):
        raise DisconnectionError("the server closed this pooled connection")
    if time.monotonic() - idle_since <= PING_AFTER_IDLE_SECONDS:
        return
    try:
        dbapi_connection.ping(reconnect=False)
    except (pymysql.err.Error, OSError) as e:
        raise DisconnectionError(f"pooled connection is dead: {e}") from e


def _closed_by_server(dbapi_connection) -> bool:
    """Whether an idle connection's socket is readable (or gone): between statements the
    server sends nothing unless it is closing the connection. PyMySQL keeps the socket
    in ``_sock`` (None once closed)."""
    sock = getattr(dbapi_connection, "_sock", None)
    if sock is None:
        return True
    poller = select.poll()
    poller.register(sock, select.POLLIN | select.POLLHUP | select.POLLERR)
    return bool(poller.poll(0))


def _note_idle_since(dbapi_connection, record) -> None:
    record.info[_IDLE_SINCE] = time.monotonic()


def _note_transaction_ended(conn) -> None:
    """Engine ``commit`` / ``rollback``: the Connection ended its transaction (the events
    fire before the COMMIT/ROLLBACK is sent; a failed one leaves the server status in a
    transaction, which :func:`_reset_if_in_transaction` still sees)."""
    if not conn.invalidated:  # an invalidated one is discarded, never reset
        conn.connection.info[_ENDED] = True


def _reset_if_in_transaction(dbapi_connection, record, state) -> None:
    """Pool ``reset`` (``pool_reset_on_return=None``): roll back unless the Connection
    already ended its transaction and the server's last status says no transaction is
    open, so a pooled connection never carries locks or an old snapshot to its next user."""
    if state.terminate_only or state.transaction_was_reset:
        return
    in_transaction = (dbapi_connection.server_status or 0) & SERVER_STATUS_IN_TRANS
    if record.info.get(_ENDED) and not in_transaction:
        return
    dbapi_connection.rollback()


_engines: dict[tuple, Engine] = {}
# Every transaction and read asks for its engine, a single send two or three times:
# building the URL that keys _engines took 12 us a call, the lookup by identity 0.3 us
# (measured). The engine found for a settings object is remembered by that object's
# identity (it is kept in the value, so its id cannot be reused while the entry lives).
_found: dict[tuple, tuple[Settings, Engine]] = {}
_lock = Lock()


def get_engine(
    role: Role | str = Role.PRIMARY,
    shard: int | None = 0,
    settings: Settings | None = None,
    io_timeout: int | None = None,
    user: DbUser = DbUser.APP,
    isolation_level: str | None = None,
) -> Engine:
    """Cached engine for a shard database (or the bare server when ``shard`` is None),
    connected as ``user`` (the app's DML-only user unless the work needs another).

    ``io_timeout`` bounds every socket read and write (OLTP paths); leave it None for
    long statements (bulk loads, index builds, reports). ``isolation_level`` (None: the
    server's REPEATABLE READ) gives an engine with a pool of its own whose connections
    are set to that level once, when they connect: setting it per transaction instead
    (``Session.connection(execution_options=…)``) costs a round trip to set it and one
    to reset it, +0.5 ms wall and +0.3 ms client CPU a transaction (measured)."""
    s = settings or get_settings()
    found_key = (id(s), role, shard, io_timeout, user, isolation_level)
    found = _found.get(found_key)
    if found is not None and found[0] is s:
        return found[1]
    database = None if shard is None else s.shard_database(shard)
    url = database_url(role, database, s, user)
    key = (str(Role(role)), database, url.render_as_string(hide_password=False), io_timeout,
           isolation_level)
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            timeouts = {} if io_timeout is None else {
                "read_timeout": io_timeout, "write_timeout": io_timeout}
            isolation = {} if isolation_level is None else {"isolation_level": isolation_level}
            engine = _engines[key] = new_engine(url, connect_args=timeouts,
                                                pool_size=s.db_pool_size,
                                                max_overflow=s.db_pool_size, **isolation)
        _found[found_key] = (s, engine)
        return engine


def dispose_engines() -> None:
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _found.clear()

"""Engines for the primary and the read replica, one per shard database.

Every connection pins ``time_zone='+00:00'``: all times in this platform are UTC and a
server in another zone must not shift a single value.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from threading import Lock

from sqlalchemy import URL, Engine, create_engine, make_url
from sqlalchemy.exc import DBAPIError

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
    PRIMARY = "primary"
    REPLICA = "replica"


def server_url(role: Role | str, settings: Settings | None = None) -> URL:
    """URL of the primary or replica server, without a database selected."""
    s = settings or get_settings()
    role = Role(role)
    if s.uses_local_stack:
        if not s.local_db_password:
            raise RuntimeError(
                "No database configured: set WEWORK_PRIMARY_URL/WEWORK_REPLICA_URL, "
                "or run `wework db up` to start the local pair."
            )
        port = s.primary_port if role is Role.PRIMARY else s.replica_port
        return URL.create(
            "mysql+pymysql",
            username=s.local_db_user,
            password=s.local_db_password,
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
    return url.set(database=None)


def database_url(role: Role | str, database: str | None, settings: Settings | None = None) -> URL:
    return server_url(role, settings).set(database=database)


def new_engine(url: URL, **kwargs) -> Engine:
    """An engine whose every connection is pinned to UTC."""
    connect_args = {
        "init_command": UTC_INIT,
        "connect_timeout": CONNECT_TIMEOUT_SECONDS,
        **kwargs.pop("connect_args", {}),
    }
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_recycle=3600,
        connect_args=connect_args,
        **kwargs,
    )


_engines: dict[tuple[str, str | None, str, int | None], Engine] = {}
_lock = Lock()


def get_engine(
    role: Role | str = Role.PRIMARY,
    shard: int | None = 0,
    settings: Settings | None = None,
    io_timeout: int | None = None,
) -> Engine:
    """Cached engine for a shard database (or the bare server when ``shard`` is None).

    ``io_timeout`` bounds every socket read and write (OLTP paths); leave it None for
    long statements (bulk loads, index builds, reports)."""
    s = settings or get_settings()
    database = None if shard is None else s.shard_database(shard)
    url = database_url(role, database, s)
    key = (str(Role(role)), database, url.render_as_string(hide_password=False), io_timeout)
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            timeouts = {} if io_timeout is None else {
                "read_timeout": io_timeout, "write_timeout": io_timeout}
            engine = _engines[key] = new_engine(url, connect_args=timeouts)
        return engine


def dispose_engines() -> None:
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()

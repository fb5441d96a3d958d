"""Fail fast, and clearly, when the primary is down.

PyMySQL waits 10 s by default to connect, forever for a server that accepts the
connection but never answers, and raises a bare ``OperationalError``. Writes should
instead fail within a few seconds with an error that says what is wrong.
:func:`primary_write_engine` makes an engine with bounded connect and I/O waits
(``pool_pre_ping`` is on, as for every engine of :mod:`wework.db.engines`, so it
reconnects by itself once the primary is back); :func:`primary_writes` wraps a
transaction and turns "cannot connect" / "lost the connection" into
:class:`PrimaryUnavailable`. The transaction was rolled back (or, if the server died
mid-transaction, InnoDB rolls it back on restart): nothing is half-written.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from wework.config import Settings, get_settings
from wework.db.engines import Role, database_url, new_engine

# MySQL client error codes meaning the server is not reachable (any more).
CANNOT_CONNECT = 2003  # CR_CONN_HOST_ERROR
SERVER_GONE = 2006  # CR_SERVER_GONE_ERROR
LOST_CONNECTION = 2013  # CR_SERVER_LOST
UNAVAILABLE_CODES = {CANNOT_CONNECT, SERVER_GONE, LOST_CONNECTION}


class PrimaryUnavailable(RuntimeError):
    """The primary cannot be reached; the write did not happen (it was rolled back)."""

    def __init__(self, address: str, code: int, detail: str):
        self.address = address
        self.code = code
        super().__init__(
            f"primary unavailable at {address} (MySQL error {code}: {detail}); "
            "the write was not applied, retry when the primary is back"
        )


def error_code(error: BaseException) -> int | None:
    orig = getattr(error, "orig", error)
    args = getattr(orig, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def primary_write_engine(
    shard: int = 0,
    settings: Settings | None = None,
    connect_timeout: int = 2,
    io_timeout: int = 10,
) -> Engine:
    """Engine on a shard of the primary for short OLTP writes that never hangs.

    ``connect_timeout`` bounds the TCP connect (a host that is down); ``io_timeout`` bounds
    every read and write on the socket, including the server's greeting, so a server that
    accepts connections but does not answer (frozen, overloaded) fails too. PyMySQL's
    default is to wait forever. Keep ``io_timeout`` above the longest statement a write
    path runs; it is not for long reports.
    """
    s = settings or get_settings()
    return new_engine(
        database_url(Role.PRIMARY, s.shard_database(shard), s),
        connect_args={
            "connect_timeout": connect_timeout,
            "read_timeout": io_timeout,
            "write_timeout": io_timeout,
        },
    )


@contextmanager
def primary_writes(engine: Engine) -> Iterator[Connection]:
    """``engine.begin()`` that raises :class:`PrimaryUnavailable` when the server is gone."""
    try:
        with engine.begin() as conn:
            yield conn
    except DBAPIError as e:
        code = error_code(e)
        if code in UNAVAILABLE_CODES:
            url = engine.url
            raise PrimaryUnavailable(
                f"{url.host}:{url.port}", code, str(getattr(e, "orig", e)).splitlines()[0]
            ) from e
        raise

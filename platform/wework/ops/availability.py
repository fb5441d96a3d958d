"""Fail fast, and clearly, when the primary is down.

PyMySQL waits 10 s by default to connect, forever for a server that accepts the
connection but never answers, and raises a bare ``OperationalError``. Writes should
instead fail within a few seconds with an error that says what is wrong.
:func:`primary_write_engine` makes an engine with bounded connect and I/O waits
(like every engine of :mod:`wework.db.engines` it replaces pooled connections the
server closed before using them, so it reconnects by itself once the primary is
back); :func:`primary_writes` wraps a transaction and turns "cannot connect" / "lost
the connection" into :class:`PrimaryUnavailable`. The transaction was rolled back (or,
if the server died mid-transaction, InnoDB rolls it back on restart): nothing is
half-written.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine

from wework.config import Settings, get_settings
from wework.db.engines import (  # noqa: F401 - re-exported for callers of this module
    CANNOT_CONNECT,
    LOST_CONNECTION,
    SERVER_GONE,
    UNAVAILABLE_CODES,
    Role,
    database_url,
    error_code,
    new_engine,
    unavailable_as_error,
)


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
    with unavailable_as_error(engine), engine.begin() as conn:
        yield conn

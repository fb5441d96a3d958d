"""Database-wide named locks (MariaDB/MySQL ``GET_LOCK``).

The lock belongs to one connection on shard 0's primary server; it is released when the
block ends, or by the server when that connection dies — so a worker killed with
SIGKILL never leaves a lock behind. Names are prefixed with the logical database name,
so two platforms (or test sessions) on one server do not share locks.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text

from wework.config import Settings, get_settings
from wework.db.engines import Role, get_engine

MAX_NAME = 64  # MariaDB's limit on a lock name


def lock_name(name: str, settings: Settings | None = None) -> str:
    full = f"{(settings or get_settings()).db_name}.{name}"
    if len(full) > MAX_NAME:
        raise ValueError(f"lock name {full!r} is longer than {MAX_NAME} characters")
    return full


@contextmanager
def named_lock(name: str, settings: Settings | None = None) -> Iterator[bool]:
    """Try to take the lock ``name`` without waiting; yields whether this process holds
    it for the block (False: another session does)."""
    full = lock_name(name, settings)
    with get_engine(Role.PRIMARY, 0, settings).connect() as conn:
        held = conn.execute(text("SELECT GET_LOCK(:n, 0)"), {"n": full}).scalar() == 1
        try:
            yield held
        finally:
            if held:
                try:
                    conn.execute(text("SELECT RELEASE_LOCK(:n)"), {"n": full})
                except Exception:
                    # The connection broke: the server released the lock with it; make
                    # sure the pool never hands this connection out again.
                    conn.invalidate()


def lock_holder(name: str, settings: Settings | None = None) -> int | None:
    """The connection id holding the lock, or None when it is free."""
    with get_engine(Role.PRIMARY, 0, settings).connect() as conn:
        return conn.execute(
            text("SELECT IS_USED_LOCK(:n)"), {"n": lock_name(name, settings)}
        ).scalar()

"""The DuckDB warehouse: the pipelines' writer connection, publishing, and the readers' door.

DuckDB lets one process hold a file for writing and then refuses every other process, even
read-only ones. So readers (the Streamlit app, notebooks) never open the warehouse file:
after a successful run the pipelines *publish* the marts into a new, complete DuckDB file
``<publish_path>/marts-<stamp>.duckdb`` and then atomically repoint the symlink
``<publish_path>/current`` at it (``os.replace`` of a freshly made symlink). A failed or
killed run never touches ``current``, so readers keep the last good marts.

Readers call :func:`open_marts`. Nobody writes a published file after it is published, so
any number of processes can hold it read-only at once.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from wework.config import Settings, get_settings

MART_NAMES = (
    "message_stats_hourly",
    "message_stats_daily",
    "account_health_daily",
    "batch_task_performance",
    "callback_processing_daily",
    "tenant_usage_daily",
    "account_directory",
)
CURRENT_LINK = "current"
KEEP_PUBLISHED = 3  # older files are removed; a reader still holding one keeps its inode
PUBLISH_INFO = "publish_info"


class NoPublishedMarts(FileNotFoundError):
    """Nothing has been published yet."""


def open_marts(settings: Settings | None = None) -> duckdb.DuckDBPyConnection:
    """A read-only DuckDB connection on the last published marts.

    Tables are ``marts.<name>`` (see :data:`MART_NAMES`) plus ``marts.publish_info``
    (one row: ``published_at`` UTC, ``run_id``, ``as_of``) for freshness. Never blocked
    by a running pipeline. Raises :class:`NoPublishedMarts` when nothing is published.
    """
    link = (settings or get_settings()).publish_path / CURRENT_LINK
    try:
        target = link.resolve(strict=True)
    except FileNotFoundError:
        raise NoPublishedMarts(
            f"no published marts at {link}: run `wework etl run` to build and publish them"
        ) from None
    return duckdb.connect(str(target), read_only=True)


# --------------------------------------------------------------------------- writer side


def connect_warehouse(
    settings: Settings | None = None, *, lock_timeout: float = 600.0
) -> duckdb.DuckDBPyConnection:
    """The pipelines' read-write connection on the warehouse file.

    Another run (for example one launched by the automation sensor) may hold the file: the
    lock is retried for ``lock_timeout`` seconds instead of failing at once.
    """
    path = (settings or get_settings()).warehouse_file
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + lock_timeout
    while True:
        try:
            return duckdb.connect(str(path))
        except duckdb.IOException as e:
            if "lock" not in str(e).lower() or time.monotonic() >= deadline:
                raise
            time.sleep(1.0)


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """BEGIN … COMMIT on ``con``; ROLLBACK and re-raise on any error (or a kill signal)."""
    con.execute("BEGIN")
    try:
        yield con
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


@contextmanager
def setting(
    con: duckdb.DuckDBPyConnection, name: str, value: int | bool
) -> Iterator[duckdb.DuckDBPyConnection]:
    """``SET name = value`` on ``con`` for the block, then the previous value again."""

    def literal(v: int | bool) -> str:
        return str(v).lower() if isinstance(v, bool) else str(int(v))

    # Inlined, not a prepared parameter: with a MySQL database attached, the first
    # parameter makes DuckDB load that catalog (0.3 s).
    (previous,) = con.execute(f"SELECT current_setting('{name}')").fetchone()
    con.execute(f"SET {name} = {literal(value)}")
    try:
        yield con
    finally:
        con.execute(f"SET {name} = {literal(previous)}")


def publish_marts(
    con: duckdb.DuckDBPyConnection,
    settings: Settings | None = None,
    *,
    run_id: str = "",
    as_of: datetime | None = None,
) -> Path:
    """Copy every mart into a new read-only file and atomically make it ``current``.

    The new file is complete (and closed) before the symlink moves, so readers see either
    the previous marts or the new ones, never a partial set. Returns the new file.
    """
    s = settings or get_settings()
    out_dir = s.publish_path
    out_dir.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC).replace(tzinfo=None)
    target = out_dir / f"marts-{now:%Y%m%dT%H%M%S%f}.duckdb"
    tmp = target.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    con.execute(f"ATTACH '{tmp}' AS pub")
    try:
        con.execute("CREATE SCHEMA pub.marts")
        for name in MART_NAMES:
            con.execute(f"CREATE TABLE pub.marts.{name} AS SELECT * FROM marts.{name}")
        con.execute(
            f"CREATE TABLE pub.marts.{PUBLISH_INFO} AS "
            "SELECT ?::TIMESTAMP AS published_at, ?::VARCHAR AS run_id, ?::TIMESTAMP AS as_of",
            [now, run_id, as_of],
        )
    finally:
        con.execute("DETACH pub")
    os.replace(tmp, target)
    link = out_dir / CURRENT_LINK
    new_link = out_dir / f".{CURRENT_LINK}.{os.getpid()}"
    new_link.unlink(missing_ok=True)
    new_link.symlink_to(target.name)  # relative: the folder can move
    os.replace(new_link, link)  # atomic on POSIX
    _prune(out_dir, keep=target)
    return target


def published_file(settings: Settings | None = None) -> Path | None:
    """The file ``current`` points at, or None."""
    link = (settings or get_settings()).publish_path / CURRENT_LINK
    try:
        return link.resolve(strict=True)
    except FileNotFoundError:
        return None


def _prune(out_dir: Path, keep: Path) -> None:
    files = sorted(out_dir.glob("marts-*.duckdb"))
    for old in files[:-KEEP_PUBLISHED]:
        if old != keep:
            old.unlink(missing_ok=True)
    for stale in out_dir.glob("marts-*.tmp"):  # left by a killed run
        if stale != keep.with_suffix(".tmp"):
            stale.unlink(missing_ok=True)

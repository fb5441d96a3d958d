"""Publish the marts to the readers' DuckLake (see wework.warehouse), copying only what
changed since the last publish.

One DuckLake transaction per publish: for every mart, either its pending rows (the keys
in ``etl.pending_<mart>``: deleted, then re-inserted from the warehouse's mart, where a
key that is gone there stays deleted) or, after a whole rebuild, the whole mart; then
``marts.publish_info``. Readers see the
previous snapshot until the commit and the new one after it, never a mix. Only after the
commit are the pending keys cleared in the warehouse (a second transaction: DuckDB
writes one attached database per transaction); a run killed between the two publishes
the same rows again next time, which changes nothing.

A missing or unreadable catalog, or a data file gone from the newest snapshot, makes the
publisher move the damaged folder aside and publish every mart whole into a new lake.
"""

from __future__ import annotations

import errno
import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from pipelines import changes
from pipelines.registry import MARTS, MartSpec
from wework.config import Settings
from wework.warehouse import (
    LAKE,
    PUBLISH_INFO,
    attach_lake,
    lake_damage,
    lake_paths,
    make_private,
    private_files,
    transaction,
)

# Compact when the lake holds more data files than this: every publish adds a few small
# files per changed mart, and readers open every file of a table they scan.
COMPACT_ABOVE_FILES = 200
# Snapshots readers may still be reading stay this long before their files are removed.
KEEP_SNAPSHOTS = "1 hour"
# etl.state key: when the last publish committed (the freshness check reads it).
PUBLISHED_AT = "published_at"


class PublishError(RuntimeError):
    """Publishing failed; the previously published marts are unchanged."""


@dataclass
class PublishResult:
    snapshot: int | None
    whole: list[str] = field(default_factory=list)
    keys: dict[str, int] = field(default_factory=dict)  # rows replaced, per mart
    rows: int = 0
    repaired: str | None = None
    compacted: bool = False
    as_of: datetime | None = None  # of the marts published (by this or an earlier run)
    published_at: datetime | None = None  # of the last commit into the lake

    @property
    def published(self) -> bool:
        return bool(self.whole or self.keys)


def _q(name: str) -> str:
    return f'"{name}"'


def _string(value: str) -> str:
    return "CAST('" + value.replace("'", "''") + "' AS VARCHAR)"


def _timestamp(value: datetime | None) -> str:
    return "CAST(NULL AS TIMESTAMP)" if value is None else f"TIMESTAMP '{value.isoformat(sep=' ')}'"


def _set_aside(settings: Settings) -> str:
    root = settings.publish_path
    # Microseconds: two damaged lakes set aside within one second (a test does it) got
    # the same name, and the second rename failed on the first one's folder.
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    aside = root.with_name(f"{root.name}.damaged-{stamp}")
    if root.exists():
        root.rename(aside)
    return str(aside)


def _disk_full(e: BaseException, folder: Path) -> bool:
    """ENOSPC as DuckDB, Parquet or SQLite word it (SQLite may only say "disk I/O error"
    when it cannot grow its WAL, so the free space itself is asked too)."""
    if shutil.disk_usage(folder).free < 1 << 20:
        return True
    text = str(e).lower()
    words = ("no space left", "disk full", "disk is full", "file too large")
    return any(w in text for w in words) or getattr(e, "errno", None) in (
        errno.ENOSPC,
        errno.EFBIG,
    )


def publish(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    *,
    run_id: str = "",
    as_of: datetime | None = None,
) -> PublishResult:
    """Publish what is pending; a no-op (no new snapshot) when nothing is. ``as_of``: the
    marts' as_of for ``publish_info`` (default: the one the last build recorded)."""
    changes.ensure(con)
    if as_of is None:
        built = changes.get(con, "as_of")
        as_of = datetime.fromisoformat(built) if built else None
    # Checked every run, in a few ms (SQLite only): a lake damaged while nothing changed
    # is still republished by the next run.
    damage = lake_damage(settings)
    repaired = None
    if damage is not None and damage != "nothing published yet":
        repaired = f"{damage}; the damaged lake was moved to {_set_aside(settings)}"
    rebuild = damage is not None
    whole = [s for s in MARTS if rebuild or changes.get(con, f"publish_full:{s.name}")]
    pending = {s.name: changes.columns_of(con, changes.pending_table(s.name)) for s in MARTS}
    # Keys queued by an older version (slice columns) cannot name rows: publish whole.
    whole += [s for s in MARTS if s not in whole and pending[s.name] not in (None, s.key)]
    sliced = [s for s in MARTS if s not in whole and pending[s.name] is not None]
    key_counts = {
        s.name: con.execute(
            f"SELECT count(*) FROM (SELECT DISTINCT * FROM {changes.pending_table(s.name)})"
        ).fetchone()[0]
        for s in sliced
    }
    sliced = [s for s in sliced if key_counts[s.name]]
    last = changes.get(con, PUBLISHED_AT)
    result = PublishResult(
        snapshot=None,
        repaired=repaired,
        as_of=as_of,
        published_at=datetime.fromisoformat(last) if last and damage is None else None,
    )
    if not whole and not sliced:
        return result
    catalog, data = lake_paths(settings)
    with private_files():
        data.mkdir(parents=True, exist_ok=True)
        catalog.parent.chmod(0o700)
        try:
            attach_lake(con, settings, read_only=False)
        except duckdb.Error as e:
            raise PublishError(f"cannot open the lake at {catalog}: {e}") from None
        try:
            _rollback_journal(catalog)
            result.published_at = datetime.now(UTC).replace(tzinfo=None)
            result.rows = _commit(con, whole, sliced, run_id, as_of, result.published_at)
            (result.snapshot,) = con.execute(
                f"SELECT max(snapshot_id) FROM {LAKE}.snapshots()"
            ).fetchone()
            result.compacted = _maintain(con, data)
        except duckdb.Error as e:
            _publish_whole_next_time(con, sliced)
            if _disk_full(e, data):
                raise PublishError(
                    f"disk full while publishing the marts into {data} "
                    f"({shutil.disk_usage(data).free // 2**20} MiB free): the previously "
                    "published marts are unchanged and still readable"
                ) from None
            raise
        finally:
            con.execute(f"DETACH {LAKE}")
    with transaction(con):
        for s in MARTS:
            changes.put(con, f"publish_full:{s.name}", None)
            con.execute(f"DROP TABLE IF EXISTS {changes.pending_table(s.name)}")
        changes.put(con, PUBLISHED_AT, result.published_at.isoformat())
    make_private(settings.publish_path)
    result.whole = [s.name for s in whole]
    result.keys = {s.name: key_counts[s.name] for s in sliced}
    return result


def _publish_whole_next_time(con: duckdb.DuckDBPyConnection, marts: list[MartSpec]) -> None:
    """After a failed commit, the next run republishes the marts it was publishing by row
    whole, from the warehouse: whatever the failure left behind (a half-written data
    file, a catalog the failure touched), a whole table replaces it, and the pending keys
    need not be trusted. Best effort: if the warehouse cannot record it either, the
    pending keys are still there."""
    try:
        with transaction(con):
            for s in marts:
                changes.put(con, f"publish_full:{s.name}", "after a failed publish")
    except duckdb.Error:
        pass


def _rollback_journal(catalog: Path) -> None:
    """The catalog uses SQLite's rollback journal, not WAL. Measured both: with WAL a
    reader never delays a commit, but a publish that hit a full disk left the WAL index
    needing a recovery that no reader could write, so the last marts became unreadable;
    with the rollback journal readers need no writes at all. The price: a reader query
    running at the instant of the commit makes it fail "database is locked", and
    :func:`_commit` simply tries again (readers' queries take milliseconds)."""
    import sqlite3

    if catalog.exists():
        with sqlite3.connect(catalog) as db:
            db.execute("PRAGMA journal_mode=DELETE")


COMMIT_ATTEMPTS = 20
COMMIT_RETRY_SECONDS = 0.25


def _commit(
    con: duckdb.DuckDBPyConnection,
    whole: list[MartSpec],
    sliced: list[MartSpec],
    run_id: str,
    as_of: datetime | None,
    now: datetime,
) -> int:
    for attempt in range(COMMIT_ATTEMPTS):
        try:
            return _commit_once(con, whole, sliced, run_id, as_of, now)
        except duckdb.Error as e:
            if "database is locked" not in str(e) or attempt == COMMIT_ATTEMPTS - 1:
                raise
            time.sleep(COMMIT_RETRY_SECONDS)
    raise AssertionError("unreachable")


def _commit_once(
    con: duckdb.DuckDBPyConnection,
    whole: list[MartSpec],
    sliced: list[MartSpec],
    run_id: str,
    as_of: datetime | None,
    now: datetime,
) -> int:
    rows = 0
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {LAKE}.marts")
    con.execute("BEGIN")
    try:
        for s in whole:
            target = f"{LAKE}.marts.{_q(s.name)}"
            con.execute(f"CREATE OR REPLACE TABLE {target} AS SELECT * FROM marts.{_q(s.name)}")
            rows += con.execute(f"SELECT count(*) FROM {target}").fetchone()[0]
        for s in sliced:
            target = f"{LAKE}.marts.{_q(s.name)}"
            keys = f"(SELECT DISTINCT * FROM {changes.pending_table(s.name)})"
            on = changes.same_key(s.key, "m", "k")
            con.execute(f"DELETE FROM {target} AS m USING {keys} AS k WHERE {on}")
            (n,) = con.execute(
                f"INSERT INTO {target} SELECT m.* FROM marts.{_q(s.name)} AS m "
                f"SEMI JOIN {keys} AS k ON {on}"
            ).fetchone()
            rows += n
        # Literals, not bound parameters: the first parameter a process binds imports
        # numpy, pandas and pyarrow (0.46 s measured).
        con.execute(
            f"CREATE OR REPLACE TABLE {LAKE}.marts.{PUBLISH_INFO} AS "
            f"SELECT {_timestamp(now)} AS published_at, {_string(run_id)} AS run_id, "
            f"{_timestamp(as_of)} AS as_of"
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return rows


def _maintain(con: duckdb.DuckDBPyConnection, data: Path) -> bool:
    """Merge small files and drop files of snapshots older than KEEP_SNAPSHOTS, once the
    lake holds more than COMPACT_ABOVE_FILES files."""
    files = sum(1 for _ in data.rglob("*.parquet"))
    if files <= COMPACT_ABOVE_FILES:
        return False
    older = f"older_than => now() - INTERVAL '{KEEP_SNAPSHOTS}'"
    con.execute(f"CALL ducklake_merge_adjacent_files('{LAKE}')")
    con.execute(f"CALL ducklake_expire_snapshots('{LAKE}', {older})")
    con.execute(f"CALL ducklake_cleanup_old_files('{LAKE}', {older})")
    return True

"""The DuckDB warehouse: the pipelines' writer connection, and the readers' door.

DuckDB lets one process hold a file for writing and then refuses every other process, even
read-only ones. So readers (the Streamlit app, notebooks) never open the warehouse file:
the pipelines publish the marts into a **DuckLake** under ``WEWORK_PUBLISH_DIR``: a SQLite
catalog (``catalog.sqlite``, rollback journal) and immutable Parquet files (``data/``). Each
publish is one DuckLake transaction that deletes and re-inserts only the changed rows,
so it costs what changed, not what the marts hold; readers see the last committed
snapshot, consistent across every mart, and a running or killed publish never blocks or
tears what they read (chosen against the previous whole-file copy and swap by
measurement: README, "Publishing").

Readers call :func:`open_marts`. Files are private to the user running the pipelines:
0600 in 0700 folders (:func:`private_files`).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from wework.config import Settings, get_settings

CATALOG_FILE = "catalog.sqlite"
DATA_DIR = "data"
LAKE = "lake"
PUBLISH_INFO = "publish_info"


class NoPublishedMarts(FileNotFoundError):
    """Nothing is published yet, or what is published cannot be read."""


def lake_paths(settings: Settings | None = None) -> tuple[Path, Path]:
    """(catalog file, data folder) of the published marts."""
    root = (settings or get_settings()).publish_path
    return root / CATALOG_FILE, root / DATA_DIR


# Every connection that loads an extension verifies its signature first: DuckDB hashes the
# whole file (35-40 MB each for mysql, ducklake, sqlite), 0.1-0.2 s per extension per
# connection, measured: 0.3 s of every publish and 0.15 s of every extraction, a fifth of
# a pipeline run with little to do, and of a report kernel's first read. The files are
# the pip packages' own (duckdb-extension-*, pinned with duckdb in pyproject.toml), put in
# place by ``duckdb_extensions`` from the package folder; whoever could swap them could
# as well swap the Python that loads them, so the check protects nothing the install
# does not, and the platform's connections skip it. No connection here runs SQL that a
# user wrote, so no one can ask it to LOAD another file.
CONNECT_CONFIG = {"allow_unsigned_extensions": True}


def connect(database: str = ":memory:", *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection of the platform's (see CONNECT_CONFIG)."""
    return duckdb.connect(database, read_only=read_only, config=CONNECT_CONFIG)


def load_extensions(con: duckdb.DuckDBPyConnection, *names: str) -> None:
    """Load DuckDB extensions from their pip packages (offline), once per connection."""
    import duckdb_extensions

    for ext in names:
        try:
            duckdb_extensions.import_extension(ext, con=con)
        except Exception:  # already loaded in this connection
            con.execute(f"LOAD {ext}")


def load_lake_extensions(con: duckdb.DuckDBPyConnection) -> None:
    load_extensions(con, "ducklake", "sqlite")


def attach_lake(
    con: duckdb.DuckDBPyConnection, settings: Settings | None = None, *, read_only: bool
) -> None:
    """ATTACH the published marts as ``lake`` (tables ``lake.marts.<name>``)."""
    catalog, data = lake_paths(settings)
    load_lake_extensions(con)
    mode = ", READ_ONLY" if read_only else ""
    con.execute(
        f"ATTACH 'ducklake:sqlite:{catalog}' AS {LAKE} (DATA_PATH '{data}/'{mode})"
    )


LIVE_FILES = """
    SELECT m.value, s.path, s.path_is_relative, t.path, t.path_is_relative,
           f.path, f.path_is_relative
    FROM (SELECT table_id, path, path_is_relative FROM ducklake_data_file
          WHERE end_snapshot IS NULL
          UNION ALL
          SELECT table_id, path, path_is_relative FROM ducklake_delete_file
          WHERE end_snapshot IS NULL) AS f
    JOIN ducklake_table AS t ON t.table_id = f.table_id AND t.end_snapshot IS NULL
    JOIN ducklake_schema AS s ON s.schema_id = t.schema_id AND s.end_snapshot IS NULL
    CROSS JOIN (SELECT value FROM ducklake_metadata WHERE key = 'data_path') AS m
"""


def lake_damage(settings: Settings | None = None) -> str | None:
    """Why the published marts cannot be read (None: they can), read straight from the
    SQLite catalog in a few ms (no DuckDB extension to load): the catalog is missing or
    not a DuckLake catalog, or a data or delete file of the live snapshot is gone."""
    import sqlite3

    catalog, _ = lake_paths(settings)
    if not catalog.exists():
        return "nothing published yet"
    try:
        with sqlite3.connect(f"file:{catalog}?mode=ro", uri=True) as db:
            rows = db.execute(LIVE_FILES).fetchall()
            (published,) = db.execute(
                "SELECT count(*) FROM ducklake_table WHERE table_name = ? "
                "AND end_snapshot IS NULL",
                [PUBLISH_INFO],
            ).fetchone()
    except sqlite3.Error as e:
        return f"unreadable catalog {catalog.name}: {e}"
    if not published:
        return "nothing published yet"
    for data_path, s_path, s_rel, t_path, t_rel, f_path, f_rel in rows:
        path = f_path
        if f_rel:
            table_dir = t_path if not t_rel else os.path.join(
                s_path if not s_rel else os.path.join(data_path, s_path), t_path
            )
            path = os.path.join(table_dir, f_path)
        if not os.path.exists(path):
            return f"missing data file {path}"
    return None


class _Reader:
    """One attached lake per process and catalog; readers get cursors on it (0.4 ms, vs
    0.4-0.7 s to load the extensions and attach). A cursor sees the newest snapshot at the
    start of each query."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.con: duckdb.DuckDBPyConnection | None = None
        self.identity: tuple | None = None

    def cursor(self, settings: Settings) -> duckdb.DuckDBPyConnection:
        catalog, _ = lake_paths(settings)
        try:
            st = catalog.stat()
        except FileNotFoundError:
            raise NoPublishedMarts(
                f"no published marts at {catalog.parent}: run `wework etl run` to build and "
                "publish them"
            ) from None
        self._verify(settings)
        identity = (str(catalog), st.st_ino, st.st_dev)
        # A kept connection can be left unusable (its SQLite handle saw an I/O error, e.g.
        # a full disk): then it is replaced once by a fresh one.
        for fresh in (False, True):
            try:
                return self._cursor(settings, identity, fresh)
            except duckdb.Error as e:
                if fresh:
                    raise NoPublishedMarts(
                        f"the published marts at {catalog.parent} cannot be read "
                        f"({str(e).splitlines()[0]}); the next `wework etl run` republishes "
                        "them"
                    ) from None
        raise AssertionError("unreachable")

    def _cursor(self, settings: Settings, identity: tuple, fresh: bool):
        with self.lock:
            if fresh or self.con is None or self.identity != identity:
                self._close()
                con = connect()
                try:
                    attach_lake(con, settings, read_only=True)
                except duckdb.Error:
                    con.close()
                    raise
                self.con, self.identity = con, identity
            cur = self.con.cursor()
        try:
            cur.execute(f"USE {LAKE}")
            cur.execute(f"SELECT count(*) FROM marts.{PUBLISH_INFO}").fetchone()
        except duckdb.Error:
            cur.close()
            raise
        return cur

    @staticmethod
    def _verify(settings: Settings) -> None:
        """Every file of the live snapshot exists: a few ms (SQLite and stat), on every
        open, so a file removed under a running app reads as "damaged", not as a crash."""
        damage = lake_damage(settings)
        if damage == "nothing published yet":
            raise NoPublishedMarts("no published marts yet: run `wework etl run`")
        if damage:
            raise NoPublishedMarts(
                f"the published marts are damaged ({damage}); the next `wework etl run` "
                "republishes them"
            )

    def _close(self) -> None:
        if self.con is not None:
            self.con.close()
        self.con = None


_READER = _Reader()


def open_marts(settings: Settings | None = None) -> duckdb.DuckDBPyConnection:
    """A read-only DuckDB connection on the last published marts.

    Tables are ``marts.<name>`` plus ``marts.publish_info`` (one row: ``published_at``
    UTC, ``run_id``, ``as_of``) for freshness. Never blocked by a running pipeline, never
    a half-published state. Raises :class:`NoPublishedMarts` when nothing is published or
    the published files are missing or corrupt. Close it when done (it is a cursor on a
    connection the process keeps).
    """
    return _READER.cursor(settings or get_settings())


def snapshot_version(con: duckdb.DuckDBPyConnection) -> str:
    """The id of the snapshot ``con`` (from :func:`open_marts`) reads: a cache key.

    Snapshot ids count from 1 in each lake, and a damaged lake is rebuilt from scratch (as
    is a copy elsewhere), so the id alone could name two different states; with the
    snapshot's commit time it cannot."""
    snapshot, at = con.execute(
        f"SELECT snapshot_id, snapshot_time FROM {LAKE}.snapshots() "
        "ORDER BY snapshot_id DESC LIMIT 1"
    ).fetchone()
    return f"snapshot-{snapshot}-{at:%Y%m%dT%H%M%S%f}"


def published_version(settings: Settings | None = None) -> str | None:
    """The id of the newest published snapshot, or None when nothing readable is."""
    try:
        con = open_marts(settings)
    except NoPublishedMarts:
        return None
    try:
        return snapshot_version(con)
    finally:
        con.close()


@contextmanager
def private_files() -> Iterator[None]:
    """Files and folders created in the block are 0600 / 0700 (umask 077): the warehouse
    and the published marts hold business data of every tenant."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def make_private(root: Path) -> None:
    """chmod an existing tree to 0700 folders and 0600 files (older warehouses)."""
    if not root.exists():
        return
    root.chmod(0o700)
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            os.chmod(os.path.join(dirpath, d), 0o700)
        for f in filenames:
            path = os.path.join(dirpath, f)
            if not os.path.islink(path):
                os.chmod(path, 0o600)


# --------------------------------------------------------------------------- writer side


def connect_warehouse(
    settings: Settings | None = None, *, lock_timeout: float = 600.0
) -> duckdb.DuckDBPyConnection:
    """The pipelines' read-write connection on the warehouse file.

    Another run (for example one launched by the automation sensor) may hold the file: the
    lock is retried for ``lock_timeout`` seconds instead of failing at once.
    """
    path = (settings or get_settings()).warehouse_file
    with private_files():
        path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    for f in (path, path.with_name(path.name + ".wal")):
        if f.exists():
            f.chmod(0o600)
    deadline = time.monotonic() + lock_timeout
    while True:
        try:
            with private_files():
                return connect(str(path))
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
    """``SET SESSION name = value`` on ``con`` for the block, then the previous value
    again. Session scope: the pipelines run several cursors of one database at once
    (pipelines.assets.raw), and a global SET from one would change, and its restore undo,
    the setting under the others. (``threads`` and ``memory_limit`` are global only, and
    are set once per connection: pipelines.resources.)"""

    def literal(v: int | bool) -> str:
        return str(v).lower() if isinstance(v, bool) else str(int(v))

    # Inlined, not a prepared parameter: with a MySQL database attached, the first
    # parameter makes DuckDB load that catalog (0.3 s).
    (previous,) = con.execute(f"SELECT current_setting('{name}')").fetchone()
    con.execute(f"SET SESSION {name} = {literal(value)}")
    try:
        yield con
    finally:
        con.execute(f"SET SESSION {name} = {literal(previous)}")

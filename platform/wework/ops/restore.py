"""Restore a full backup into the primary and replay binlogs to a moment (PITR).

`wework db restore [NAME] [--until "YYYY-MM-DD HH:MM:SS"] [--force]`:

1. pick the full backup (the named one, or the latest taken at or before ``--until``) and
   the incremental backups whose binlogs reach ``--until``; verify every file's SHA-256;
2. look at the target: every table of the shard databases and its exact row count. If any
   table holds rows, refuse unless ``--force`` (the listing says what would be lost);
3. drop the shard databases, load the dump (streamed, gunzipped in-process, into the
   ``mariadb`` client);
4. with ``--until``: replay the backed-up binlogs from the dump's position up to that UTC
   moment, one shard database at a time (``mariadb-binlog --database``), into the client.

Everything is written through the primary's binlog, so the replica follows the restore.
Replayed events get fresh GTIDs: their original ``gtid_seq_no`` is stripped, because the
primary's GTID strict mode refuses a sequence number lower than its current one.
"""

from __future__ import annotations

import contextlib
import gzip
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from wework.cache.layers import clear_all
from wework.config import Settings, get_settings
from wework.db import generation
from wework.db.engines import DbUser, Role, new_engine, server_url
from wework.ops.backup import binlog_sequence
from wework.ops.clients import (
    ToolError,
    binlog_replay_args,
    client_args,
    restore_option_file,
    utc_env,
)
from wework.ops.manifest import Backup, BackupFile, Manifest, ManifestError, format_time

UNTIL_FORMAT = "%Y-%m-%d %H:%M:%S"
CHUNK = 1 << 20
# Bookkeeping, not data: a freshly migrated database holds its revision here.
# Not data: a target holding only these is empty (the migrations write both).
SCHEMA_TABLES = {"alembic_version", generation.TABLE}
# mariadb-binlog writes this before each transaction; see the module docstring.
_GTID_SEQ_NO = b"@@session.gtid_seq_no="


class RestoreError(RuntimeError):
    """The restore cannot proceed; the message says why."""


class RestoreRefused(RestoreError):
    """The target holds data and ``force`` was not given."""


def parse_until(value: str) -> datetime:
    """``"YYYY-MM-DD HH:MM:SS"`` (UTC) → aware datetime; a clear error otherwise."""
    try:
        return datetime.strptime(value.strip(), UNTIL_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise RestoreError(
            f'--until: {value!r} is not a UTC time in the form "YYYY-MM-DD HH:MM:SS"'
        ) from None


@dataclass
class TableState:
    database: str
    table: str
    rows: int


@dataclass
class RestorePlan:
    full: Backup
    incrementals: list[Backup]
    binlogs: list[BackupFile]  # in replay order, first one starts at full.binlog_position
    until: datetime | None
    target: list[TableState]  # what is there now

    @property
    def databases(self) -> list[str]:
        return self.full.databases

    @property
    def rows_at_risk(self) -> int:
        return sum(t.rows for t in self.target)

    @property
    def holds_data(self) -> bool:
        return _holds_data(self.target)

    def describe(self) -> str:
        lines = [
            f"restore full backup {self.full.name} (taken {self.full.created_at}, "
            f"binlog {self.full.binlog_file}:{self.full.binlog_position}, "
            f"GTID {self.full.gtid or '-'})"
        ]
        if self.until is not None:
            names = ", ".join(b.name for b in self.incrementals) or "none"
            files = ", ".join(f.binlog or f.path for f in self.binlogs) or "none"
            lines.append(
                f"then replay binlogs up to {format_time(self.until)} UTC "
                f"from incremental backups {names} (files {files})"
            )
        if not self.target:
            lines.append(f"target databases {', '.join(self.databases)}: absent or empty")
        else:
            lines.append(
                f"will DROP and overwrite {', '.join(self.databases)} on the primary; "
                f"now there ({self.rows_at_risk} rows in all):"
            )
            lines += [f"  {t.database}.{t.table}: {t.rows} rows" for t in self.target]
        return "\n".join(lines)


@dataclass
class RestoreResult:
    plan: RestorePlan
    seconds_load: float
    seconds_replay: float
    skipped_gtid_lines: int
    tables: list[TableState] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return self.seconds_load + self.seconds_replay


def _holds_data(tables: list[TableState]) -> bool:
    return any(t.rows and t.table not in SCHEMA_TABLES for t in tables)


def _server_engine(settings: Settings):
    """Counting rows and dropping the shard databases: the migrator's work. Loading and
    replaying go through the restore identity (:func:`wework.ops.clients.restore_url`)."""
    return new_engine(
        server_url(Role.PRIMARY, settings, DbUser.MIGRATOR), connect_args={"connect_timeout": 5}
    )


def inspect_target(databases: list[str], settings: Settings) -> list[TableState]:
    """Every base table of ``databases`` on the primary with its exact row count."""
    engine = _server_engine(settings)
    states = []
    try:
        with engine.connect() as conn:
            tables = conn.execute(
                text(
                    "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES "
                    "WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA IN :dbs "
                    "ORDER BY TABLE_SCHEMA, TABLE_NAME"
                ).bindparams(dbs=tuple(databases))
                if databases
                else text("SELECT 1 WHERE FALSE")
            ).all()
            for database, table in tables:
                rows = conn.execute(text(f"SELECT COUNT(*) FROM `{database}`.`{table}`")).scalar()
                states.append(TableState(database, table, int(rows or 0)))
    finally:
        engine.dispose()
    return states


def plan_restore(
    name: str | None = None,
    until: datetime | None = None,
    settings: Settings | None = None,
) -> RestorePlan:
    s = settings or get_settings()
    manifest = Manifest(s.backup_path)
    backups = manifest.load()
    if not backups:
        raise RestoreError(f"no backups in {manifest.directory}: run `wework db backup` first")
    if name is not None:
        full = manifest.find(name)
        if full.kind != "full":
            raise RestoreError(
                f"{name} is an incremental backup; name a full one (replay of its binlogs "
                "happens with --until)"
            )
        if until is not None and until < full.time:
            raise RestoreError(
                f"--until {format_time(until)} is before {name} was taken ({full.created_at})"
            )
    else:
        candidates = [b for b in backups if b.kind == "full" and (until is None or b.time <= until)]
        if not candidates:
            raise RestoreError(
                "no full backup taken at or before --until "
                f"{format_time(until) if until else ''}".strip()
            )
        full = candidates[-1]

    incrementals: list[Backup] = []
    binlogs: list[BackupFile] = []
    if until is not None:
        later = [b for b in backups[backups.index(full) + 1 :] if b.kind == "incremental"]
        for backup in later:
            incrementals.append(backup)
            if backup.time >= until:
                break
        else:
            covered = incrementals[-1].created_at if incrementals else full.created_at
            raise RestoreError(
                f"binlogs are backed up only up to {covered}; --until {format_time(until)} "
                "is later. If the primary is still up, run `wework db backup --incremental` "
                "first."
            )
        binlogs = _binlog_chain(full, incrementals)
    target = inspect_target(full.databases, s)
    return RestorePlan(full, incrementals, binlogs, until, [t for t in target if t.rows])


def _binlog_chain(full: Backup, incrementals: list[Backup]) -> list[BackupFile]:
    """The binlog files from the full backup's file onwards, each once, with no gap."""
    by_name: dict[str, BackupFile] = {}
    for backup in incrementals:
        for f in backup.files:
            by_name.setdefault(f.binlog or "", f)
    start = binlog_sequence(full.binlog_file)
    chain = sorted(
        (f for n, f in by_name.items() if n and binlog_sequence(n) >= start),
        key=lambda f: binlog_sequence(f.binlog or ""),
    )
    expected = start
    for f in chain:
        if binlog_sequence(f.binlog or "") != expected:
            raise ManifestError(
                f"the binlog chain from {full.binlog_file} has a gap: file number {expected} "
                f"is in no incremental backup"
            )
        expected += 1
    if not chain or chain[0].binlog != full.binlog_file:
        raise ManifestError(f"no incremental backup holds {full.binlog_file}")
    return chain


def _feed(proc: subprocess.Popen, source, skip: bytes | None = None) -> int:
    """Stream ``source`` into ``proc``'s stdin (line by line when filtering)."""
    skipped = 0
    try:
        if skip is None:
            while block := source.read(CHUNK):
                proc.stdin.write(block)
        else:
            for line in source:
                if skip in line:
                    skipped += 1
                    continue
                proc.stdin.write(line)
    except BrokenPipeError:
        pass  # the client died; its exit code and stderr say why
    finally:
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.close()
    return skipped


def _check(proc: subprocess.Popen, stderr, what: str) -> None:
    if proc.wait() != 0:
        stderr.seek(0)
        raise ToolError(
            f"{what} failed (exit {proc.returncode}): {stderr.read().decode(errors='replace')}"
        )


def restore(
    plan: RestorePlan,
    *,
    force: bool = False,
    settings: Settings | None = None,
    echo: Callable[[str], None] = print,
) -> RestoreResult:
    """Carry out ``plan``. Verifies checksums first; refuses a non-empty target without
    ``force``."""
    s = settings or get_settings()
    manifest = Manifest(s.backup_path)
    with manifest.locked():
        for backup in (plan.full, *plan.incrementals):
            manifest.verify(backup)
        echo(f"checksums verified: {1 + len(plan.incrementals)} backup(s)")
        # Look again under the lock: rows may have arrived since the plan was made.
        present = [t for t in inspect_target(plan.databases, s) if t.rows]
        if _holds_data(present) and not force:
            plan.target = present
            raise RestoreRefused(plan.describe() + "\nrefusing to overwrite data without --force")

        t0 = time.monotonic()
        engine = _server_engine(s)
        try:
            with engine.begin() as conn:
                for database in plan.databases:
                    conn.execute(text(f"DROP DATABASE IF EXISTS `{database}`"))
        finally:
            engine.dispose()
        dump = manifest.directory / plan.full.files[0].path
        with restore_option_file(s) as option_file, tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(
                client_args(option_file),
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
            with gzip.open(dump, "rb") as source:
                _feed(proc, source)
            _check(proc, err, f"loading {dump.name}")
        seconds_load = time.monotonic() - t0
        echo(f"loaded {plan.full.name} in {seconds_load:.1f} s")

        t1 = time.monotonic()
        skipped = 0
        if plan.until is not None:
            skipped = _replay(plan, manifest.directory, s)
            echo(f"replayed binlogs up to {format_time(plan.until)} UTC")
        seconds_replay = time.monotonic() - t1
        _new_generation(plan, s)
    # Every cached tenant, user and account may differ from the restored rows. (Other
    # processes' L1 entries expire by WEWORK_CACHE_L1_TTL_SECONDS; restart them to be sure.)
    clear_all()
    return RestoreResult(
        plan, seconds_load, seconds_replay, skipped, inspect_target(plan.databases, s)
    )


def _new_generation(plan: RestorePlan, settings: Settings) -> None:
    """The restored databases hold a generation the warehouse may have read before (the
    backup's): a new one tells its next run to read them whole (wework.models.generation)."""
    moment = format_time(plan.until) if plan.until is not None else "its end"
    reason = f"restored from backup {plan.full.name} up to {moment}"
    engine = _server_engine(settings)
    try:
        with engine.begin() as conn:
            for database in plan.databases:
                if conn.execute(
                    text("SELECT COUNT(*) FROM information_schema.TABLES "
                         "WHERE TABLE_SCHEMA = :db AND TABLE_NAME = :t"),
                    {"db": database, "t": generation.TABLE},
                ).scalar():  # a backup taken before migration 0015 has none
                    generation.rotate(conn, reason, database)
    finally:
        engine.dispose()


def _replay(plan: RestorePlan, directory: Path, settings: Settings) -> int:
    assert plan.until is not None
    stop = plan.until.strftime(UNTIL_FORMAT)
    skipped = 0
    with tempfile.TemporaryDirectory(dir=directory, prefix=".replay-") as tmp:
        files = []
        for f in plan.binlogs:
            target = Path(tmp) / (f.binlog or Path(f.path).stem)
            with gzip.open(directory / f.path, "rb") as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst, CHUNK)
            files.append(target)
        with restore_option_file(settings) as option_file:
            for database in plan.databases:
                args = binlog_replay_args(files, plan.full.binlog_position, database, stop)
                with tempfile.TemporaryFile() as decode_err, tempfile.TemporaryFile() as err:
                    decoder = subprocess.Popen(
                        args, stdout=subprocess.PIPE, stderr=decode_err, env=utc_env()
                    )
                    client = subprocess.Popen(
                        client_args(option_file, database),
                        stdin=subprocess.PIPE,
                        stdout=subprocess.DEVNULL,
                        stderr=err,
                    )
                    skipped += _feed(client, decoder.stdout, skip=_GTID_SEQ_NO)
                    decoder.stdout.close()
                    _check(decoder, decode_err, f"mariadb-binlog for {database}")
                    _check(client, err, f"replaying binlogs into {database}")
    return skipped

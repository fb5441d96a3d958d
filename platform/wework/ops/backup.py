"""Full and binlog-incremental backups of every shard database (`wework db backup`).

Full: one ``mariadb-dump --single-transaction`` of all shard databases, so every shard is
captured at the same instant and one binlog position/GTID describes the whole backup.
Incremental: ``FLUSH BINARY LOGS``, then every binlog closed since the previous backup
is copied from the server over the replication protocol (works for remote servers too).
Both are gzip-compressed in-process while streaming, hashed as they are written, written
under a ``.partial`` name and renamed only once complete, then recorded in the manifest.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from wework.config import Settings, get_settings
from wework.db.engines import Role, new_engine, server_url
from wework.ops.clients import (
    ToolError,
    binlog_fetch_args,
    dump_args,
    primary_option_file,
)
from wework.ops.manifest import Backup, BackupFile, Manifest, ManifestError, format_time

CHUNK = 1 << 20
_POSITION = re.compile(rb"MASTER_LOG_FILE='([^']+)',\s*MASTER_LOG_POS=(\d+)")
_GTID = re.compile(rb"gtid_slave_pos='([^']*)'")


class BackupError(RuntimeError):
    """A backup could not be taken; nothing was recorded in the manifest."""


class _HashingWriter:
    """File wrapper that hashes and counts the (compressed) bytes written through it."""

    def __init__(self, raw) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self.raw.write(data)

    def flush(self) -> None:
        self.raw.flush()


def _compress_stream(source, target: Path, level: int) -> tuple[int, str, bytes, bytes]:
    """gzip ``source`` (a binary stream) into ``target``; returns size, sha256 of the file,
    and the first/last 64 KiB of the uncompressed data (where the dump notes positions)."""
    head = b""
    tail = b""
    with target.open("wb") as raw:
        hashing = _HashingWriter(raw)
        with gzip.GzipFile(fileobj=hashing, mode="wb", compresslevel=level) as gz:
            while block := source.read(CHUNK):
                gz.write(block)
                if len(head) < 65536:
                    head += block[: 65536 - len(head)]
                tail = (tail + block)[-65536:]
        raw.flush()
    return hashing.size, hashing.digest.hexdigest(), head, tail


def _backup_name(kind: str, moment: datetime, existing: set[str]) -> str:
    base = f"{'full' if kind == 'full' else 'incr'}-{moment:%Y%m%dT%H%M%SZ}"
    name, n = base, 1
    while name in existing:
        n += 1
        name = f"{base}-{n}"
    return name


def _server_engine(settings: Settings):
    return new_engine(server_url(Role.PRIMARY, settings), connect_args={"connect_timeout": 5})


def _existing_databases(settings: Settings) -> set[str]:
    engine = _server_engine(settings)
    try:
        with engine.connect() as conn:
            return set(conn.execute(text("SHOW DATABASES")).scalars())
    finally:
        engine.dispose()


def full_backup(settings: Settings | None = None) -> Backup:
    """Dump every shard database in one consistent snapshot, compressed, into the manifest."""
    s = settings or get_settings()
    manifest = Manifest(s.backup_path)
    databases = s.shard_databases
    missing = [db for db in databases if db not in _existing_databases(s)]
    if missing:
        raise BackupError(
            f"shard databases {', '.join(missing)} do not exist on the primary; "
            "run `wework db migrate` first"
        )
    with manifest.locked():
        backups = manifest.load()
        started = datetime.now(UTC)
        name = _backup_name("full", started, {b.name for b in backups})
        target = manifest.directory / f"{name}.sql.gz"
        partial = target.with_name(target.name + ".partial")
        with primary_option_file(s) as option_file, tempfile.TemporaryFile() as stderr:
            proc = subprocess.Popen(
                dump_args(option_file, databases), stdout=subprocess.PIPE, stderr=stderr
            )
            try:
                size, sha, head, tail = _compress_stream(
                    proc.stdout, partial, s.backup_compress_level
                )
            finally:
                proc.stdout.close()
                rc = proc.wait()
            if rc != 0:
                partial.unlink(missing_ok=True)
                stderr.seek(0)
                raise BackupError(
                    f"mariadb-dump failed (exit {rc}): {stderr.read().decode(errors='replace')}"
                )
        position = _POSITION.search(head)
        gtid = _GTID.search(tail) or _GTID.search(head)
        if position is None or gtid is None:
            partial.unlink(missing_ok=True)
            raise BackupError(
                "the dump records no binlog position/GTID: is binary logging enabled on "
                "the primary (log-bin)? Point-in-time restore needs it."
            )
        partial.rename(target)
        log_file, log_pos = position.group(1).decode(), int(position.group(2))
        backup = Backup(
            name=name,
            kind="full",
            created_at=format_time(started),
            databases=databases,
            binlog_file=log_file,
            binlog_position=log_pos,
            end_file=log_file,
            end_position=log_pos,
            gtid=gtid.group(1).decode(),
            files=[BackupFile(path=target.name, size=size, sha256=sha)],
        )
        manifest.save([*backups, backup])
    prune_backups(s)
    return backup


def binlog_sequence(name: str) -> int:
    """The number of a binlog file (``mariadb-bin.000042`` → 42)."""
    suffix = name.rsplit(".", 1)[-1]
    if not suffix.isdigit():
        raise ManifestError(f"{name!r} is not a binlog file name")
    return int(suffix)


def incremental_backup(settings: Settings | None = None) -> Backup:
    """Close the current binlog and copy every binlog written since the previous backup."""
    s = settings or get_settings()
    manifest = Manifest(s.backup_path)
    with manifest.locked():
        backups = manifest.load()
        if not any(b.kind == "full" for b in backups):
            raise BackupError(
                f"no full backup in {manifest.directory}: run `wework db backup` first"
            )
        previous = backups[-1]
        started = datetime.now(UTC)
        engine = _server_engine(s)
        try:
            with engine.connect() as conn:
                conn.execute(text("FLUSH BINARY LOGS"))
                logs = [row[0] for row in conn.execute(text("SHOW BINARY LOGS"))]
                current_file, current_pos = conn.execute(text("SHOW MASTER STATUS")).one()[:2]
                gtid = conn.execute(text("SELECT @@GLOBAL.gtid_binlog_pos")).scalar() or ""
        finally:
            engine.dispose()
        if previous.end_file not in logs:
            raise BackupError(
                f"binlog {previous.end_file}, where the previous backup {previous.name} "
                f"ended, is no longer on the primary (purged): take a full backup"
            )
        first = binlog_sequence(previous.end_file)
        wanted = [log for log in logs if log != current_file and binlog_sequence(log) >= first]
        name = _backup_name("incremental", started, {b.name for b in backups})
        folder = manifest.directory / name
        partial = folder.with_name(folder.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        files = []
        try:
            with (
                primary_option_file(s) as option_file,
                tempfile.TemporaryDirectory(dir=manifest.directory) as raw_dir,
            ):
                for log in wanted:
                    proc = subprocess.run(
                        binlog_fetch_args(option_file, log, Path(raw_dir)),
                        capture_output=True,
                    )
                    raw = Path(raw_dir) / log
                    if proc.returncode != 0 or not raw.exists():
                        raise ToolError(
                            f"copying binlog {log} failed (exit {proc.returncode}): "
                            f"{proc.stderr.decode(errors='replace')}"
                        )
                    with raw.open("rb") as source:
                        size, sha, _, _ = _compress_stream(
                            source, partial / f"{log}.gz", s.backup_compress_level
                        )
                    raw.unlink()
                    files.append(
                        BackupFile(path=f"{name}/{log}.gz", size=size, sha256=sha, binlog=log)
                    )
        except Exception:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        partial.rename(folder)
        backup = Backup(
            name=name,
            kind="incremental",
            created_at=format_time(started),
            databases=s.shard_databases,
            binlog_file=previous.end_file,
            binlog_position=previous.end_position,
            end_file=current_file,
            end_position=int(current_pos),
            gtid=gtid,
            files=files,
        )
        manifest.save([*backups, backup])
    prune_backups(s)
    return backup


@dataclass
class PruneResult:
    removed: list[str]
    kept: list[str]


def prune_backups(
    settings: Settings | None = None,
    now: datetime | None = None,
) -> PruneResult:
    """Remove backups older than ``backup_retention_days``.

    The newest full backup and every backup after it are always kept, however old, so
    retention can never leave nothing to restore.
    """
    s = settings or get_settings()
    manifest = Manifest(s.backup_path)
    cutoff = (now or datetime.now(UTC)) - timedelta(days=s.backup_retention_days)
    with manifest.locked():
        backups = manifest.load()
        fulls = [i for i, b in enumerate(backups) if b.kind == "full"]
        protected_from = fulls[-1] if fulls else len(backups)
        keep, remove = [], []
        for i, backup in enumerate(backups):
            (remove if i < protected_from and backup.time < cutoff else keep).append(backup)
        for backup in remove:
            for f in backup.files:
                (manifest.directory / f.path).unlink(missing_ok=True)
            folder = manifest.directory / backup.name
            if folder.is_dir():
                shutil.rmtree(folder)
        if remove:
            manifest.save(keep)
    return PruneResult([b.name for b in remove], [b.name for b in keep])

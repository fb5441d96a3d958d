"""The backup manifest: ``<backup_dir>/manifest.json``, one entry per backup.

Every backup records when it was taken, which databases it covers, where it sits in the
primary's binlog (file, position and GTID) and, for each file it wrote, the size and the
SHA-256 of the bytes on disk, checked again before any restore. The file is rewritten
atomically (temp file + rename) under an exclusive lock, so a crash or a concurrent
backup never leaves a torn manifest.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

MANIFEST = "manifest.json"
LOCK = ".manifest.lock"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class ManifestError(RuntimeError):
    """The manifest or a file it lists is missing, damaged or inconsistent."""


@dataclass
class BackupFile:
    path: str  # relative to the backup directory
    size: int
    sha256: str
    binlog: str | None = None  # original binlog name (incremental backups)


@dataclass
class Backup:
    name: str
    kind: str  # "full" | "incremental"
    created_at: str  # UTC, TIME_FORMAT
    databases: list[str]
    # Full: the snapshot's position. Incremental: where its binlogs start (the previous
    # backup's end). Replay starts here.
    binlog_file: str
    binlog_position: int
    # Where the next incremental backup starts (for a full backup: the snapshot itself).
    end_file: str
    end_position: int
    gtid: str  # full: gtid of the snapshot; incremental: gtid_binlog_pos after the flush
    files: list[BackupFile] = field(default_factory=list)

    @property
    def time(self) -> datetime:
        return parse_time(self.created_at)

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    @classmethod
    def from_dict(cls, data: dict) -> Backup:
        files = [BackupFile(**f) for f in data.get("files", [])]
        return cls(**{**data, "files": files})


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(TIME_FORMAT)


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=UTC)


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


class Manifest:
    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.path = self.directory / MANIFEST

    def load(self) -> list[Backup]:
        if not self.path.exists():
            return []
        try:
            data = json.loads(self.path.read_text())
            return [Backup.from_dict(b) for b in data["backups"]]
        except (ValueError, KeyError, TypeError) as e:
            raise ManifestError(f"backup manifest {self.path} is unreadable: {e}") from e

    def save(self, backups: list[Backup]) -> None:
        backups = sorted(backups, key=lambda b: (b.created_at, b.name))
        text = json.dumps({"backups": [asdict(b) for b in backups]}, indent=2) + "\n"
        tmp = self.path.with_suffix(".json.tmp")
        with tmp.open("w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive lock: one backup/prune/restore at a time on this directory."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with (self.directory / LOCK).open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def find(self, name: str) -> Backup:
        for backup in self.load():
            if backup.name == name:
                return backup
        known = ", ".join(b.name for b in self.load()) or "none"
        raise ManifestError(f"backup {name!r} is not in {self.path} (known: {known})")

    def verify(self, backup: Backup) -> None:
        """Check every file of ``backup`` exists with its recorded size and SHA-256."""
        for f in backup.files:
            path = self.directory / f.path
            if not path.exists():
                raise ManifestError(f"{backup.name}: file {path} is missing")
            if path.stat().st_size != f.size:
                raise ManifestError(
                    f"{backup.name}: file {path} is {path.stat().st_size} bytes, "
                    f"the manifest says {f.size}"
                )
            actual = sha256_of(path)
            if actual != f.sha256:
                raise ManifestError(
                    f"{backup.name}: checksum mismatch for {path}: sha256 {actual}, "
                    f"the manifest says {f.sha256}"
                )

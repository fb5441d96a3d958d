"""Running the MariaDB command-line tools against the configured primary.

The tools get their connection from a temporary option file (mode 600, deleted after use),
so the password never appears in a process list. Backups connect over TCP as the backup
user, for the local stack and external servers alike. A restore connects as the one
identity allowed to replay binlogs (see :func:`restore_option_file`).
"""

from __future__ import annotations

import getpass
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import URL

from wework.config import Settings
from wework.db.engines import DbUser, Role, server_url

MARIADB = shutil.which("mariadb") or "/usr/bin/mariadb"
MARIADB_DUMP = shutil.which("mariadb-dump") or "/usr/bin/mariadb-dump"
MARIADB_BINLOG = shutil.which("mariadb-binlog") or "/usr/bin/mariadb-binlog"


class ToolError(RuntimeError):
    """A MariaDB command-line tool failed; the message carries its stderr."""


def _option_value(value: str) -> str:
    # Option-file values in double quotes understand backslash escapes.
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def option_file_text(url: URL) -> str:
    lines = ["[client]"]
    socket = url.query.get("unix_socket")
    if socket:
        lines.append(f"socket={_option_value(str(socket))}")
    else:
        lines.append(f"host={_option_value(url.host or '127.0.0.1')}")
        lines.append(f"port={url.port or 3306}")
        lines.append("protocol=TCP")
    if url.username:
        lines.append(f"user={_option_value(url.username)}")
    if url.password:
        lines.append(f"password={_option_value(str(url.password))}")
    return "\n".join(lines) + "\n"


@contextmanager
def _option_file(url: URL) -> Iterator[Path]:
    """A ``--defaults-file`` for ``url``, readable only by us, removed afterwards."""
    fd, name = tempfile.mkstemp(prefix="wework-client-", suffix=".cnf")
    try:
        with os.fdopen(fd, "w") as f:  # mkstemp creates it 0600
            f.write(option_file_text(url))
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


def primary_option_file(settings: Settings, user: DbUser) -> Iterator[Path]:
    """A ``--defaults-file`` for the primary, connecting as ``user``."""
    return _option_file(server_url(Role.PRIMARY, settings, user))


def restore_url(settings: Settings) -> URL:
    """Who loads a dump and replays binlogs into the primary.

    That needs BINLOG REPLAY (``BINLOG`` statements, session ``server_id`` and
    ``gtid_domain_id``), which no standing user holds (:mod:`wework.db.privileges`). The
    local stack restores as root over the primary's unix socket, which only the OS user
    running the stack can use. External servers: the DBA account given in
    ``WEWORK_DB_RESTORE_USER`` / ``_PASSWORD`` for the occasion, else the migrator (which
    can restore a full backup, but replays binlogs only if granted BINLOG REPLAY).
    """
    if settings.uses_local_stack:
        from wework.db.localstack import LocalStack

        socket = LocalStack.from_settings(settings).primary.socket
        return URL.create(
            "mysql+pymysql", username=getpass.getuser(), query={"unix_socket": str(socket)}
        )
    url = server_url(Role.PRIMARY, settings, DbUser.MIGRATOR)
    if settings.db_restore_user:
        url = url.set(username=settings.db_restore_user, password=settings.db_restore_password)
    return url


def restore_option_file(settings: Settings) -> Iterator[Path]:
    """A ``--defaults-file`` for the restore identity (:func:`restore_url`)."""
    return _option_file(restore_url(settings))


def client_args(option_file: Path, *extra: str) -> list[str]:
    """``mariadb`` client that replays SQL: UTC session, large packets, binary-safe."""
    return [
        MARIADB,
        f"--defaults-file={option_file}",  # must come first
        "--init-command=SET time_zone='+00:00'",
        "--max-allowed-packet=1G",
        "--binary-mode",  # dumps and binlog output may hold bytes that are not text
        "--batch",
        *extra,
    ]


def dump_args(option_file: Path, databases: list[str]) -> list[str]:
    return [
        MARIADB_DUMP,
        f"--defaults-file={option_file}",
        "--single-transaction",  # one consistent InnoDB snapshot, no long table locks
        "--master-data=2",  # the snapshot's binlog file/position, as a comment
        "--gtid",  # ...and its GTID position
        "--routines",
        "--triggers",
        "--events",
        "--hex-blob",
        "--tz-utc",
        "--default-character-set=utf8mb4",
        "--max-allowed-packet=1G",
        "--databases",
        *databases,
    ]


def binlog_fetch_args(option_file: Path, log_name: str, result_dir: Path) -> list[str]:
    """Copy one binlog file byte for byte from the server (replication protocol)."""
    return [
        MARIADB_BINLOG,
        f"--defaults-file={option_file}",
        "--read-from-remote-server",
        "--raw",
        f"--result-file={result_dir}/",
        log_name,
    ]


def binlog_replay_args(
    files: list[Path], start_position: int, database: str, stop_datetime: str | None
) -> list[str]:
    """Decode local binlog files into SQL for one database, from a position to a moment.

    Run with ``TZ=UTC``: mariadb-binlog reads --stop-datetime in the local time zone.
    """
    args = [
        MARIADB_BINLOG,
        "--no-defaults",
        f"--start-position={start_position}",  # applies to the first file only
        f"--database={database}",
    ]
    if stop_datetime:
        args.append(f"--stop-datetime={stop_datetime}")
    return [*args, *map(str, files)]


def utc_env() -> dict[str, str]:
    return {**os.environ, "TZ": "UTC"}

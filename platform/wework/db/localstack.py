"""The local MariaDB primary + read replica, started from the installed binaries.

Used when no ``WEWORK_PRIMARY_URL``/``WEWORK_REPLICA_URL`` is configured. Everything lives
under ``<data_dir>/mysql/{primary,replica}`` (data, socket, pid file, server log), on the
stack's own ports (33306/33307 by default, never 3306), so it never touches a system MySQL.

Root is reached through each server's unix socket (``unix_socket`` auth for the OS user,
as ``mariadb-install-db`` sets it up); PyMySQL cannot do that auth, so root-level setup
goes through the ``mariadb`` client. The application connects over TCP as
``local_db_user`` with the password generated into ``<data_dir>/local.env``.
"""

from __future__ import annotations

import getpass
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil
from cryptography.fernet import Fernet

from wework.config import Settings, get_settings
from wework.db.engines import Role, database_url, new_engine
from wework.db.replication import ensure_heartbeat

MARIADBD = shutil.which("mariadbd", path="/usr/sbin:/usr/bin:/sbin:/bin") or "/usr/sbin/mariadbd"
MARIADB = shutil.which("mariadb") or "/usr/bin/mariadb"
MARIADB_DUMP = shutil.which("mariadb-dump") or "/usr/bin/mariadb-dump"
MARIADB_INSTALL_DB = shutil.which("mariadb-install-db") or "/usr/bin/mariadb-install-db"

SYSTEM_DATABASES = {"mysql", "information_schema", "performance_schema", "sys"}
REPL_USER = "repl"
MARKER = ".wework-initialised"
# Linux limits a unix socket path to 107 bytes.
MAX_SOCKET_PATH = 107

# Servers this process started, kept so they are reaped when they exit (no zombies that
# would look alive) and so Popen does not warn about a child it lost track of.
_children: dict[int, subprocess.Popen] = {}


class LocalStackError(RuntimeError):
    """The local stack cannot do what was asked; the message says why and what to do."""


@dataclass(frozen=True)
class ServerStatus:
    role: str
    running: bool
    pid: int | None
    port: int
    socket: Path
    data_dir: Path
    version: str | None


@dataclass(frozen=True)
class _Server:
    role: str  # "primary" or "replica"
    dir: Path
    port: int

    @property
    def socket(self) -> Path:
        return self.dir / "mysqld.sock"

    @property
    def pid_file(self) -> Path:
        return self.dir / "mariadbd.pid"

    @property
    def log_file(self) -> Path:
        return self.dir / "mariadbd.log"

    @property
    def marker(self) -> Path:
        return self.dir / MARKER

    @property
    def tmp_dir(self) -> Path:
        # Private temp dir: bootstraps running at the same time (parallel tests) were
        # seen failing on each other's temp tables in a shared /tmp. Outside the data
        # dir, where mariadbd would take any folder for a database.
        return self.dir.parent / f"{self.role}.tmp"


def _quote(value: str) -> str:
    """A SQL string literal (the values quoted here are our own names and secrets)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                key, _, value = line.partition("=")
                values[key.strip()] = value.strip().strip("'\"")
    return values


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return f"(no log at {path})"


def _port_owner(port: int) -> str:
    """Best effort: which process listens on ``port`` (needs root for other users' ones)."""
    try:
        for conn in psutil.net_connections(kind="tcp"):
            listening = conn.status == psutil.CONN_LISTEN and conn.laddr.port == port
            if listening and conn.pid:
                try:
                    return f"process {conn.pid} ({psutil.Process(conn.pid).name()})"
                except psutil.Error:
                    return f"process {conn.pid}"
    except psutil.Error:
        pass
    return "another process"


def _is_alive(pid: int, data_dir: Path) -> bool:
    """True if ``pid`` is a live mariadbd serving ``data_dir`` (not a reused pid)."""
    child = _children.get(pid)
    if child is not None and child.poll() is not None:
        del _children[pid]  # it exited and is now reaped
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return "mariadbd" in proc.name() and f"--datadir={data_dir}" in proc.cmdline()
    except psutil.Error:
        return False


class LocalStack:
    def __init__(
        self,
        data_dir: Path | str,
        primary_port: int = 33306,
        replica_port: int = 33307,
        *,
        user: str = "wework",
        buffer_pool_size: str = "1G",
        log_file_size: str = "512M",
        echo: Callable[[str], None] = print,
    ) -> None:
        if 3306 in (primary_port, replica_port):
            raise LocalStackError(
                "port 3306 belongs to a system MySQL; the local stack never uses it"
            )
        if primary_port == replica_port:
            raise LocalStackError(f"primary and replica need different ports (both {primary_port})")
        self.data_dir = Path(data_dir).resolve()
        self.user = user
        # Tests pass smaller sizes so a private stack starts fast and light.
        self.buffer_pool_size = buffer_pool_size
        self.log_file_size = log_file_size
        self.echo = echo
        mysql_dir = self.data_dir / "mysql"
        self.mysql_dir = mysql_dir
        self.primary = _Server("primary", mysql_dir / "primary", primary_port)
        self.replica = _Server("replica", mysql_dir / "replica", replica_port)
        for srv in self.servers:
            if len(str(srv.socket)) > MAX_SOCKET_PATH:
                raise LocalStackError(
                    f"socket path {srv.socket} is longer than {MAX_SOCKET_PATH} bytes; "
                    "use a shorter WEWORK_DATA_DIR"
                )

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **kwargs) -> LocalStack:
        s = settings or get_settings()
        return cls(s.data_dir, s.primary_port, s.replica_port, user=s.local_db_user, **kwargs)

    @property
    def servers(self) -> tuple[_Server, _Server]:
        return (self.primary, self.replica)

    @property
    def env_file(self) -> Path:
        return self.data_dir / "local.env"

    # ----------------------------------------------------------------- secrets

    def ensure_local_env(self) -> dict[str, str]:
        """Create ``local.env`` (mode 600) with any missing secret; keep existing values."""
        values = read_env_file(self.env_file)
        generated = {
            "WEWORK_LOCAL_DB_PASSWORD": lambda: secrets.token_urlsafe(24),
            "WEWORK_ENCRYPTION_KEYS": lambda: Fernet.generate_key().decode(),
            "WEWORK_LOOKUP_KEY": lambda: secrets.token_hex(32),
        }
        missing = [key for key in generated if not values.get(key)]
        if missing:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            for key in missing:
                values[key] = generated[key]()
            text = "# Secrets of the local stack, generated by `wework db up`. Keep private.\n"
            text += "".join(f"{key}={value}\n" for key, value in values.items())
            # Create with 600 from the start: the secrets are never world-readable.
            fd = os.open(self.env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(text)
            self.echo(f"wrote {', '.join(missing)} to {self.env_file}")
        os.chmod(self.env_file, 0o600)
        return values

    def settings(self) -> Settings:
        """Settings that point at this stack (its ports, user and generated secrets)."""
        env = read_env_file(self.env_file)
        return Settings(
            data_dir=self.data_dir,
            primary_url=None,
            replica_url=None,
            primary_port=self.primary.port,
            replica_port=self.replica.port,
            local_db_user=self.user,
            local_db_password=env.get("WEWORK_LOCAL_DB_PASSWORD"),
            encryption_keys=env.get("WEWORK_ENCRYPTION_KEYS"),
            lookup_key=env.get("WEWORK_LOOKUP_KEY"),
        )

    # ----------------------------------------------------------------- lifecycle

    def up(self, timeout: float = 60.0) -> None:
        """Start (initialising if needed) both servers and wire up replication. Idempotent."""
        t0 = time.monotonic()
        password = self.ensure_local_env()["WEWORK_LOCAL_DB_PASSWORD"]

        to_start = [srv for srv in self.servers if self._running_pid(srv) is None]
        # Check every port before touching anything, so a conflict leaves no half-started pair.
        for srv in to_start:
            self._check_port_free(srv)
        fresh_primary = False
        procs = []
        for srv in to_start:  # primary first: the replica connects to it
            fresh = self._ensure_initialised(srv)
            fresh_primary |= fresh and srv is self.primary
            procs.append((srv, self._start(srv)))
        for srv, proc in procs:
            self._wait_ready(srv, proc, timeout)

        self._ensure_users(self.primary, password, log_bin=True)
        engine = new_engine(database_url(Role.PRIMARY, None, self.settings()))
        try:
            if not ensure_heartbeat(engine):
                self.echo("warning: event_scheduler is OFF on the primary; heartbeat is stale")
        finally:
            engine.dispose()
        self._ensure_replication(password, fresh_primary)

        what = "started" if to_start else "already running"
        self.echo(
            f"local MariaDB pair {what}: primary 127.0.0.1:{self.primary.port}, "
            f"replica 127.0.0.1:{self.replica.port} ({time.monotonic() - t0:.1f} s)"
        )

    def down(self, timeout: float = 120.0) -> None:
        """Stop both servers (replica first). Idempotent."""
        for srv in (self.replica, self.primary):
            pid = self._running_pid(srv)
            if pid is None:
                self.echo(f"{srv.role}: not running")
                continue
            # SIGTERM is mariadbd's clean shutdown (same as `mariadb-admin shutdown`).
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while _is_alive(pid, srv.dir) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _is_alive(pid, srv.dir):
                self.echo(f"{srv.role}: pid {pid} ignored SIGTERM for {timeout:.0f} s; killing it")
                os.kill(pid, signal.SIGKILL)
                while _is_alive(pid, srv.dir):
                    time.sleep(0.05)
            srv.pid_file.unlink(missing_ok=True)
            self.echo(f"{srv.role}: stopped (pid {pid})")

    def reset(self) -> None:
        """Stop both servers and delete their data (``local.env`` is kept)."""
        self.down()
        if self.mysql_dir.exists():
            shutil.rmtree(self.mysql_dir)
            self.echo(f"deleted {self.mysql_dir}")

    def status(self) -> dict[str, ServerStatus]:
        """Process-level state of each local server, keyed by role."""
        result = {}
        for srv in self.servers:
            pid = self._running_pid(srv, cleanup=False)
            version = None
            if pid is not None:
                rows = self._try_sql(srv, "SELECT VERSION()")
                version = rows[0][0] if rows else None
            result[srv.role] = ServerStatus(
                srv.role, pid is not None, pid, srv.port, srv.socket, srv.dir, version
            )
        return result

    # ----------------------------------------------------------------- processes

    def _running_pid(self, srv: _Server, cleanup: bool = True) -> int | None:
        try:
            text = srv.pid_file.read_text().strip()
        except FileNotFoundError:
            return None
        pid = int(text) if text.isdigit() else None
        if pid is not None and _is_alive(pid, srv.dir):
            return pid
        if cleanup:
            self.echo(f"{srv.role}: removing stale pid file {srv.pid_file} (process {pid} is gone)")
            srv.pid_file.unlink(missing_ok=True)
        return None

    def _check_port_free(self, srv: _Server) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            # SO_REUSEADDR: a port in TIME_WAIT after our own shutdown is free for mariadbd.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", srv.port))
            except OSError as e:
                raise LocalStackError(
                    f"port {srv.port} for the local {srv.role} is already in use by "
                    f"{_port_owner(srv.port)} ({e.strerror}); stop that process or set "
                    f"WEWORK_{srv.role.upper()}_PORT to a free port"
                ) from None

    def _ensure_initialised(self, srv: _Server) -> bool:
        """Run mariadb-install-db unless the marker says it completed; True if it ran."""
        if srv.marker.exists():
            return False
        if srv.dir.exists() and any(srv.dir.iterdir()):
            # An interrupted install leaves a data dir mariadbd may start on but that lacks
            # system tables (or worse): start again from nothing.
            self.echo(
                f"{srv.role}: {srv.dir} is half-initialised (no {MARKER} marker); "
                "deleting it and initialising again"
            )
            shutil.rmtree(srv.dir)
        srv.dir.mkdir(parents=True, exist_ok=True)
        srv.tmp_dir.mkdir(exist_ok=True)
        self.echo(f"{srv.role}: initialising {srv.dir}")
        install_log = srv.dir / "install.log"
        with install_log.open("wb") as log:
            rc = subprocess.run(
                [
                    MARIADB_INSTALL_DB,
                    "--no-defaults",  # never pick up /etc/mysql/my.cnf (system socket, port)
                    f"--datadir={srv.dir}",
                    f"--user={getpass.getuser()}",
                    "--skip-test-db",
                    f"--tmpdir={srv.tmp_dir}",
                    f"--innodb-log-file-size={self.log_file_size}",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            ).returncode
        if rc != 0:
            raise LocalStackError(
                f"mariadb-install-db failed for the {srv.role} (exit {rc}):\n{_tail(install_log)}"
            )
        srv.marker.write_text(f"initialised {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n")
        return True

    def _server_args(self, srv: _Server) -> list[str]:
        args = [
            "--no-defaults",  # must be first: ignore /etc/mysql/my.cnf
            f"--datadir={srv.dir}",
            f"--port={srv.port}",
            f"--socket={srv.socket}",
            f"--pid-file={srv.pid_file}",
            f"--tmpdir={srv.tmp_dir}",
            f"--user={getpass.getuser()}",
            "--bind-address=127.0.0.1",
            "--skip-name-resolve",
            "--default-time-zone=+00:00",
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_unicode_ci",
            "--local-infile=1",
            "--max-allowed-packet=256M",
            "--max-connections=500",
            f"--innodb-buffer-pool-size={self.buffer_pool_size}",
            f"--innodb-log-file-size={self.log_file_size}",  # room for bulk loads
            # Both servers write a binlog with replicated changes too, so the replica
            # could be promoted; fixed names so a hostname change does not lose them.
            "--log-bin=mariadb-bin",
            "--log-slave-updates",
            "--binlog-format=ROW",
            "--gtid-strict-mode=1",
            "--binlog-expire-logs-seconds=172800",
        ]
        if srv is self.primary:
            args += [
                "--server-id=1",
                "--sync-binlog=1",
                "--innodb-flush-log-at-trx-commit=1",
                "--event-scheduler=ON",  # drives the replication-lag heartbeat
            ]
        else:
            args += [
                "--server-id=2",
                "--read-only=1",
                "--relay-log=relay-bin",
                # The heartbeat event exists here too (replicated / seeded); it must only
                # ever fire on the primary.
                "--event-scheduler=OFF",
            ]
        return args

    def _start(self, srv: _Server) -> subprocess.Popen:
        srv.tmp_dir.mkdir(parents=True, exist_ok=True)
        self.echo(f"{srv.role}: starting mariadbd on 127.0.0.1:{srv.port} (log {srv.log_file})")
        with srv.log_file.open("ab") as log:
            proc = subprocess.Popen(
                [MARIADBD, *self._server_args(srv)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Own session: the server outlives this command and ignores its Ctrl-C.
                start_new_session=True,
                close_fds=True,
            )
        _children[proc.pid] = proc
        return proc

    def _wait_ready(self, srv: _Server, proc: subprocess.Popen, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                _children.pop(proc.pid, None)
                raise LocalStackError(
                    f"mariadbd for the {srv.role} exited with code {proc.returncode}; "
                    f"last lines of {srv.log_file}:\n{_tail(srv.log_file)}"
                )
            if self._try_sql(srv, "SELECT 1") is not None:
                self.echo(f"{srv.role}: ready (pid {proc.pid})")
                return
            if time.monotonic() > deadline:
                raise LocalStackError(
                    f"mariadbd for the {srv.role} did not answer within {timeout:.0f} s; "
                    f"last lines of {srv.log_file}:\n{_tail(srv.log_file)}"
                )
            time.sleep(0.1)

    # ----------------------------------------------------------------- SQL as root

    def _client(self, srv: _Server, log_bin: bool) -> list[str]:
        args = [MARIADB, "--no-defaults", f"--socket={srv.socket}", f"--user={getpass.getuser()}"]
        if not log_bin:
            # Setup done locally on the replica must not enter its binlog as its own
            # GTIDs (they would diverge from the primary's history).
            args.append("--init-command=SET sql_log_bin=0")
        return args

    def _sql(self, srv: _Server, sql: str, *, log_bin: bool = True) -> list[list[str]]:
        """Run SQL as root over the socket; rows as lists of strings. SQL goes via stdin
        so passwords never show in the process list."""
        proc = subprocess.run(
            [*self._client(srv, log_bin), "--batch", "--skip-column-names"],
            input=sql,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if proc.returncode != 0:
            raise LocalStackError(f"SQL on the local {srv.role} failed: {proc.stderr.strip()}")
        return [line.split("\t") for line in proc.stdout.splitlines()]

    def _try_sql(self, srv: _Server, sql: str) -> list[list[str]] | None:
        try:
            return self._sql(srv, sql)
        except (LocalStackError, subprocess.TimeoutExpired):
            return None

    def _query(self, srv: _Server, sql: str) -> list[dict[str, str]]:
        proc = subprocess.run(
            [*self._client(srv, True), "--batch"],
            input=sql,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if proc.returncode != 0:
            raise LocalStackError(f"SQL on the local {srv.role} failed: {proc.stderr.strip()}")
        lines = proc.stdout.splitlines()
        if not lines:
            return []
        header = lines[0].split("\t")
        return [dict(zip(header, line.split("\t"), strict=False)) for line in lines[1:]]

    def _app_databases(self, srv: _Server) -> list[str]:
        return [r[0] for r in self._sql(srv, "SHOW DATABASES") if r[0] not in SYSTEM_DATABASES]

    # ----------------------------------------------------------------- users, replication

    def _ensure_users(self, srv: _Server, password: str, *, log_bin: bool) -> None:
        pw = _quote(password)
        statements = []
        for host in ("127.0.0.1", "localhost"):
            account = f"{_quote(self.user)}@{_quote(host)}"
            statements += [
                f"CREATE USER IF NOT EXISTS {account} IDENTIFIED BY {pw}",
                f"ALTER USER {account} IDENTIFIED BY {pw}",  # follow a changed local.env
                # ALL (with GRANT OPTION): the app creates shard databases and their users.
                f"GRANT ALL PRIVILEGES ON *.* TO {account} WITH GRANT OPTION",
                # ...but not READ_ONLY ADMIN, so read_only=1 really stops the app from
                # writing to the replica.
                f"REVOKE READ_ONLY ADMIN ON *.* FROM {account}",
            ]
        # The replica connects over TCP; the same generated secret keeps local.env short.
        repl = f"{_quote(REPL_USER)}@'127.0.0.1'"
        statements += [
            f"CREATE USER IF NOT EXISTS {repl} IDENTIFIED BY {pw}",
            f"ALTER USER {repl} IDENTIFIED BY {pw}",
            f"GRANT REPLICATION SLAVE ON *.* TO {repl}",
        ]
        self._sql(srv, ";\n".join(statements) + ";", log_bin=log_bin)

    def _ensure_replication(self, password: str, fresh_primary: bool) -> None:
        rows = self._query(self.replica, "SHOW SLAVE STATUS")
        reason = None
        if not rows:
            reason = "it has no replication configured yet"
        elif fresh_primary:
            reason = "the primary was just initialised"
        elif rows[0].get("Last_IO_Errno") == "1236":
            reason = f"the primary no longer has its position ({rows[0].get('Last_IO_Error')})"
        if reason:
            self.echo(f"replica: seeding from a dump of the primary because {reason}")
            self._seed_replica(password)
            return
        # Harmless (a warning) when already running; restarts threads stopped by hand.
        self._sql(self.replica, "START SLAVE", log_bin=False)
        status = self._query(self.replica, "SHOW SLAVE STATUS")[0]
        error = status.get("Last_SQL_Error") or status.get("Last_IO_Error")
        if error:
            self.echo(f"warning: replication reports an error: {error}")

    def _seed_replica(self, password: str) -> None:
        """Make the replica a copy of the primary at a GTID, then replicate from there.

        A dump (rather than replaying the primary's binlog from the start) works whatever
        the primary holds and whether or not old binlogs were purged. Only application
        databases are copied; the replica keeps its own system tables and gets the same
        users directly (idempotent statements, so replicated copies of them do not clash).
        """
        replica = self.replica
        self._sql(replica, "STOP SLAVE; RESET SLAVE ALL; RESET MASTER;", log_bin=False)
        drops = [f"DROP DATABASE `{db}`" for db in self._app_databases(replica)]
        if drops:
            self._sql(replica, ";\n".join(drops) + ";", log_bin=False)
        self._ensure_users(replica, password, log_bin=False)

        dump_file = replica.dir / "seed.sql"
        databases = self._app_databases(self.primary)
        with dump_file.open("wb") as out:
            proc = subprocess.run(
                [
                    MARIADB_DUMP,
                    "--no-defaults",
                    f"--socket={self.primary.socket}",
                    f"--user={getpass.getuser()}",
                    "--single-transaction",  # consistent InnoDB snapshot without long locks
                    "--master-data=2",  # the GTID of that snapshot, as a comment
                    "--gtid",
                    "--routines",
                    "--events",
                    "--triggers",
                    "--hex-blob",
                    "--databases",
                    *databases,
                ],
                stdout=out,
                stderr=subprocess.PIPE,
            )
        if proc.returncode != 0:
            raise LocalStackError(f"mariadb-dump of the primary failed: {proc.stderr.decode()}")
        gtid = _dump_gtid(dump_file)
        with dump_file.open("rb") as dump:
            proc = subprocess.run(
                self._client(replica, log_bin=False), stdin=dump, stderr=subprocess.PIPE
            )
        if proc.returncode != 0:
            raise LocalStackError(
                f"loading the dump into the replica failed: {proc.stderr.decode()}"
            )
        dump_file.unlink()

        self._sql(
            replica,
            f"""SET GLOBAL gtid_slave_pos = {_quote(gtid)};
            CHANGE MASTER TO
                MASTER_HOST='127.0.0.1', MASTER_PORT={self.primary.port},
                MASTER_USER={_quote(REPL_USER)}, MASTER_PASSWORD={_quote(password)},
                MASTER_CONNECT_RETRY=1, MASTER_USE_GTID=slave_pos;
            START SLAVE;""",
            log_bin=False,
        )
        self.echo(f"replica: replicating from the primary from GTID {gtid or '(start)'}")


def _dump_gtid(dump_file: Path) -> str:
    """The ``gtid_slave_pos`` a ``--master-data=2 --gtid`` dump records (near its end)."""
    with dump_file.open("rb") as f:
        f.seek(max(0, dump_file.stat().st_size - 65536))
        tail = f.read().decode(errors="replace")
    match = re.search(r"gtid_slave_pos='([^']*)'", tail)
    if match is None:
        raise LocalStackError(f"no gtid_slave_pos found in the dump {dump_file}")
    return match.group(1)

"""The local MariaDB primary + read replica, started from the installed binaries.

Used when no ``WEWORK_PRIMARY_URL``/``WEWORK_REPLICA_URL`` is configured. Everything lives
under ``<data_dir>/mysql/{primary,replica}`` (data, socket, pid file, server and slow-query
logs), on the stack's own ports (33306/33307 by default, never 3306), so it never touches a
system MySQL.

- **OS user.** mariadbd never runs as root: run as root, it runs as Debian's ``mysql``
  user, which owns the data directories (:mod:`wework.osuser`).
- **Database users.** One per kind of work, each with only what that work needs
  (:mod:`wework.db.privileges`): the app (``wework``), ``wework_migrator``,
  ``wework_etl``, ``wework_backup``, ``wework_monitor``, and ``repl`` for the replica's
  link. Their passwords are generated into ``<data_dir>/local.env`` and sent to the
  server only as hashes. Root is reached through each server's unix socket
  (``unix_socket`` auth for the OS user, as ``mariadb-install-db`` sets it up); PyMySQL
  cannot do that auth, so root-level setup goes through the ``mariadb`` client.
- **Files.** ``secure_file_priv`` is an empty private directory: ``SELECT … INTO
  OUTFILE``, ``LOAD DATA INFILE`` and ``LOAD_FILE()`` reach nothing else (no user has FILE
  anyway), while the client-side ``LOAD DATA LOCAL INFILE`` of the seed still works.
- **Monitoring** (the spec's 慢查询/索引监控): slow query log with ``long_query_time = 1``,
  queries not using indexes logged once they examine 1,000 rows, ``userstat``, and
  ``performance_schema`` with statement digests and statement history.
- **Replica** applies transactions on ``local_replica_parallel_threads`` threads
  (``slave_parallel_mode=optimistic``).

``up`` is idempotent and upgrades a stack made by older code in place, saying what it did:
a server running with other arguments than the current code's is restarted, files are
handed to the OS user, missing users are created and extra privileges revoked.
"""

from __future__ import annotations

import fcntl
import getpass
import hashlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil
from cryptography.fernet import Fernet

from wework.config import Settings, get_settings
from wework.db.engines import DbUser, Role, database_url, local_user_name, new_engine
from wework.db.privileges import NEEDED, REPLICATION, grant_statements, local_database_patterns
from wework.db.privileges import parse_grants as _parse_grants
from wework.db.replication import ensure_heartbeat
from wework.localenv import ensure_secrets, read_env_file
from wework.osuser import ServiceUser, chown_tree, ensure_reachable, own, service_user

MARIADBD = shutil.which("mariadbd", path="/usr/sbin:/usr/bin:/sbin:/bin") or "/usr/sbin/mariadbd"
MARIADB = shutil.which("mariadb") or "/usr/bin/mariadb"
MARIADB_DUMP = shutil.which("mariadb-dump") or "/usr/bin/mariadb-dump"
MARIADB_INSTALL_DB = shutil.which("mariadb-install-db") or "/usr/bin/mariadb-install-db"

SYSTEM_DATABASES = {"mysql", "information_schema", "performance_schema", "sys"}
REPL_USER = "repl"
# Every database user of the stack connects over TCP from here.
USER_HOST = "127.0.0.1"
# Debian's mariadb-server creates this OS user; mariadbd runs as it when we are root.
OS_USER = "mysql"
# Queries that use no index are logged only once they examine this many rows: MariaDB has
# no log_throttle_queries_not_using_indexes, and every full scan of a 20-row table would
# flood the log (log_slow_min_examined_row_limit applies to slow queries too).
NOT_USING_INDEXES_MIN_ROWS = 1000

# local.env key of each database user's password (the app's predates the others).
PASSWORD_KEYS = {
    DbUser.APP: "WEWORK_LOCAL_DB_PASSWORD",
    DbUser.MIGRATOR: "WEWORK_DB_MIGRATOR_PASSWORD",
    DbUser.ETL: "WEWORK_DB_ETL_PASSWORD",
    DbUser.BACKUP: "WEWORK_DB_BACKUP_PASSWORD",
    DbUser.MONITOR: "WEWORK_DB_MONITOR_PASSWORD",
}
REPL_PASSWORD_KEY = "WEWORK_DB_REPL_PASSWORD"
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

    @property
    def files_dir(self) -> Path:
        # secure_file_priv: the only place server-side file statements could reach; empty
        # and private (outside the data dir for the same reason as tmp_dir).
        return self.dir.parent / f"{self.role}.files"

    @property
    def slow_log(self) -> Path:
        return self.dir / "slow.log"


def _quote(value: str) -> str:
    """A SQL string literal (the values quoted here are our own names and secrets)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def native_password_hash(password: str) -> str:
    """The ``mysql_native_password`` hash of ``password``, so statements carry (and the
    binlog records) the hash, never the password."""
    return "*" + hashlib.sha1(hashlib.sha1(password.encode()).digest()).hexdigest().upper()


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
        user_names: dict[DbUser, str] | None = None,
        db_name: str = "wework_platform",
        replica_parallel_threads: int = 4,
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
        # Database user of each kind of work (wework_<role> unless configured).
        self.user_names = {u: f"wework_{u}" for u in DbUser} | {DbUser.APP: user}
        self.user_names |= user_names or {}
        self.db_name = db_name
        self.replica_parallel_threads = replica_parallel_threads
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
        self._os_user: ServiceUser | None = None

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **kwargs) -> LocalStack:
        s = settings or get_settings()
        return cls(
            s.data_dir,
            s.primary_port,
            s.replica_port,
            user=s.local_db_user,
            user_names={u: local_user_name(u, s) for u in DbUser},
            db_name=s.db_name,
            replica_parallel_threads=s.local_replica_parallel_threads,
            **kwargs,
        )

    @property
    def servers(self) -> tuple[_Server, _Server]:
        return (self.primary, self.replica)

    @property
    def env_file(self) -> Path:
        return self.data_dir / "local.env"

    @property
    def os_user(self) -> ServiceUser:
        """The OS user mariadbd runs as (``mysql`` when we are root, else ourselves)."""
        if self._os_user is None:
            try:
                self._os_user = service_user(OS_USER)
            except RuntimeError as e:
                raise LocalStackError(str(e)) from None
        return self._os_user

    # ----------------------------------------------------------------- secrets

    def ensure_local_env(self) -> dict[str, str]:
        """Create ``local.env`` (mode 600) with any missing secret; keep existing values."""

        def password() -> str:
            return secrets.token_urlsafe(24)

        generators: dict[str, Callable[[], str]] = dict.fromkeys(
            [*PASSWORD_KEYS.values(), REPL_PASSWORD_KEY], password
        )
        generators["WEWORK_ENCRYPTION_KEYS"] = lambda: Fernet.generate_key().decode()
        generators["WEWORK_LOOKUP_KEY"] = lambda: secrets.token_hex(32)
        return ensure_secrets(self.env_file, generators, self.echo)

    def settings(self) -> Settings:
        """Settings that point at this stack (its ports, users and generated secrets)."""
        env = read_env_file(self.env_file)
        users = {
            f"db_{u}_user": self.user_names[u] for u in DbUser if u is not DbUser.APP
        }
        passwords = {
            f"db_{u}_password": env.get(PASSWORD_KEYS[u]) for u in DbUser if u is not DbUser.APP
        }
        return Settings(
            data_dir=self.data_dir,
            primary_url=None,
            replica_url=None,
            primary_port=self.primary.port,
            replica_port=self.replica.port,
            local_db_user=self.user,
            local_db_password=env.get(PASSWORD_KEYS[DbUser.APP]),
            db_name=self.db_name,
            local_replica_parallel_threads=self.replica_parallel_threads,
            encryption_keys=env.get("WEWORK_ENCRYPTION_KEYS"),
            lookup_key=env.get("WEWORK_LOOKUP_KEY"),
            db_repl_password=env.get(REPL_PASSWORD_KEY),
            **users,
            **passwords,
        )

    # ----------------------------------------------------------------- lifecycle

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """One ``up``/``down`` at a time per stack (parallel test workers call ``up``)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.data_dir / ".mysql.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def up(self, timeout: float = 60.0) -> None:
        """Start (initialising if needed) both servers and wire up replication. Idempotent;
        upgrades a stack made by older code (see the module docstring)."""
        t0 = time.monotonic()
        with self._locked():
            env = self.ensure_local_env()
            restarted = self._stop_outdated()
            to_start = [srv for srv in self.servers if self._running_pid(srv) is None]
            # Check every port before touching anything, so a conflict leaves no
            # half-started pair.
            for srv in to_start:
                self._check_port_free(srv)
            fresh_primary = False
            procs = []
            for srv in to_start:  # primary first: the replica connects to it
                fresh = self._ensure_initialised(srv)
                fresh_primary |= fresh and srv is self.primary
                self._prepare_dirs(srv)
                procs.append((srv, self._start(srv)))
            for srv, proc in procs:
                self._wait_ready(srv, proc, timeout)

            repl_changed = self._ensure_users(self.primary, env, log_bin=True)
            engine = new_engine(database_url(Role.PRIMARY, None, self.settings(), DbUser.MIGRATOR))
            try:
                if not ensure_heartbeat(engine):
                    self.echo("warning: event_scheduler is OFF on the primary; heartbeat is stale")
            finally:
                engine.dispose()
            self._ensure_replication(env[REPL_PASSWORD_KEY], fresh_primary, repl_changed)

        what = "restarted" if restarted else "started" if to_start else "already running"
        self.echo(
            f"local MariaDB pair {what}: primary 127.0.0.1:{self.primary.port}, "
            f"replica 127.0.0.1:{self.replica.port}, mariadbd as OS user "
            f"{self.os_user.name} ({time.monotonic() - t0:.1f} s)"
        )

    def _stop_outdated(self) -> bool:
        """Stop a running server whose arguments differ from what this code would start it
        with (older code, other settings): it comes back with the current ones. Its data
        is untouched."""
        stopped = False
        for srv in (self.replica, self.primary):
            pid = self._running_pid(srv)
            if pid is None:
                continue
            try:
                running = psutil.Process(pid).cmdline()[1:]
            except psutil.Error:
                continue
            wanted = self._server_args(srv)
            if running == wanted:
                continue
            changed = sorted({a.split("=", 1)[0] for a in set(running) ^ set(wanted)})
            self.echo(
                f"{srv.role}: running with an older configuration (differs in "
                f"{', '.join(changed) or 'argument order'}); restarting it with the current "
                "one (data is kept)"
            )
            self._stop(srv, pid)
            stopped = True
        return stopped

    def down(self, timeout: float = 120.0) -> None:
        """Stop both servers (replica first). Idempotent."""
        with self._locked():
            for srv in (self.replica, self.primary):
                pid = self._running_pid(srv)
                if pid is None:
                    self.echo(f"{srv.role}: not running")
                    continue
                self._stop(srv, pid, timeout)

    def _stop(self, srv: _Server, pid: int, timeout: float = 120.0) -> None:
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
        self._prepare_dirs(srv)
        self.echo(f"{srv.role}: initialising {srv.dir}")
        install_log = srv.dir / "install.log"
        with install_log.open("wb") as log:
            rc = subprocess.run(
                [
                    MARIADB_INSTALL_DB,
                    "--no-defaults",  # never pick up /etc/mysql/my.cnf (system socket, port)
                    f"--datadir={srv.dir}",
                    f"--user={self.os_user.name}",
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
        chown_tree(srv.dir, self.os_user)  # the log and marker written above
        return True

    def _prepare_dirs(self, srv: _Server) -> None:
        """The server's directories, owned by (and reachable for) its OS user. Files left
        by older code, which ran mariadbd as root, are handed over."""
        user = self.os_user
        self.mysql_dir.mkdir(parents=True, exist_ok=True)
        try:
            ensure_reachable(self.mysql_dir, user, self.echo)
        except RuntimeError as e:
            raise LocalStackError(str(e)) from None
        srv.dir.mkdir(exist_ok=True)
        own(srv.dir, user, 0o700)
        own(srv.tmp_dir, user, 0o700)
        own(srv.files_dir, user, 0o700)
        srv.log_file.touch()  # opened by us for the server's output: its owner's from the start
        changed = chown_tree(srv.dir, user)
        if changed:
            self.echo(f"{srv.role}: handed {changed} files in {srv.dir} to the OS user {user.name}")

    def _server_args(self, srv: _Server) -> list[str]:
        args = [
            "--no-defaults",  # must be first: ignore /etc/mysql/my.cnf
            f"--datadir={srv.dir}",
            f"--port={srv.port}",
            f"--socket={srv.socket}",
            f"--pid-file={srv.pid_file}",
            f"--tmpdir={srv.tmp_dir}",
            f"--user={self.os_user.name}",
            f"--secure-file-priv={srv.files_dir}",
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
            # The spec's monitoring (慢查询、索引使用): slow queries over 1 s, and queries
            # using no index once they examine NOT_USING_INDEXES_MIN_ROWS rows.
            "--slow-query-log=1",
            f"--slow-query-log-file={srv.slow_log}",
            "--long-query-time=1",
            "--log-queries-not-using-indexes=1",
            f"--log-slow-min-examined-row-limit={NOT_USING_INDEXES_MIN_ROWS}",
            # Per-index and per-table read/change counters (information_schema
            # INDEX_STATISTICS / TABLE_STATISTICS): what finds unused indexes.
            "--userstat=1",
            # Statement digests (top statements by total time) and each thread's recent
            # statements (latency distribution).
            "--performance-schema=ON",
            "--performance-schema-consumer-statements-digest=ON",
            "--performance-schema-consumer-events-statements-current=ON",
            "--performance-schema-consumer-events-statements-history=ON",
            # Memory: the long histories are allocated even with their consumers off
            # (statements' alone 34 MB), and the per-account tables are sized for far
            # more logins than the stack's few users. 241 → 175 MB RSS per idle server
            # (100 MB without performance_schema).
            "--performance-schema-events-statements-history-long-size=0",
            "--performance-schema-events-transactions-history-long-size=0",
            "--performance-schema-events-stages-history-long-size=0",
            "--performance-schema-events-waits-history-long-size=0",
            "--performance-schema-accounts-size=32",
            "--performance-schema-users-size=32",
            "--performance-schema-hosts-size=8",
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
            if self.replica_parallel_threads:
                # Apply replicated transactions on several threads, speculatively, in
                # commit order (conflicts are retried): lag stays low when the primary
                # commits from many clients at once.
                args += [
                    f"--slave-parallel-threads={self.replica_parallel_threads}",
                    "--slave-parallel-mode=optimistic",
                ]
        return args

    def _start(self, srv: _Server) -> subprocess.Popen:
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

    def _sql(
        self, srv: _Server, sql: str, *, log_bin: bool = True, raw: bool = False
    ) -> list[list[str]]:
        """Run SQL as root over the socket; rows as lists of strings (``raw``: without the
        batch mode's backslash escaping). SQL goes via stdin so passwords never show in
        the process list."""
        proc = subprocess.run(
            [*self._client(srv, log_bin), "--batch", "--skip-column-names"]
            + (["--raw"] if raw else []),
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

    def _wanted_users(self, env: dict[str, str]) -> list[tuple[str, str, dict]]:
        """(name, password, privileges) of every database user the stack needs."""
        wanted = [
            (self.user_names[user], env[PASSWORD_KEYS[user]], NEEDED[user]) for user in DbUser
        ]
        return [*wanted, (REPL_USER, env[REPL_PASSWORD_KEY], REPLICATION)]

    def _ensure_users(self, srv: _Server, env: dict[str, str], *, log_bin: bool) -> bool:
        """Make every user exist with its local.env password and exactly its privileges;
        say what changed. Returns whether the replication user's password changed."""
        wanted = self._wanted_users(env)
        names = {name for name, _, _ in wanted}
        existing = {
            (row[0], row[1]): row[2]
            for row in self._sql(srv, "SELECT User, Host, authentication_string FROM mysql.user")
        }
        current = self._current_grants(
            srv, [(n, USER_HOST) for n in names if (n, USER_HOST) in existing]
        )
        # IF [NOT] EXISTS everywhere: these statements replicate, and the replica may
        # already hold the users (it is given them directly when seeded).
        statements, changes, repl_changed = [], [], False
        for name, host in sorted(existing):
            if name in names and host != USER_HOST:
                # Older code also made <user>@localhost (with ALL PRIVILEGES).
                statements.append(f"DROP USER IF EXISTS {_quote(name)}@{_quote(host)}")
                changes.append(f"dropped {name}@{host}")
        patterns = local_database_patterns(self.db_name)
        for name, password, needed in wanted:
            account = f"{_quote(name)}@{_quote(USER_HOST)}"
            hashed = _quote(native_password_hash(password))
            known = existing.get((name, USER_HOST))
            grants = grant_statements(needed, account, patterns)
            wanted_held = _parse_grants(grants).held
            if known is None:
                statements.append(
                    f"CREATE USER IF NOT EXISTS {account} IDENTIFIED BY PASSWORD {hashed}"
                )
                statements += grants
                changes.append(f"created {name}@{USER_HOST} with {_describe(wanted_held)}")
                continue
            if known != native_password_hash(password):
                statements.append(f"ALTER USER IF EXISTS {account} IDENTIFIED BY PASSWORD {hashed}")
                changes.append(f"{name}@{USER_HOST}: password set from {self.env_file.name}")
                repl_changed |= name == REPL_USER
            had = current[name].held
            if had != wanted_held:
                statements.append(f"REVOKE ALL PRIVILEGES, GRANT OPTION FROM {account}")
                statements += grants
                change = [f"removed {_describe(had - wanted_held)}" if had - wanted_held else "",
                          f"added {_describe(wanted_held - had)}" if wanted_held - had else ""]
                changes.append(f"{name}@{USER_HOST}: " + "; ".join(c for c in change if c))
        if statements:
            self._sql(srv, ";\n".join(statements) + ";", log_bin=log_bin)
            for change in changes:
                self.echo(f"{srv.role} users: {change}")
        return repl_changed

    def _current_grants(self, srv: _Server, accounts: list[tuple[str, str]]) -> dict:
        """``SHOW GRANTS`` of each account, parsed, by user name."""
        if not accounts:
            return {}
        lines = [
            row[0]
            for row in self._sql(
                srv,
                "".join(f"SHOW GRANTS FOR {_quote(n)}@{_quote(h)};\n" for n, h in accounts),
                raw=True,
            )
        ]
        return {
            name: _parse_grants(line for line in lines if f" TO `{name}`@`{host}`" in line)
            for name, host in accounts
        }

    def _ensure_replication(self, password: str, fresh_primary: bool, new_password: bool) -> None:
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
        if new_password or rows[0].get("Last_IO_Errno") == "1045":
            # The link logs in as repl: follow its (new) password from local.env.
            self._sql(
                self.replica,
                f"STOP SLAVE; CHANGE MASTER TO MASTER_PASSWORD={_quote(password)};",
                log_bin=False,
            )
            self.echo("replica: the replication link uses the repl password from local.env")
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
        self._ensure_users(replica, self.ensure_local_env(), log_bin=False)

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


def _describe(held: set) -> str:
    """``SELECT, INSERT on `db`.*; RELOAD on *.*`` (privileges grouped by scope)."""
    by_scope: dict[str, list[str]] = {}
    for h in held:
        by_scope.setdefault(h.scope, []).append(h.privilege)
    return "; ".join(f"{', '.join(sorted(p))} on {scope}" for scope, p in sorted(by_scope.items()))


def _dump_gtid(dump_file: Path) -> str:
    """The ``gtid_slave_pos`` a ``--master-data=2 --gtid`` dump records (near its end)."""
    with dump_file.open("rb") as f:
        f.seek(max(0, dump_file.stat().st_size - 65536))
        tail = f.read().decode(errors="replace")
    match = re.search(r"gtid_slave_pos='([^']*)'", tail)
    if match is None:
        raise LocalStackError(f"no gtid_slave_pos found in the dump {dump_file}")
    return match.group(1)

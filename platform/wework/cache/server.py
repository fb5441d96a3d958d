"""The local Redis of ``wework cache up``: Debian's ``redis-server``, run like the local
MariaDB pair (detached, own port, everything under ``<data_dir>/redis``).

- Listens on 127.0.0.1 only, protected mode on, and requires the password generated into
  ``<data_dir>/local.env`` (``WEWORK_REDIS_PASSWORD``). The password reaches the server
  through its config file (mode 600), never the command line.
- Runs as Debian's unprivileged ``redis`` user when started as root (:mod:`wework.osuser`).
- **No persistence** (no RDB snapshots, no AOF): Redis holds only copies (cache entries,
  throttle counters, eviction messages) and is never the source of truth. Persisting them
  would cost disk writes on every change and, worse, a restart would bring back entries
  whose invalidations were published while Redis was down: starting empty is correct.
- Bounded memory (256 MB, least-recently-used keys evicted first): a cache that fills up
  forgets, it does not refuse writes.
"""

from __future__ import annotations

import os
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
import redis

from wework.config import Settings, get_settings
from wework.localenv import ensure_secrets, read_env_file
from wework.osuser import ServiceUser, chown_tree, ensure_reachable, own, service_user

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
OS_USER = "redis"  # created by Debian's redis-server package
PASSWORD_KEY = "WEWORK_REDIS_PASSWORD"
MAX_MEMORY = "256mb"


class CacheServerError(RuntimeError):
    """The local Redis cannot do what was asked; the message says why."""


@dataclass(frozen=True)
class CacheServerStatus:
    running: bool
    pid: int | None
    port: int
    dir: Path
    answers: bool  # PING with the password succeeded
    os_user: str | None
    version: str | None = None
    used_memory: str | None = None


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return f"(no log at {path})"


class LocalRedis:
    def __init__(
        self, data_dir: Path | str, port: int = 16379, echo: Callable[[str], None] = print
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.dir = self.data_dir / "redis"
        self.port = port
        self.echo = echo
        self._proc: subprocess.Popen | None = None

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **kwargs) -> LocalRedis:
        s = settings or get_settings()
        return cls(s.data_dir, s.redis_port, **kwargs)

    @property
    def env_file(self) -> Path:
        return self.data_dir / "local.env"

    @property
    def config_file(self) -> Path:
        return self.dir / "redis.conf"

    @property
    def work_dir(self) -> Path:
        return self.dir / "data"

    @property
    def pid_file(self) -> Path:
        return self.dir / "redis-server.pid"

    @property
    def log_file(self) -> Path:
        return self.dir / "redis-server.log"

    @property
    def url(self) -> str:
        """Without the password (for messages)."""
        return f"redis://127.0.0.1:{self.port}/0"

    def password(self) -> str:
        return ensure_secrets(
            self.env_file, {PASSWORD_KEY: lambda: secrets.token_urlsafe(24)}, self.echo
        )[PASSWORD_KEY]

    # ----------------------------------------------------------------- state

    def _is_ours(self, pid: int) -> bool:
        if self._proc is not None and self._proc.pid == pid and self._proc.poll() is not None:
            return False  # our child exited (now reaped)
        try:
            proc = psutil.Process(pid)
            if proc.status() == psutil.STATUS_ZOMBIE:
                return False
            # redis-server rewrites its process title to "redis-server 127.0.0.1:PORT".
            return "redis-server" in proc.name() and f":{self.port}" in " ".join(proc.cmdline())
        except psutil.Error:
            return False

    def running_pid(self) -> int | None:
        try:
            text = self.pid_file.read_text().strip()
        except FileNotFoundError:
            return None
        pid = int(text) if text.isdigit() else None
        if pid is not None and self._is_ours(pid):
            return pid
        self.pid_file.unlink(missing_ok=True)  # stale: that process is gone
        return None

    def _client(self, password: str) -> redis.Redis:
        return redis.Redis(
            host="127.0.0.1", port=self.port, password=password,
            socket_timeout=1, socket_connect_timeout=1,
        )

    def _answers(self, password: str) -> bool:
        client = self._client(password)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def status(self) -> CacheServerStatus:
        pid = self.running_pid()
        if pid is None:
            return CacheServerStatus(False, None, self.port, self.dir, False, None)
        password = read_env_file(self.env_file).get(PASSWORD_KEY, "")
        version = memory = None
        client = self._client(password)
        try:
            info = client.info()
            version, memory = info.get("redis_version"), info.get("used_memory_human")
            answers = True
        except redis.RedisError:
            answers = False
        finally:
            client.close()
        try:
            owner = psutil.Process(pid).username()
        except psutil.Error:
            owner = None
        return CacheServerStatus(True, pid, self.port, self.dir, answers, owner, version, memory)

    # ----------------------------------------------------------------- lifecycle

    def _config(self, password: str) -> str:
        quoted = password.replace("\\", "\\\\").replace('"', '\\"')
        return "\n".join(
            [
                "# Written by `wework cache up`; rewritten on every start.",
                "bind 127.0.0.1",
                "protected-mode yes",
                f"port {self.port}",
                f'requirepass "{quoted}"',
                f"dir {self.work_dir}",
                'logfile ""',  # stdout, which goes to redis-server.log
                "daemonize no",
                # Never the source of truth: no RDB snapshots, no AOF (module docstring).
                'save ""',
                "appendonly no",
                f"maxmemory {MAX_MEMORY}",
                "maxmemory-policy allkeys-lru",
                "",
            ]
        )

    def up(self, timeout: float = 20.0) -> str:
        """Start the server unless it runs already; return a line saying which."""
        password = self.password()
        pid = self.running_pid()
        if pid is not None:
            return f"redis-server already running (pid {pid}) at {self.url}"
        if not Path(REDIS_SERVER).exists():
            raise CacheServerError(
                f"{REDIS_SERVER} not found: install Debian's redis-server package "
                "(scripts/setup.sh does)"
            )
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", self.port))
            except OSError as e:
                raise CacheServerError(
                    f"port {self.port} for redis-server is in use ({e.strerror}); set "
                    "WEWORK_REDIS_PORT to a free port"
                ) from None
        user = self._prepare(password)
        with self.log_file.open("ab") as log:
            self._proc = subprocess.Popen(
                [REDIS_SERVER, str(self.config_file)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # detached: outlives this command, ignores its Ctrl-C
                close_fds=True,
                **({} if user.is_self else {"user": user.uid, "group": user.gid,
                                            "extra_groups": []}),
            )
        self.pid_file.write_text(f"{self._proc.pid}\n")
        deadline = time.monotonic() + timeout
        while not self._answers(password):
            if self._proc.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                raise CacheServerError(
                    f"redis-server exited with code {self._proc.returncode}; last lines of "
                    f"{self.log_file}:\n{_tail(self.log_file)}"
                )
            if time.monotonic() > deadline:
                raise CacheServerError(
                    f"redis-server did not answer on {self.url} within {timeout:.0f} s; "
                    f"see {self.log_file}"
                )
            time.sleep(0.05)
        return (
            f"redis-server started (pid {self._proc.pid}, OS user {user.name}) at {self.url}"
        )

    def _prepare(self, password: str) -> ServiceUser:
        """Directories and config owned by the server's OS user, config mode 600."""
        try:
            user = service_user(OS_USER)
            self.dir.mkdir(parents=True, exist_ok=True)
            ensure_reachable(self.dir, user, self.echo)
        except RuntimeError as e:
            raise CacheServerError(str(e)) from None
        own(self.work_dir, user, 0o700)
        tmp = self.config_file.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self._config(password))
        if not user.is_self:
            os.chown(tmp, user.uid, user.gid)
        os.replace(tmp, self.config_file)
        chown_tree(self.work_dir, user)
        return user

    def down(self, timeout: float = 20.0) -> str:
        """Stop the server if it runs (SIGTERM, then SIGKILL after ``timeout``)."""
        pid = self.running_pid()
        if pid is None:
            return "redis-server: not running"
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self._is_ours(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if self._is_ours(pid):
            os.kill(pid, signal.SIGKILL)
            while self._is_ours(pid):
                time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
        return f"redis-server: stopped (pid {pid})"

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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil
import redis

from wework.config import Settings, get_settings
from wework.detached import DetachedServer
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


class LocalRedis(DetachedServer):
    name = "redis-server"
    error = CacheServerError
    port_setting = "WEWORK_REDIS_PORT"

    def __init__(
        self, data_dir: Path | str, port: int = 16379, echo: Callable[[str], None] = print
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        super().__init__(self.data_dir / "redis", port)
        self.echo = echo

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
    def url(self) -> str:
        """Without the password (for messages)."""
        return f"redis://127.0.0.1:{self.port}/0"

    def password(self) -> str:
        return ensure_secrets(
            self.env_file, {PASSWORD_KEY: lambda: secrets.token_urlsafe(24)}, self.echo
        )[PASSWORD_KEY]

    def _matches(self, proc: psutil.Process) -> bool:
        # redis-server rewrites its process title to "redis-server 127.0.0.1:PORT".
        return "redis-server" in proc.name() and f":{self.port}" in " ".join(proc.cmdline())

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
        self._check_port_free()
        user = self._prepare(password)
        as_user = {} if user.is_self else {"user": user.uid, "group": user.gid,
                                           "extra_groups": []}
        proc = self._spawn([REDIS_SERVER, str(self.config_file)], **as_user)
        self._wait_until(lambda: self._answers(password), timeout, self.url)
        return f"redis-server started (pid {proc.pid}, OS user {user.name}) at {self.url}"

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

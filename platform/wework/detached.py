"""A local server process run detached: its own session (it outlives the command and
ignores its Ctrl-C), a pid file and a log under its directory, idempotent up and down.

The local Redis (:mod:`wework.cache.server`) and the local VictoriaMetrics
(:mod:`wework.metrics.localserver`) are such servers; the MariaDB pair
(:mod:`wework.db.localstack`) has its own lifecycle (two servers, replication, upgrades).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import psutil


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return f"(no log at {path})"


class DetachedServer:
    """Subclasses set ``name`` and ``error`` and say which process is theirs
    (:meth:`_matches`)."""

    name = "server"
    error: type[RuntimeError] = RuntimeError
    port_setting = "--port"  # how the user picks another port (for the error message)

    def __init__(self, directory: Path, port: int) -> None:
        self.dir = directory
        self.port = port
        self._proc: subprocess.Popen | None = None

    @property
    def pid_file(self) -> Path:
        return self.dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.dir / f"{self.name}.log"

    def _matches(self, proc: psutil.Process) -> bool:
        raise NotImplementedError

    def _is_ours(self, pid: int) -> bool:
        if self._proc is not None and self._proc.pid == pid and self._proc.poll() is not None:
            return False  # our child exited (now reaped)
        try:
            proc = psutil.Process(pid)
            return proc.status() != psutil.STATUS_ZOMBIE and self._matches(proc)
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

    def _check_port_free(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", self.port))
            except OSError as e:
                raise self.error(
                    f"port {self.port} for {self.name} is in use ({e.strerror}); "
                    f"use a free port ({self.port_setting})"
                ) from None

    def _spawn(self, args: list[str], **popen_kwargs) -> subprocess.Popen:
        with self.log_file.open("ab") as log:
            self._proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # detached: outlives this command, ignores its Ctrl-C
                close_fds=True,
                **popen_kwargs,
            )
        self.pid_file.write_text(f"{self._proc.pid}\n")
        return self._proc

    def _wait_until(self, ready: Callable[[], bool], timeout: float, where: str) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + timeout
        while not ready():
            if self._proc.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                raise self.error(
                    f"{self.name} exited with code {self._proc.returncode}; last lines of "
                    f"{self.log_file}:\n{tail(self.log_file)}"
                )
            if time.monotonic() > deadline:
                raise self.error(
                    f"{self.name} did not answer on {where} within {timeout:.0f} s; "
                    f"see {self.log_file}"
                )
            time.sleep(0.05)

    def down(self, timeout: float = 30.0) -> str:
        """Stop the server if it runs (SIGTERM, then SIGKILL after ``timeout``)."""
        pid = self.running_pid()
        if pid is None:
            return f"{self.name}: not running"
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self._is_ours(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if self._is_ours(pid):
            os.kill(pid, signal.SIGKILL)
            while self._is_ours(pid):
                time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
        return f"{self.name}: stopped (pid {pid})"

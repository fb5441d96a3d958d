"""The local VictoriaMetrics that stands in for InfluxDB 2.x on a development machine.

No InfluxDB 2.x/3.x server can be installed here; Debian's ``victoria-metrics`` accepts the
same v2 write API (``/api/v2/write``) that ``influxdb-client`` uses. It runs detached (own
session, outlives the command) on 127.0.0.1:<port> with its data, pid file and log under
``<data_dir>/victoria-metrics``. ``up``/``down`` are idempotent, like the database stack.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psutil

VICTORIA_METRICS = shutil.which("victoria-metrics") or "/usr/bin/victoria-metrics"
DEFAULT_PORT = 18428


class MetricsServerError(RuntimeError):
    """The local metrics server cannot do what was asked; the message says why."""


@dataclass(frozen=True)
class MetricsServerStatus:
    running: bool
    pid: int | None
    url: str
    data_dir: Path
    healthy: bool


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return f"(no log at {path})"


class VictoriaMetricsServer:
    def __init__(self, data_dir: Path | str, port: int = DEFAULT_PORT) -> None:
        self.dir = Path(data_dir).resolve() / "victoria-metrics"
        self.port = port
        self._proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def storage_dir(self) -> Path:
        return self.dir / "data"

    @property
    def pid_file(self) -> Path:
        return self.dir / "victoria-metrics.pid"

    @property
    def log_file(self) -> Path:
        return self.dir / "victoria-metrics.log"

    # ----------------------------------------------------------------- state

    def _is_ours(self, pid: int) -> bool:
        if self._proc is not None and self._proc.pid == pid and self._proc.poll() is not None:
            return False  # our child exited (now reaped)
        try:
            proc = psutil.Process(pid)
            if proc.status() == psutil.STATUS_ZOMBIE:
                return False
            return f"-storageDataPath={self.storage_dir}" in proc.cmdline()
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

    def healthy(self, timeout: float = 1.0) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=timeout) as r:
                return r.status == 200
        except OSError:
            return False

    def status(self) -> MetricsServerStatus:
        pid = self.running_pid()
        return MetricsServerStatus(
            pid is not None, pid, self.url, self.dir, pid is not None and self.healthy()
        )

    # ----------------------------------------------------------------- lifecycle

    def up(self, timeout: float = 30.0) -> str:
        """Start the server unless it runs already; return a line saying which."""
        pid = self.running_pid()
        if pid is not None:
            return f"victoria-metrics already running (pid {pid}) at {self.url}"
        if not Path(VICTORIA_METRICS).exists():
            raise MetricsServerError(
                f"{VICTORIA_METRICS} not found: install Debian's victoria-metrics package"
            )
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", self.port))
            except OSError as e:
                raise MetricsServerError(
                    f"port {self.port} for victoria-metrics is in use ({e.strerror}); "
                    "pass --port with a free port"
                ) from None
        self.storage_dir.mkdir(parents=True, exist_ok=True)
        args = [
            VICTORIA_METRICS,
            f"-storageDataPath={self.storage_dir}",
            f"-httpListenAddr=127.0.0.1:{self.port}",
            # Queries see points at once (default hides the last 30 s).
            "-search.latencyOffset=0s",
            "-retentionPeriod=90d",
            "-loggerLevel=WARN",
        ]
        with self.log_file.open("ab") as log:
            self._proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # detached: outlives this command, ignores its Ctrl-C
                close_fds=True,
            )
        self.pid_file.write_text(f"{self._proc.pid}\n")
        deadline = time.monotonic() + timeout
        while not self.healthy(timeout=0.5):
            if self._proc.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                raise MetricsServerError(
                    f"victoria-metrics exited with code {self._proc.returncode}; "
                    f"last lines of {self.log_file}:\n{_tail(self.log_file)}"
                )
            if time.monotonic() > deadline:
                raise MetricsServerError(
                    f"victoria-metrics did not answer on {self.url} within {timeout:.0f} s; "
                    f"see {self.log_file}"
                )
            time.sleep(0.1)
        return f"victoria-metrics started (pid {self._proc.pid}) at {self.url}"

    def down(self, timeout: float = 30.0) -> str:
        """Stop the server if it runs (SIGTERM, then SIGKILL after ``timeout``)."""
        pid = self.running_pid()
        if pid is None:
            return "victoria-metrics: not running"
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self._is_ours(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if self._is_ours(pid):
            os.kill(pid, signal.SIGKILL)
            while self._is_ours(pid):
                time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
        return f"victoria-metrics: stopped (pid {pid})"

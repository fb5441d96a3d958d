"""The local VictoriaMetrics that stands in for InfluxDB 2.x on a development machine.

No InfluxDB 2.x/3.x server can be installed here; Debian's ``victoria-metrics`` accepts the
same v2 write API (``/api/v2/write``) that ``influxdb-client`` uses. It runs detached (own
session, outlives the command) on 127.0.0.1:<port> with its data, pid file and log under
``<data_dir>/victoria-metrics``. ``up``/``down`` are idempotent, like the database stack.
"""

from __future__ import annotations

import shutil
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psutil

from wework.detached import DetachedServer

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


class VictoriaMetricsServer(DetachedServer):
    name = "victoria-metrics"
    error = MetricsServerError

    def __init__(self, data_dir: Path | str, port: int = DEFAULT_PORT) -> None:
        super().__init__(Path(data_dir).resolve() / "victoria-metrics", port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def storage_dir(self) -> Path:
        return self.dir / "data"

    def _matches(self, proc: psutil.Process) -> bool:
        return f"-storageDataPath={self.storage_dir}" in proc.cmdline()

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

    def up(self, timeout: float = 30.0) -> str:
        """Start the server unless it runs already; return a line saying which."""
        pid = self.running_pid()
        if pid is not None:
            return f"victoria-metrics already running (pid {pid}) at {self.url}"
        if not Path(VICTORIA_METRICS).exists():
            raise MetricsServerError(
                f"{VICTORIA_METRICS} not found: install Debian's victoria-metrics package"
            )
        self._check_port_free()
        self.storage_dir.mkdir(parents=True, exist_ok=True)
        proc = self._spawn(
            [
                VICTORIA_METRICS,
                f"-storageDataPath={self.storage_dir}",
                # Localhost only: the store has no login (in production it sits behind an
                # authenticating proxy).
                f"-httpListenAddr=127.0.0.1:{self.port}",
                # Queries see points at once (default hides the last 30 s).
                "-search.latencyOffset=0s",
                "-retentionPeriod=90d",
                "-loggerLevel=WARN",
            ]
        )
        self._wait_until(lambda: self.healthy(timeout=0.5), timeout, self.url)
        return f"victoria-metrics started (pid {proc.pid}) at {self.url}"

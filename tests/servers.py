"""Servers a test runs as separate processes (``wework api``, ``wework gateway-sim serve``
…): each in its own process group with its output in a log file, ready once an URL
answers 200, stopped with SIGTERM (SIGKILL after a grace period) or killed outright."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

WEWORK = Path(sys.executable).with_name("wework")


@dataclass
class ServerProcess:
    proc: subprocess.Popen
    base_url: str
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, grace: float = 15.0) -> bool:
        """SIGTERM the group and wait; SIGKILL what is left after ``grace`` seconds.
        True when it ended cleanly: status 0, or the SIGTERM re-raised after a graceful
        shutdown (what uvicorn does)."""
        if self.proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                return self.proc.wait(grace) in (0, -signal.SIGTERM)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.proc.wait(10)
                return False
        return self.proc.returncode == 0

    def kill(self) -> None:
        self._signal(signal.SIGKILL)
        self.proc.wait(10)

    def _signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):  # already gone
            os.killpg(self.proc.pid, sig)


def start_server(args: list[str], port: int, log: Path, env: dict[str, str] | None = None,
                 ready_path: str = "/healthz", timeout: float = 180.0) -> ServerProcess:
    """Run ``wework *args`` (listening on ``port``) and wait until it answers."""
    out = log.open("ab")
    proc = subprocess.Popen([str(WEWORK), *args], stdout=out, stderr=subprocess.STDOUT,
                            env={**os.environ, **(env or {})}, start_new_session=True)
    out.close()
    server = ServerProcess(proc, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"wework {' '.join(args)} exited {proc.returncode}:\n"
                               f"{server.log_text()[-3000:]}")
        try:
            if httpx.get(server.base_url + ready_path, timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.stop()
    raise TimeoutError(f"wework {' '.join(args)} not ready after {timeout:.0f} s:\n"
                       f"{server.log_text()[-3000:]}")

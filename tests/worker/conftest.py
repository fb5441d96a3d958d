"""Fixtures of the worker tests: the service tests' tenants and messaging helpers, a
worker in this process or as a subprocess (``wework worker``), a local HTTP receiver for
tenant webhooks, and polling with a deadline instead of sleeps."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from wework.config import Settings

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS / "services"))  # messaging_helpers
sys.path.insert(0, str(TESTS))  # ports

_spec = importlib.util.spec_from_file_location("service_fixtures",
                                               TESTS / "services" / "conftest.py")
_services = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _services  # dataclasses look their module up there
_spec.loader.exec_module(_services)
super_ctx = _services.super_ctx
make_tenant = _services.make_tenant
world = _services.world
tenant_ctx = _services.tenant_ctx
TenantWorld = _services.TenantWorld


from worker_helpers import fast, running_worker, wait_for, wework_command  # noqa: E402,F401


@dataclass
class WorkerProcess:
    proc: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> float:
        """Send ``sig``; return the seconds until the process was gone."""
        started = time.monotonic()
        self.proc.send_signal(sig)
        self.proc.wait(timeout)
        return time.monotonic() - started


@pytest.fixture
def worker_process(settings: Settings, tmp_path: Path):
    """``worker_process(WEWORK_X="1", ...)`` starts ``wework worker`` with this session's
    database and those settings; every one started is killed at the end if still up."""
    started: list[WorkerProcess] = []

    def start(**env: str) -> WorkerProcess:
        log = tmp_path / f"worker-{len(started)}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [*wework_command(), "worker"],
                env={**os.environ, "WEWORK_WORKER_IDLE_SECONDS": "0.1", **env},
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        started.append(WorkerProcess(proc, log))
        return started[-1]

    yield start
    for w in started:
        if w.proc.poll() is None:
            w.proc.kill()
            w.proc.wait(10)


# ---------------------------------------------------------------- webhook receiver


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A local HTTP endpoint: answers each POST with the next status of ``answers``
    (then 200) and records what it got."""

    url: str
    answers: list[int] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            with state.lock:
                state.requests.append(Received(dict(self.headers.items()), body))
                code = state.answers.pop(0) if state.answers else 200
            self.send_response(code)
            self.send_header("content-type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok" if code < 300 else b"receiver says no")

        def log_message(self, *args):  # keep the test output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state = Receiver(f"http://127.0.0.1:{server.server_address[1]}/hooks/wework?token=t0k3n")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()

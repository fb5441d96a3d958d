"""Fixtures of the alert tests: the service tests' tenants, a local HTTP receiver playing
the operators' alert webhook (it checks every signature), and settings that post to it."""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from wework.config import Settings
from wework.security.webhooks import check_secret, new_secret, verify

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS / "services"))  # messaging_helpers
sys.path.insert(0, str(TESTS))  # ports, stacks

_spec = importlib.util.spec_from_file_location("alert_service_fixtures",
                                               TESTS / "services" / "conftest.py")
_services = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _services  # dataclasses look their module up there
_spec.loader.exec_module(_services)
super_ctx = _services.super_ctx
make_tenant = _services.make_tenant


@dataclass
class AlertReceiver:
    """The operators' endpoint: records each verified notice body (JSON), refuses any
    request whose signature does not verify."""

    url: str
    secret: str
    notices: list[dict] = field(default_factory=list)
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def of(self, rule: str, subject: str | None = None) -> list[tuple[str, int]]:
        """(type, repeat) of every notice received for ``rule`` (and ``subject``), in
        order."""
        with self.lock:
            return [(n["type"], n["data"]["repeat"]) for n in self.notices
                    if n["data"]["rule"] == rule
                    and (subject is None or n["data"]["subject"] == subject)]


@pytest.fixture
def alert_receiver() -> Iterator[AlertReceiver]:
    secret = new_secret()
    signer = check_secret(secret)
    state: AlertReceiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
            try:
                verify(body, dict(self.headers.items()), [signer])
            except Exception:
                with state.lock:
                    state.refused += 1
                self.send_response(401)
                self.end_headers()
                return
            with state.lock:
                state.notices.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state = AlertReceiver(f"http://127.0.0.1:{server.server_address[1]}/alerts?token=s3cr3t",
                          secret)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def alerting(settings: Settings, alert_receiver: AlertReceiver) -> Settings:
    """The session's settings, posting alert notices to the receiver."""
    return settings.model_copy(update={"alert_webhook_url": alert_receiver.url,
                                       "alert_webhook_secret": alert_receiver.secret})

"""`wework api` when a database fails (the PRIVATE stack): /readyz answers 503 with the
reason while the replica lags or the primary is down, and 200 again once they are back;
a signed callback meanwhile gets 503 (stored nothing, the gateway retries) — never a
stack trace or the secret in the log."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
from ports import free_port
from servers import WEWORK, start_server
from test_failures import replica_sql, server_pid, wait_gone

from wework.gateway.base import NotifyType, make_event
from wework.security import webhooks


def poll(client: httpx.Client, path: str, status: int, timeout: float = 60) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(path)
        if response.status_code == status:
            return response
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} still {response.status_code}: {response.text}")
        time.sleep(0.2)


def test_readyz_and_intake_follow_the_databases(stack, ops_env, tmp_path: Path):
    env = {**ops_env, "WEWORK_REPLICA_MAX_LAG_SECONDS": "2",
           "WEWORK_API_SECRET_CACHE_SECONDS": "0"}
    secret_file = tmp_path / "gw.secret"
    subprocess.run([str(WEWORK), "gateway", "secrets", "create", "gw-ready", "--output-file",
                    str(secret_file)], env={**os.environ, **env}, check=True,
                   capture_output=True)
    secret = secret_file.read_text().strip()
    port = free_port()
    api = start_server(["api", "--port", str(port), "--workers", "1"], port,
                       tmp_path / "api.log", env=env)
    body = make_event("guid-ready", NotifyType.ACCOUNT_HEARTBEAT, {})
    try:
        with httpx.Client(base_url=api.base_url, timeout=30) as client:
            assert poll(client, "/readyz", 200).json() == {"ready": True}

            replica_sql(stack, "STOP SLAVE SQL_THREAD")
            try:
                lagging = poll(client, "/readyz", 503).json()
            finally:
                replica_sql(stack, "START SLAVE SQL_THREAD")
            assert lagging["ready"] is False
            assert any("lags" in r and "more than 2 s" in r for r in lagging["reasons"])
            poll(client, "/readyz", 200)

            # A replica that hangs (stopped, its sockets open): the probe's own I/O timeout
            # answers 503 in seconds, instead of holding the caller until its own timeout.
            replica = server_pid(stack, "replica")
            os.kill(replica, signal.SIGSTOP)
            try:
                asked = time.monotonic()
                hung = client.get("/readyz")
                took = time.monotonic() - asked
            finally:
                os.kill(replica, signal.SIGCONT)
            assert hung.status_code == 503 and took < 20, (hung.status_code, took)
            assert any("lag unknown" in r for r in hung.json()["reasons"]), hung.json()
            poll(client, "/readyz", 200)

            pid = server_pid(stack, "primary")
            os.kill(pid, signal.SIGKILL)
            wait_gone(pid)
            try:
                down = client.get("/readyz")
                assert down.status_code == 503
                assert "primary (shard 0) unreachable: MySQL error 2003" in down.json()["reasons"]
                refused = client.post("/v1/callbacks", content=body,
                                      headers=webhooks.sign(secret, body))
                assert refused.status_code == 503 and refused.headers["retry-after"] == "5"
                assert refused.json()["error"]["reason"] == "storage unavailable; retry later"
            finally:
                stack.up()
            poll(client, "/readyz", 200)
            accepted = client.post("/v1/callbacks", content=body,
                                   headers=webhooks.sign(secret, body))
            assert accepted.status_code == 200 and accepted.json()["stored"] == 1
    finally:
        assert api.stop()
    log = api.log_text()
    assert "Traceback" not in log and secret not in log
    assert "callbacks not stored: the primary is unavailable" in log

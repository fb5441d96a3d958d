"""Helpers of the HTTP tests: start `wework api` / `wework gateway-sim serve` as server
processes, post a body signed the Standard Webhooks way, count stored events, poll."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
from ports import free_port
from servers import ServerProcess, start_server
from sqlalchemy import func, select
from waiting import wait_for  # noqa: F401  (re-exported to the tests)

from wework.models import CallbackEvent
from wework.security import webhooks
from wework.services.uow import shard_transaction

MAX_BODY = 65_536  # the test API's WEWORK_API_MAX_BODY_BYTES
API_ENV = {"WEWORK_API_MAX_BODY_BYTES": str(MAX_BODY),
           # a revoked or expired secret stops verifying within a second
           "WEWORK_API_SECRET_CACHE_SECONDS": "1"}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def start_api(log_dir: Path, port: int | None = None, workers: int = 2,
              env: dict[str, str] | None = None) -> ServerProcess:
    port = port or free_port()
    return start_server(["api", "--port", str(port), "--workers", str(workers),
                         "--no-access-log"], port, log_dir / f"api-{port}.log",
                        env={**API_ENV, **(env or {})})


def start_sim(log_dir: Path, callback_url: str | None, secret: str | None,
              *extra: str) -> ServerProcess:
    port = free_port()
    args = ["gateway-sim", "serve", "--port", str(port)]
    env = {}
    if callback_url:
        args += ["--callback-url", callback_url]
        env["WEWORK_GATEWAY_SIM_SECRET"] = secret or ""
    return start_server([*args, *extra], port, log_dir / f"sim-{port}.log", env=env)


def post_signed(client: httpx.Client, body: str | bytes, secret: str, *,
                webhook_id: str | None = None, at: float | None = None,
                headers: dict[str, str] | None = None) -> httpx.Response:
    text = body if isinstance(body, str) else body.decode("utf-8")
    signed = webhooks.sign(secret, text, webhook_id, at)
    raw = body.encode("utf-8") if isinstance(body, str) else body
    return client.post("/v1/callbacks", content=raw,
                       headers={"content-type": "application/json", **signed, **(headers or {})})


def stored_events() -> int:
    with shard_transaction(0) as s:
        return s.scalar(select(func.count()).select_from(CallbackEvent))



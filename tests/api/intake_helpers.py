"""Helpers of the HTTP tests: start `wework api` / `wework gateway-sim serve` as server
processes, post a body signed the Standard Webhooks way, count stored events, poll."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
from ports import free_port
from servers import ServerProcess, start_server
from sqlalchemy import func, select
from waiting import wait_for  # noqa: F401  (re-exported to the tests)

from wework.config import get_settings
from wework.models import CallbackEvent
from wework.security import webhooks
from wework.services import gateway_secrets
from wework.services.uow import shard_transaction

MAX_BODY = 65_536  # the test API's WEWORK_API_MAX_BODY_BYTES
API_ENV = {"WEWORK_API_MAX_BODY_BYTES": str(MAX_BODY),
           # a revoked or expired secret stops verifying within a second
           "WEWORK_API_SECRET_CACHE_SECONDS": "1"}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass(frozen=True)
class Gateway:
    name: str
    secret: str
    secret_id: str


_gateways: dict[str, Gateway] = {}  # database name -> this session's gateway


def current_gateway() -> Gateway:
    """This session's gateway, its secret still valid: issued anew when the secret is gone
    (the databases of a worker are shared, and other areas' tests empty them). A new
    secret is returned only once the test API's secret cache has expired (1 s), so that
    every API process verifies it and none answers 401 from the secrets it loaded before."""
    database = get_settings().db_name
    gateway = _gateways.get(database)
    valid = {info.id for info in gateway_secrets.list_secrets(None, include_ended=False)}
    if gateway is None or gateway.secret_id not in valid:
        name = unique("gw")
        issued = gateway_secrets.create(None, name)
        gateway = _gateways[database] = Gateway(name, issued.secret, issued.info.id)
        time.sleep(float(API_ENV["WEWORK_API_SECRET_CACHE_SECONDS"]))
    return gateway


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



"""``wework gateway-sim serve``: the WeCom gateway SIMULATOR as an HTTP server.

It wraps the simulator core (:class:`wework.gateway.simulator.WeComGatewaySimulator`,
which honours idempotency keys and counts deliveries per message id) and speaks to the
platform over the network, as a real instance gateway would:

- ``POST /v1/messages`` — a send (the API of :mod:`wework.gateway.http`), keyed by its
  ``Idempotency-Key`` (= the message id). 200 ``{"wework_msg_id"}``; a retryable refusal
  (instance offline, a simulated failure) 503 with ``Retry-After``; a bad request 422.
- ``POST /v1/instances/{guid}/login`` — the QR login flow of one instance.
- With a token configured (``WEWORK_GATEWAY_TOKEN``), both answer 401 unless the request
  carries ``Authorization: Bearer <token>`` (what :class:`~wework.gateway.http.HttpGateway`
  sends).
- Callbacks: a background task drains the core's events (receipts, status changes,
  heartbeats, conversations) and posts them as JSON arrays to
  ``{callback_url}/v1/callbacks``, signed with the gateway secret (Standard Webhooks).
  A delivery that is not accepted (API down, 5xx, 401 …) is retried with backoff under
  the same ``webhook-id`` until it is; events keep their order.
- Continuous activity (``activity_seconds``): every so often the core ticks — heartbeats of
  online instances, random disconnects and reconnects.
- For tests and benchmarks: ``GET /_sim/stats`` (counters), ``GET /_sim/deliveries``
  (deliveries per message id) and ``POST /_sim/faults`` (the next sends answer an HTTP
  status, or are delayed before they go through: a client that times out then retries).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field

import httpx
from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from wework.gateway.base import SendRequest
from wework.gateway.simulator import WeComGatewaySimulator
from wework.security import webhooks

log = logging.getLogger("wework.gateway_sim")
RETRY_AFTER_SECONDS = 5  # what a refused (retryable) send tells the client
POST_TIMEOUT_SECONDS = 10.0
BACKOFF_MAX_SECONDS = 5.0
STOP_FLUSH_SECONDS = 3.0


@dataclass
class Fault:
    """The next ``count`` sends: answered with ``status`` without sending, or (status
    None) held ``delay_seconds`` and then sent normally."""

    count: int
    status: int | None = None
    delay_seconds: float = 0.0
    code: str = "simulated_fault"
    message: str = "simulated fault"
    retry_after: int | None = None  # seconds, sent as Retry-After with the status


@dataclass
class PosterStats:
    events_posted: int = 0
    deliveries: int = 0  # accepted POSTs
    attempts_failed: int = 0
    last_error: str | None = None


@dataclass
class SimServerConfig:
    callback_url: str | None  # the API's base URL; None: callbacks are counted, not posted
    secret: str | None  # the gateway's signing secret (whsec_…)
    batch_size: int = 200  # events per callback delivery
    flush_seconds: float = 0.05  # how often new events are looked for
    activity_seconds: float | None = None  # tick the core this often (None: never)
    token: str | None = None  # the API token sends must carry (None: no check)


class SendBody(BaseModel):
    message_id: str = Field(min_length=1, max_length=100)
    guid: str = Field(min_length=1, max_length=100)
    conversation_id: str = Field(min_length=1, max_length=100)
    message_type: str = Field(min_length=1, max_length=20)
    content: dict


class FaultBody(BaseModel):
    count: int = Field(default=1, ge=1, le=10_000)
    status: int | None = Field(default=None, ge=400, le=599)
    delay_seconds: float = Field(default=0.0, ge=0, le=120)
    code: str = "simulated_fault"
    message: str = "simulated fault"
    retry_after: int | None = Field(default=None, ge=0)


@dataclass
class SimState:
    sim: WeComGatewaySimulator
    config: SimServerConfig
    faults: deque[Fault] = field(default_factory=deque)
    poster: PosterStats = field(default_factory=PosterStats)
    pending: deque[str] = field(default_factory=deque)  # events drained, not yet accepted
    lock: threading.Lock = field(default_factory=threading.Lock)
    faults_served: int = 0

    def next_fault(self) -> Fault | None:
        with self.lock:
            if not self.faults:
                return None
            self.faults_served += 1
            fault = self.faults[0]
            fault.count -= 1
            if fault.count <= 0:
                self.faults.popleft()
            return fault


def _error(status: int, code: str, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status,
                        headers=headers or None)


def create_app(sim: WeComGatewaySimulator, config: SimServerConfig) -> FastAPI:
    state = SimState(sim, config)
    signer = webhooks.check_secret(config.secret) if config.secret else None
    if config.callback_url and signer is None:
        raise ValueError("a callback URL needs the gateway secret to sign with")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        stop = asyncio.Event()
        tasks = [asyncio.create_task(_post_callbacks(state, signer, stop))]
        if config.activity_seconds:
            tasks.append(asyncio.create_task(_activity(state, config.activity_seconds, stop)))
        yield
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)

    app = FastAPI(title="WeCom gateway SIMULATOR", lifespan=lifespan, docs_url=None,
                  redoc_url=None, openapi_url=None)
    app.state.sim = state

    # The send path is async: with no simulated latency a send is an in-memory step, and a
    # sync endpoint (or dependency) would cost a thread-pool hop each per request.
    async def authorized(authorization: str | None = Header(default=None)) -> None:
        if config.token is None:
            return
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
                given.strip().encode(), config.token.encode()):
            raise HTTPException(401, "missing or wrong bearer token",
                                headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return _error(exc.status_code, "unauthorized" if exc.status_code == 401 else "error",
                      str(exc.detail), **(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return _error(422, "invalid_request", f"{where}: {first.get('msg', 'invalid')}")

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok"}

    @app.post("/v1/messages", dependencies=[Depends(authorized)])
    async def send(body: SendBody,
                   idempotency_key: str | None = Header(default=None)) -> JSONResponse:
        if idempotency_key != body.message_id:
            return _error(422, "idempotency_key",
                          "Idempotency-Key must be sent and equal message_id")
        fault = state.next_fault()
        if fault is not None and fault.status is not None:
            extra = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
            return _error(fault.status, fault.code, fault.message, **extra)
        if fault is not None:
            await asyncio.sleep(fault.delay_seconds)
        request = SendRequest(
            message_id=body.message_id, tenant_id="", account_id="", guid=body.guid,
            conversation_id=body.conversation_id, message_type=body.message_type,
            content=body.content)
        # A simulated latency sleeps inside the core: on a thread, not on the event loop.
        result = (await run_in_threadpool(sim.send, request) if sim.latency_ms[1] > 0
                  else sim.send(request))
        if result.ok:
            return JSONResponse({"wework_msg_id": result.wework_msg_id})
        if result.retryable:
            return _error(503, result.error_code or "unavailable", result.error_message or "",
                          **{"Retry-After": str(RETRY_AFTER_SECONDS)})
        return _error(422, result.error_code or "refused", result.error_message or "")

    @app.post("/v1/instances/{guid}/login", dependencies=[Depends(authorized)])
    def login(guid: str) -> dict:
        sim.login(guid)
        return {"guid": guid, "status": sim.status_of(guid)}

    @app.get("/_sim/stats")
    def stats() -> dict:
        p = state.poster
        return {**sim.stats(), "faults_served": state.faults_served,
                "callbacks_posted": p.events_posted,
                "callback_deliveries": p.deliveries,
                "callback_attempts_failed": p.attempts_failed,
                "callbacks_pending": len(state.pending), "last_callback_error": p.last_error}

    @app.get("/_sim/deliveries")
    def deliveries() -> dict:
        return sim.delivery_counts()

    @app.post("/_sim/faults")
    def add_fault(body: FaultBody) -> dict:
        with state.lock:
            state.faults.append(Fault(**body.model_dump()))
            return {"queued": sum(f.count for f in state.faults)}

    @app.delete("/_sim/faults")
    def clear_faults() -> dict:
        with state.lock:
            state.faults.clear()
        return {"queued": 0}

    return app


async def _activity(state: SimState, every: float, stop: asyncio.Event) -> None:
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
        if not stop.is_set():
            state.sim.tick()


async def _post_callbacks(state: SimState, signer, stop: asyncio.Event) -> None:
    """Drain the core's events and deliver them in order, each delivery retried (same
    webhook-id, signed afresh) until accepted."""
    config = state.config
    url = f"{config.callback_url.rstrip('/')}/v1/callbacks" if config.callback_url else None
    async with httpx.AsyncClient(timeout=POST_TIMEOUT_SECONDS) as client:
        while True:
            state.pending.extend(state.sim.drain_events())
            if not state.pending:
                if stop.is_set():
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), config.flush_seconds)
                continue
            n = min(len(state.pending), config.batch_size)
            batch = [state.pending[i] for i in range(n)]
            if url is None:  # nowhere to post: count and drop
                _accepted(state, n)
                continue
            deadline = time.monotonic() + STOP_FLUSH_SECONDS if stop.is_set() else None
            if not await _deliver(client, url, signer, batch, state, stop, deadline):
                return  # stopping, and the API did not take the rest in time
            _accepted(state, n)


def _accepted(state: SimState, n: int) -> None:
    for _ in range(n):
        state.pending.popleft()
    state.poster.events_posted += n
    state.poster.deliveries += 1


async def _deliver(client: httpx.AsyncClient, url: str, signer, batch: list[str],
                   state: SimState, stop: asyncio.Event, deadline: float | None) -> bool:
    body = "[" + ",".join(batch) + "]"
    webhook_id = f"msg_{uuid.uuid4().hex}"
    backoff = 0.1
    while True:
        headers = {"content-type": "application/json", "user-agent": "wecom-gateway-simulator",
                   **webhooks.sign(signer, body, webhook_id)}
        try:
            response = await client.post(url, content=body.encode("utf-8"), headers=headers)
            if 200 <= response.status_code < 300:
                return True
            error = f"HTTP {response.status_code}: {response.text[:200]}"
        except httpx.HTTPError as exc:
            error = type(exc).__name__
        state.poster.attempts_failed += 1
        if state.poster.last_error != error:
            log.warning("callback delivery %s not accepted (%s); retrying", webhook_id, error)
        state.poster.last_error = error
        if stop.is_set():
            deadline = deadline or time.monotonic() + STOP_FLUSH_SECONDS
            if time.monotonic() >= deadline:
                return False
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, BACKOFF_MAX_SECONDS)


def register_platform_accounts(sim: WeComGatewaySimulator) -> int:
    """Demo shortcut (a real gateway knows its instances; this simulator learns them from
    the platform's database): register every account with a guid of an active tenant,
    online ones as online, and run the QR login of created / offline / error ones (their
    status callbacks then bring them online on the platform). Returns how many."""
    from sqlalchemy import select

    from wework.db.sharding import all_shards
    from wework.enums import AccountStatus, TenantStatus
    from wework.models import Tenant, WeworkAccount
    from wework.services.uow import shard_transaction

    relogin = {AccountStatus.CREATED, AccountStatus.OFFLINE, AccountStatus.ERROR}
    n = 0
    for shard in all_shards():
        with shard_transaction(shard) as s:
            rows = s.execute(
                select(WeworkAccount.guid, WeworkAccount.status)
                .join(Tenant, Tenant.id == WeworkAccount.tenant_id)
                .where(WeworkAccount.guid.is_not(None), Tenant.status == TenantStatus.ACTIVE)
            ).all()
        for guid, status in rows:
            sim.register(guid, status.value)
            if status in relogin:
                sim.login(guid)
            n += 1
    return n

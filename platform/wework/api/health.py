"""``GET /healthz``: the process answers. ``GET /readyz``: it can do its work — every
shard's primary answers and, where a separate replica is configured, its replication lag
(the heartbeat lag of :mod:`wework.db.replication`) is within
``WEWORK_REPLICA_MAX_LAG_SECONDS``. Otherwise 503 with the reasons (error codes only:
server messages may name users and hosts)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from wework.config import Settings
from wework.db.engines import Role, error_code, get_engine, server_url
from wework.db.routing import replica_lag_seconds
from wework.db.sharding import all_shards

# Each probe read (primary and replica lag) gives up after this: a hung server makes the
# probe answer 503 in seconds instead of holding the load balancer's check.
PROBE_IO_TIMEOUT_SECONDS = 3


def readiness_problems(settings: Settings) -> list[str]:
    problems = []
    for shard in all_shards(settings.shard_count):
        try:
            engine = get_engine(Role.PRIMARY, shard, settings, io_timeout=PROBE_IO_TIMEOUT_SECONDS)
            with engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        except Exception as exc:
            problems.append(f"primary (shard {shard}) unreachable: MySQL error "
                            f"{error_code(exc) or type(exc).__name__}")
    if _separate_replica(settings):
        bound = settings.replica_max_lag_seconds
        for shard in all_shards(settings.shard_count):
            lag, _ = replica_lag_seconds(shard, settings,
                                         io_timeout=PROBE_IO_TIMEOUT_SECONDS)
            if lag is None:
                problems.append(f"replica (shard {shard}) lag unknown: replica unreachable "
                                "or no heartbeat")
            elif lag > bound:
                problems.append(f"replica (shard {shard}) lags {lag:.1f} s, more than "
                                f"{bound:g} s")
    return problems


def _separate_replica(settings: Settings) -> bool:
    primary, replica = server_url(Role.PRIMARY, settings), server_url(Role.REPLICA, settings)
    return (primary.host, primary.port) != (replica.host, replica.port)


def router(settings: Settings) -> APIRouter:
    api = APIRouter()

    @api.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    @api.get("/readyz")
    async def readyz() -> JSONResponse:
        problems = await run_in_threadpool(readiness_problems, settings)
        if problems:
            return JSONResponse({"ready": False, "reasons": problems}, status_code=503)
        return JSONResponse({"ready": True})

    return api

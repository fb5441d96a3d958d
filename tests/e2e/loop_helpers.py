"""The live loop as separate processes on free ports, for the end-to-end tests (a module of
its own name: every test directory has a ``conftest``): ``wework api``, ``wework
gateway-sim serve`` posting its signed callbacks to it (checking a bearer token on sends)
and ``wework worker`` processes sending to the simulator — all on this session's
databases (the ``settings`` fixture put them in the environment the processes inherit).
Plus a tenant with an online account, batches created through the services, and what the
database and the simulator say about them."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import platform_admins
from ports import free_port
from servers import WEWORK, ServerProcess, start_server
from sqlalchemy import func, select
from waiting import wait_for  # noqa: F401  (re-exported to the tests)

from wework.enums import MessageStatus
from wework.models import BatchSendTask, Message
from wework.services import accounts, batches, tenants, users
from wework.services.context import ServiceContext, system_context
from wework.services.uow import transaction

PASSWORD = "e2e-test-password-1"
ADMIN_USERNAME = "e2e-root"
FINAL = {"delivered", "failed", "cancelled"}
# Quick loops, short claims: a killed worker's messages are recovered within seconds.
WORKER_ENV = {
    "WEWORK_WORKER_IDLE_SECONDS": "0.1",
    "WEWORK_WORKER_CLAIM_SECONDS": "5",
    "WEWORK_WORKER_RECOVERY_EVERY": "1",
    "WEWORK_WORKER_BATCHES_EVERY": "1",
    "WEWORK_WORKER_WEBHOOKS_EVERY": "1",
    "WEWORK_GATEWAY_TIMEOUT_SECONDS": "3",
    "WEWORK_GATEWAY_ATTEMPTS": "1",  # a refused send goes back to the dispatcher's backoff
    # Callback events the API stored but could not process (primary busy) are picked up
    # by a worker after this (default 300 s).
    "WEWORK_CALLBACK_STRANDED_SECONDS": "10",
    # A test account gets heartbeats only once the simulator knows its instance (its first
    # send); on a saturated machine a worker can take a minute to start. The sweep itself
    # is tested in tests/worker.
    "WEWORK_HEARTBEAT_TIMEOUT_SECONDS": "3600",
}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"




@dataclass
class Loop:
    """API + gateway simulator running; workers started on demand (stopped at the end)."""

    api: ServerProcess
    sim: ServerProcess
    token: str  # the gateway's API token (WEWORK_GATEWAY_TOKEN)
    logs: Path
    workers: list[ServerProcess] = field(default_factory=list)

    def worker_env(self, **extra: str) -> dict[str, str]:
        return {**WORKER_ENV, "WEWORK_GATEWAY_URL": self.sim.base_url,
                "WEWORK_GATEWAY_TOKEN": self.token, **extra}

    def live_workers(self) -> list[ServerProcess]:
        return [w for w in self.workers if w.proc.poll() is None]

    def start_worker(self, **env: str) -> ServerProcess:
        """``wework worker`` as its own process group; returns once it runs (no port: its
        readiness is the simulator seeing its sends, which the caller waits for)."""
        log = self.logs / f"worker-{len(self.workers)}-{uuid.uuid4().hex[:6]}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen([str(WEWORK), "worker"], stdout=out,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env={**os.environ, **self.worker_env(**env)},
                                    start_new_session=True)
        self.workers.append(ServerProcess(proc, "", log))
        return self.workers[-1]

    def sim_control(self, method: str, path: str, **kwargs) -> httpx.Response:
        response = httpx.request(method, f"{self.sim.base_url}{path}", timeout=30, **kwargs)
        response.raise_for_status()
        return response

    def sim_stats(self) -> dict:
        return httpx.get(f"{self.sim.base_url}/_sim/stats", timeout=10).json()

    def deliveries(self) -> dict[str, int]:
        return httpx.get(f"{self.sim.base_url}/_sim/deliveries", timeout=30).json()

    def stop(self) -> list[str]:
        """Stop everything; the logs of whatever did not end cleanly."""
        unclean = []
        for server in [*self.workers, self.sim, self.api]:
            if server.proc.poll() is None and not server.stop():
                unclean.append(server.log_text()[-3000:])
        return unclean


def start_loop(logs: Path, secret: str, token: str, api_workers: int = 1,
               sim_args: tuple[str, ...] = ()) -> Loop:
    api_port = free_port()
    api = start_server(["api", "--port", str(api_port), "--workers", str(api_workers),
                        "--no-access-log"], api_port, logs / f"api-{api_port}.log")
    sim_port = free_port()
    try:
        sim = start_server(["gateway-sim", "serve", "--port", str(sim_port), "--callback-url",
                            api.base_url, *sim_args], sim_port, logs / f"sim-{sim_port}.log",
                           env={"WEWORK_GATEWAY_SIM_SECRET": secret,
                                "WEWORK_GATEWAY_TOKEN": token})
    except Exception:
        api.stop()
        raise
    return Loop(api, sim, token, logs)


# ---------------------------------------------------------------- the tenant side


@dataclass
class Sender:
    """A tenant with an online account (its guid known to no gateway yet: the simulator
    registers an instance on its first send) and an operator who can sign in."""

    ctx: ServiceContext
    account_id: str
    account_name: str
    operator_username: str


def platform_admin() -> ServiceContext:
    """The end-to-end tests' platform admin as it is now (``platform_admins``): the other
    areas' tests in the same worker may have emptied the shared databases since the last
    end-to-end test."""
    return platform_admins.platform_admin(ADMIN_USERNAME, PASSWORD)


def make_sender(super_ctx: ServiceContext) -> Sender:
    code = unique("e2e")
    tenant = tenants.create_tenant(super_ctx, tenant_code=code, tenant_name=code)
    as_super = super_ctx.for_tenant(tenant.id)
    name = unique("operator")
    users.create_user(as_super, username=name, email=f"{name}@example.com",
                      password=PASSWORD, role_codes=["operator"])
    account = accounts.create_account(as_super, account_name=unique("sender"),
                                      guid=f"guid-{uuid.uuid4().hex}")
    for status in ("logging_in", "waiting_scan", "waiting_confirm", "online"):
        accounts.change_status(as_super, account.id, status)
    return Sender(system_context(tenant.id), account.id, account.account_name, name)


def create_batch(sender: Sender, n: int, send_strategy: dict | None = None) -> str:
    """A batch send of ``n`` text messages created through the services; its id."""
    task = batches.create_batch(
        sender.ctx, task_name=unique("batch"), account_id=sender.account_id,
        target_type="manual", target_config={"conversation_ids": [f"conv-{i}" for i in range(n)]},
        message_type="text", content={"text": "hello from the end-to-end test"},
        send_strategy=send_strategy)
    return task.id


def retried(sender: Sender, batch_id: str) -> int:
    """The batch's messages sent more than once (a claim recovered after a kill)."""
    with transaction(sender.ctx.tenant_id) as s:
        return s.scalar(select(func.count()).select_from(Message).where(
            Message.batch_id == batch_id, Message.retry_count > 0))


@dataclass
class BatchState:
    status: str
    stored: dict  # the batch's counters as stored
    recomputed: dict  # the counters recomputed from its messages
    messages: dict[str, str]  # message id -> status


def batch_state(sender: Sender, batch_id: str) -> BatchState:
    with transaction(sender.ctx.tenant_id) as s:
        task = s.scalar(select(BatchSendTask).where(
            BatchSendTask.id == batch_id, BatchSendTask.tenant_id == sender.ctx.tenant_id))
        rows = s.execute(select(Message.id, Message.status)
                         .where(Message.batch_id == batch_id)).all()
        return BatchState(str(task.status), batches.stored_counts(task),
                          batches.counts_from_messages(s, batch_id),
                          {mid: str(status) for mid, status in rows})


def in_flight(sender: Sender, batch_id: str) -> int:
    """The batch's messages claimed by a worker (``sending``) now."""
    with transaction(sender.ctx.tenant_id) as s:
        return s.scalar(select(func.count()).select_from(Message).where(
            Message.batch_id == batch_id, Message.status == MessageStatus.SENDING))


def completed(sender: Sender, batch_id: str) -> BatchState | None:
    """The batch once it is ``completed`` (every message handed to the gateway or failed)."""
    state = batch_state(sender, batch_id)
    return state if state.status == "completed" else None


def settled(sender: Sender, batch_id: str, timeout: float = 120.0) -> BatchState:
    """Wait until the batch is completed and every message has its final outcome (its
    receipt came back); fail naming the statuses it is stuck at."""
    deadline = time.monotonic() + timeout
    while True:
        state = batch_state(sender, batch_id)
        if state.status == "completed" and set(state.messages.values()) <= FINAL:
            return state
        if time.monotonic() > deadline:
            raise AssertionError(f"batch not settled after {timeout:.0f} s: {state.status}, "
                                 f"messages {dict(Counter(state.messages.values()))}")
        time.sleep(0.2)

"""Fixtures of the end-to-end tests: the live loop (API + gateway simulator as server
processes; workers started by each test) and tenants whose batches it sends. Helpers live
in ``loop_helpers``."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from loop_helpers import Loop, Sender, make_sender, platform_admin, start_loop, unique

from wework.config import Settings
from wework.errors import ServiceError
from wework.services import gateway_secrets, tenants


@pytest.fixture(scope="session")
def e2e_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e-logs")


@pytest.fixture(scope="module")
def loop(settings: Settings, e2e_logs: Path) -> Iterator[Loop]:
    """``wework api`` and ``wework gateway-sim serve`` (sends need a bearer token; every
    send takes up to 20 ms; every 2 s the online instances send heartbeats, so the
    worker's heartbeat sweep never takes the test's accounts offline); the test starts its
    workers with ``loop.start_worker()``."""
    gateway = unique("gw-e2e")
    secret = gateway_secrets.create(None, gateway).secret
    running = start_loop(e2e_logs, secret, secrets.token_urlsafe(24),
                         sim_args=("--latency-ms", "20", "--activity-every", "2"))
    yield running
    unclean = running.stop()
    for info in gateway_secrets.list_secrets(None, include_ended=False):
        if info.gateway_name == gateway:
            gateway_secrets.revoke(None, info.id)
    assert not unclean, unclean


@pytest.fixture
def make_sender_tenant(settings: Settings) -> Iterator[Callable[[], Sender]]:
    """``make_sender_tenant()`` → a tenant with an online account, made by the platform
    admin as it is at that moment (``platform_admin``: the databases may have been emptied
    since the last end-to-end test); suspended when the test ends (the database is shared:
    a later test's workers must not dispatch its leftovers)."""
    made: list[Sender] = []

    def make() -> Sender:
        made.append(make_sender(platform_admin()))
        return made[-1]

    yield make
    if made:
        super_ctx = platform_admin()
        for sender in made:
            with contextlib.suppress(ServiceError):
                tenants.suspend_tenant(super_ctx, sender.ctx.tenant_id)

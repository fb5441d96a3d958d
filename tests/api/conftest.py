"""Fixtures of the HTTP tests: ``wework api`` and ``wework gateway-sim serve`` as real
server processes on free ports, against this session's databases (the settings fixture
put them in the environment the processes inherit), and a gateway secret to sign with.

Helpers live in ``intake_helpers``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from intake_helpers import start_api, unique
from servers import ServerProcess

from wework.config import Settings
from wework.services import auth, gateway_secrets, tenants
from wework.services.context import ServiceContext, system_context


@dataclass
class Gateway:
    name: str
    secret: str


@pytest.fixture(scope="session")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("server-logs")


@pytest.fixture(scope="session")
def gateway(settings: Settings) -> Gateway:
    """A gateway with a valid secret."""
    name = unique("gw")
    return Gateway(name, gateway_secrets.create(None, name).secret)


@pytest.fixture(scope="session")
def api(settings: Settings, logs: Path) -> Iterator[ServerProcess]:
    server = start_api(logs)
    yield server
    assert server.stop(), server.log_text()[-3000:]


@pytest.fixture(scope="session")
def client(api: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.base_url, timeout=30) as c:
        yield c


@pytest.fixture(scope="session")
def super_ctx(settings: Settings) -> ServiceContext:
    _, admin = tenants.bootstrap_platform("api-root", "api-root@example.com",
                                          "api-test-password-1")
    return auth.context_for(auth.actor_for(admin.id, admin.tenant_id))


@pytest.fixture
def tenant_ctx(super_ctx: ServiceContext) -> ServiceContext:
    """The system acting in a fresh tenant."""
    code = unique("t")
    tenant = tenants.create_tenant(super_ctx, tenant_code=code, tenant_name=code)
    return system_context(tenant.id)

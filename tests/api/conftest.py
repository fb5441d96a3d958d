"""Fixtures of the HTTP tests: ``wework api`` and ``wework gateway-sim serve`` as real
server processes on free ports, against this session's databases (the settings fixture
put them in the environment the processes inherit), and a gateway secret to sign with.

The rows the fixtures need (the platform admin, the gateway secret) are checked whenever a
test or module asks for them: other areas' tests in the same worker may have emptied the
databases since the last HTTP test. Helpers live in ``intake_helpers``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from intake_helpers import Gateway, current_gateway, start_api, unique
from platform_admins import platform_admin
from servers import ServerProcess

from wework.config import Settings
from wework.services import tenants
from wework.services.context import ServiceContext, system_context


@pytest.fixture(scope="session")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("server-logs")


@pytest.fixture(scope="module")
def gateway(settings: Settings) -> Gateway:
    """A gateway with a valid secret (``current_gateway``). Module-scoped for the module
    fixtures that hand it to a server: a module's tests run one after another (pytest
    tears the module's fixtures down when another module's test comes between them)."""
    return current_gateway()


@pytest.fixture(scope="session")
def api(settings: Settings, logs: Path) -> Iterator[ServerProcess]:
    server = start_api(logs)
    yield server
    assert server.stop(), server.log_text()[-3000:]


@pytest.fixture(scope="session")
def client(api: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.base_url, timeout=30) as c:
        yield c


@pytest.fixture
def super_ctx(settings: Settings) -> ServiceContext:
    """The HTTP tests' platform admin, valid at the start of the test."""
    return platform_admin("api-root", "api-test-password-1")


@pytest.fixture
def tenant_ctx(super_ctx: ServiceContext) -> ServiceContext:
    """The system acting in a fresh tenant."""
    code = unique("t")
    tenant = tenants.create_tenant(super_ctx, tenant_code=code, tenant_name=code)
    return system_context(tenant.id)

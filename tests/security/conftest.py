"""Fixtures of the security tests (issue 16): the service fixtures' tenant worlds (one
fresh tenant per ``make_tenant`` call, its admin, a context) shared with tests/services,
loaded the way tests/worker does (conftest modules cannot be imported by name), plus a
second tenant full of objects to attack."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from wework.config import Settings
from wework.services.context import ServiceContext

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS / "services"))  # messaging_helpers

if "service_fixtures" in sys.modules:  # tests/worker loaded it first
    _services = sys.modules["service_fixtures"]
else:
    _spec = importlib.util.spec_from_file_location("service_fixtures",
                                                   TESTS / "services" / "conftest.py")
    _services = importlib.util.module_from_spec(_spec)
    sys.modules[_spec.name] = _services  # dataclasses look their module up there
    _spec.loader.exec_module(_services)
super_ctx = _services.super_ctx
make_tenant = _services.make_tenant
world = _services.world
tenant_ctx = _services.tenant_ctx
password = _services.password
make_unique = _services.make_unique


@pytest.fixture(scope="module")
def module_super_ctx(settings: Settings) -> ServiceContext:
    """The platform super-admin for a module's fixtures: the tests of one module run one
    after another (pytest tears the module's fixtures down when another module's test comes
    between them), so no other area empties the databases while the module holds it."""
    return _services.super_admin()

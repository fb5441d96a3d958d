"""Fixtures shared by the service tests (tenants/users/roles/auth/accounts/keys and
messages/templates/batches/callbacks).

Each test builds its own tenant (unique code), so tests never depend on each other's rows
and need no truncation. The platform tenant and its super-admin are asked for at every use
(``platform_admins``): other areas' tests in the same worker may have emptied the databases
since the last service test.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from platform_admins import platform_admin

from wework.config import Settings
from wework.errors import ServiceError
from wework.models import Tenant, User
from wework.services import auth, tenants, users
from wework.services.context import ServiceContext

PASSWORD = "correct horse battery"
SUPER_USERNAME = "root-admin"


@dataclass
class TenantWorld:
    """A fresh tenant, its admin user and a context acting as that admin."""

    tenant: Tenant
    admin: User
    ctx: ServiceContext
    password: str = PASSWORD

    def user_ctx(self, *role_codes: str, username: str | None = None) -> ServiceContext:
        """A new user of this tenant with the given roles, as a context."""
        return user_context(self.ctx, *role_codes, username=username)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def user_context(ctx: ServiceContext, *role_codes: str,
                 username: str | None = None) -> ServiceContext:
    name = username or unique("user")
    user = users.create_user(ctx, username=name, email=f"{name}@example.com",
                             password=PASSWORD, role_codes=list(role_codes))
    return auth.context_for(auth.actor_for(user.id, user.tenant_id))


@pytest.fixture(scope="session")
def password() -> str:
    """The password of every user the fixtures create."""
    return PASSWORD


@pytest.fixture(scope="session")
def make_unique() -> Callable[[str], str]:
    """``make_unique("acme")`` → ``"acme-<10 hex>"`` (codes, usernames, names)."""
    return unique


def super_admin() -> ServiceContext:
    """The platform super-admin (``platform:admin``), acting on the platform tenant."""
    return platform_admin(SUPER_USERNAME, PASSWORD)


@pytest.fixture
def super_ctx(settings: Settings) -> ServiceContext:
    """The platform super-admin, valid at the start of the test (``super_admin``)."""
    return super_admin()


@pytest.fixture
def make_tenant(settings: Settings) -> Iterator[Callable[..., TenantWorld]]:
    """Factory: ``make_tenant(max_accounts=2, ...)`` → a new TenantWorld, made by the
    platform super-admin as it is at that moment.

    The tenants are suspended when the test ends: the database is shared by the tests of
    one pytest worker, and a later test's dispatch round (which takes the most urgent due
    messages of every active tenant) must not be filled by an earlier test's queue."""
    made: list[str] = []

    def make(**fields) -> TenantWorld:
        super_ctx = super_admin()
        code = fields.pop("tenant_code", unique("t"))
        tenant = tenants.create_tenant(super_ctx, tenant_code=code,
                                       tenant_name=fields.pop("tenant_name", code), **fields)
        as_super = super_ctx.for_tenant(tenant.id)
        admin = users.create_user(as_super, username=unique("admin"),
                                  email=f"{unique('admin')}@example.com",
                                  password=PASSWORD, role_codes=["admin"])
        ctx = auth.context_for(auth.actor_for(admin.id, tenant.id))
        made.append(tenant.id)
        return TenantWorld(tenant, admin, ctx)

    yield make
    if made:
        super_ctx = super_admin()
        for tenant_id in made:
            with contextlib.suppress(ServiceError):  # a test may have suspended or deleted it
                tenants.suspend_tenant(super_ctx, tenant_id)


@pytest.fixture
def world(make_tenant: Callable[..., TenantWorld]) -> TenantWorld:
    return make_tenant()


@pytest.fixture
def tenant_ctx(world: TenantWorld) -> ServiceContext:
    """A context acting as the admin (role ``admin``) of a fresh tenant."""
    return world.ctx

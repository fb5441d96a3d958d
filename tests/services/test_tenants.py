"""Tenants: creation with system roles, validation, visibility, quotas, status changes,
platform bootstrap."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from wework.enums import TenantStatus
from wework.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from wework.models import Role
from wework.services import auth, tenants
from wework.services.permissions import PLATFORM_TENANT_CODE, SYSTEM_ROLES
from wework.services.uow import read_session


def test_create_seeds_the_system_roles(super_ctx, make_unique):
    code = make_unique("acme")
    tenant = tenants.create_tenant(super_ctx, tenant_code=code, tenant_name="Acme",
                                   contact_email="Ops@Acme.example", max_accounts=3)
    with read_session(tenant.id, fresh=True) as s:
        roles = {r.role_code: r for r in s.scalars(select(Role).where(Role.tenant_id == tenant.id))}
    assert set(roles) == set(SYSTEM_ROLES)
    for code_, (_, _, perms) in SYSTEM_ROLES.items():
        assert sorted(roles[code_].permissions) == sorted(perms)
        assert roles[code_].is_system
    got = tenants.get_tenant(super_ctx, tenant.id)
    assert (got.tenant_code, got.max_accounts, got.contact_email) == (code, 3, "ops@acme.example")
    assert got.status == TenantStatus.ACTIVE


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("tenant_code", "Bad Code!"),
        ("tenant_code", ""),
        ("tenant_name", ""),
        ("tenant_name", "x" * 101),
        ("contact_email", "not-an-email"),
        ("contact_phone", "phone?"),
        ("webhook_url", "ftp://example.com/x"),
        ("max_accounts", -1),
        ("max_daily_messages", "many"),
        ("config", ["not", "an", "object"]),
    ],
)
def test_create_refuses_bad_fields_naming_them(super_ctx, make_unique, field, value):
    fields = {"tenant_code": make_unique("t"), "tenant_name": "T", field: value}
    with pytest.raises(ValidationError) as err:
        tenants.create_tenant(super_ctx, **fields)
    assert err.value.field == field


def test_duplicate_code_is_a_conflict(super_ctx, make_unique):
    code = make_unique("dup")
    tenants.create_tenant(super_ctx, tenant_code=code, tenant_name="one")
    with pytest.raises(ConflictError) as err:
        tenants.create_tenant(super_ctx, tenant_code=code, tenant_name="two")
    assert err.value.field == "tenant_code"


def test_only_a_super_admin_creates_tenants(world, make_unique):
    with pytest.raises(PermissionDeniedError):
        tenants.create_tenant(world.ctx, tenant_code=make_unique("x"), tenant_name="x")


def test_other_tenants_look_missing(make_tenant):
    a, b = make_tenant(), make_tenant()
    with pytest.raises(NotFoundError) as cross:
        tenants.get_tenant(a.ctx, b.tenant.id)
    with pytest.raises(NotFoundError) as missing:
        tenants.get_tenant(a.ctx, "00000000-0000-0000-0000-00000000dead")
    assert type(cross.value) is type(missing.value)
    assert str(cross.value).replace(b.tenant.id, "X") == str(missing.value).replace(
        "00000000-0000-0000-0000-00000000dead", "X")
    with pytest.raises(NotFoundError):
        tenants.update_tenant(a.ctx, b.tenant.id, tenant_name="hijack")
    assert tenants.get_tenant(a.ctx, a.tenant.id).id == a.tenant.id


def test_list_own_versus_all(make_tenant, super_ctx):
    a, b = make_tenant(), make_tenant()
    own = tenants.list_tenants(a.ctx, fresh=True)
    assert [t.id for t in own.items] == [a.tenant.id] and own.next_cursor is None
    seen, cursor = set(), None
    while True:  # page through every tenant with small pages: no repeats, none missing
        page = tenants.list_tenants(super_ctx, limit=3, cursor=cursor, fresh=True)
        ids = {t.id for t in page.items}
        assert not ids & seen
        seen |= ids
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert {a.tenant.id, b.tenant.id} <= seen


def test_update_fields_and_quotas(world, super_ctx):
    t = tenants.update_tenant(world.ctx, world.tenant.id, tenant_name="Renamed",
                              webhook_url="https://hooks.example.com/x")
    assert t.tenant_name == "Renamed"
    with pytest.raises(PermissionDeniedError):  # a tenant cannot raise its own quota
        tenants.update_tenant(world.ctx, world.tenant.id, max_accounts=1000)
    t = tenants.update_tenant(super_ctx, world.tenant.id, max_accounts=7,
                              max_daily_messages=5)
    fresh = tenants.get_tenant(world.ctx, world.tenant.id)
    assert (fresh.max_accounts, fresh.max_daily_messages, fresh.tenant_name) == (7, 5, "Renamed")
    with pytest.raises(ValidationError) as err:
        tenants.update_tenant(super_ctx, world.tenant.id, status="deleted")
    assert err.value.field == "status"


def test_suspend_blocks_login_and_reactivate_restores(world, super_ctx, password):
    username = world.admin.username
    tenants.suspend_tenant(super_ctx, world.tenant.id)
    with pytest.raises(AuthenticationError):
        auth.login(username, password, "127.0.0.1")
    with pytest.raises(ValidationError):
        tenants.suspend_tenant(super_ctx, world.tenant.id)  # already suspended
    tenants.reactivate_tenant(super_ctx, world.tenant.id)
    assert auth.login(username, password, "127.0.0.1").user_id == world.admin.id
    with pytest.raises(PermissionDeniedError):
        tenants.suspend_tenant(world.ctx, world.tenant.id)


def test_soft_delete_keeps_the_row(world, super_ctx, password):
    tenants.delete_tenant(super_ctx, world.tenant.id)
    assert tenants.get_tenant(super_ctx, world.tenant.id).status == TenantStatus.DELETED
    with pytest.raises(AuthenticationError):
        auth.login(world.admin.username, password, "127.0.0.1")
    with pytest.raises(ValidationError):
        tenants.reactivate_tenant(super_ctx, world.tenant.id)


def test_bootstrap_is_idempotent_and_makes_a_super_admin(super_ctx, password):
    t1, u1 = tenants.bootstrap_platform("root-admin", "root@example.com", password)
    t2, u2 = tenants.bootstrap_platform("root-admin", "root@example.com", "another passphrase 77")
    assert (t1.id, u1.id) == (t2.id, u2.id) and t1.tenant_code == PLATFORM_TENANT_CODE
    actor = auth.login("root-admin", password, "10.0.0.1", tenant_code=PLATFORM_TENANT_CODE)
    assert actor.is_super_admin
    with pytest.raises(ValidationError):
        tenants.suspend_tenant(super_ctx, t1.id)

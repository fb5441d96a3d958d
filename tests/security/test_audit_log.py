"""Issue 16, audit log: every administrative write is recorded in the same transaction —
who, tenant, action, object, when, client address, changed fields before/after without
secrets — and each tenant admin reads only their own tenant's log."""

from __future__ import annotations

import json

import pytest

from wework.errors import PermissionDeniedError, ValidationError
from wework.ops.retention import policies
from wework.services import audit, auth, roles, tenants, users

NEW_PASSWORD = "an audited passphrase 31"


def _ctx_from(world, address: str):
    return auth.context_for(auth.actor_for(world.admin.id), client_ip=address)


def _entries(ctx, action: str | None = None, **kw):
    return audit.list_entries(ctx, action=action, **kw).items


def test_a_password_reset_is_recorded_without_secrets(world, make_unique, password):
    ctx = _ctx_from(world, "203.0.113.7")
    name = make_unique("audited")
    user = users.create_user(ctx, username=name, email=f"{name}@example.com",
                             password=password, phone="+86 131 0000 0001")
    users.reset_password(ctx, user.id, NEW_PASSWORD)
    [entry] = _entries(ctx, "user.reset_password")
    assert (entry.actor_id, entry.actor_name, entry.tenant_id, entry.client_ip) == (
        world.admin.id, world.admin.username, world.tenant.id, "203.0.113.7")
    assert (entry.object_type, entry.object_id) == ("users", user.id)
    assert entry.changes["password"] == {"after": "changed"}
    [created] = [e for e in _entries(ctx, "user.create") if e.object_id == user.id]
    text = json.dumps([entry.changes, created.changes])
    for secret in (password, NEW_PASSWORD, "argon2", "131 0000 0001", "password_hash", "salt"):
        assert secret not in text
    assert created.changes["phone"] == {"before": None, "after": "changed"}
    assert created.changes["username"]["after"] == name


def test_changed_fields_before_and_after(world, make_unique, password):
    ctx = world.ctx
    name = make_unique("fields")
    user = users.create_user(ctx, username=name, email=f"{name}@example.com",
                             password=password, real_name="Old Name")
    users.update_user(ctx, user.id, real_name="New Name")
    users.lock_user(ctx, user.id)
    update, lock = _entries(ctx, "user.update")[0], _entries(ctx, "user.lock")[0]
    assert update.changes == {"real_name": {"before": "Old Name", "after": "New Name"}}
    assert lock.changes["status"] == {"before": "active", "after": "locked"}


def test_a_refused_write_leaves_no_entry(world, make_unique, password):
    ctx = world.ctx
    name = make_unique("refused")
    user = users.create_user(ctx, username=name, email=f"{name}@example.com",
                             password=password)
    with pytest.raises(ValidationError):
        users.update_user(ctx, user.id, real_name="fine", email="not an address")
    assert not _entries(ctx, "user.update")


def test_roles_and_tenant_changes_are_recorded(world, make_unique, super_ctx):
    code = make_unique("aud").replace("-", "_")
    role = roles.create_role(world.ctx, role_code=code, role_name="auditors",
                             permissions=["report:view"])
    roles.assign_role(world.ctx, world.admin.id, role.id)
    tenants.update_tenant(super_ctx, world.tenant.id, max_daily_messages=77)
    actions = {e.action for e in _entries(world.ctx)}
    assert {"role.create", "role.assign", "tenant.update"} <= actions
    [quota] = _entries(world.ctx, "tenant.update")
    assert quota.actor_id == super_ctx.actor.user_id
    assert quota.changes["max_daily_messages"]["after"] == 77


def test_each_tenant_admin_sees_only_their_own_log(make_tenant, super_ctx):
    a, b = make_tenant(), make_tenant()
    tenants.update_tenant(a.ctx, a.tenant.id, contact_person="Alice")
    tenants.update_tenant(b.ctx, b.tenant.id, contact_person="Bob")
    assert {e.tenant_id for e in _entries(a.ctx)} == {a.tenant.id}
    assert {e.tenant_id for e in _entries(b.ctx)} == {b.tenant.id}
    with pytest.raises(PermissionDeniedError):
        _entries(a.ctx, all_tenants=True)
    everyone = _entries(super_ctx, "tenant.update", all_tenants=True, limit=200)
    assert {a.tenant.id, b.tenant.id} <= {e.tenant_id for e in everyone}


def test_a_user_without_tenant_manage_reads_no_log(world):
    analyst = world.user_ctx("analyst")
    with pytest.raises(PermissionDeniedError):
        _entries(analyst)


def test_retention_covers_the_audit_log(settings):
    [policy] = [p for p in policies(settings) if p.table == "audit_log"]
    assert (policy.column, policy.months) == ("created_at", settings.retention_audit_log_months)

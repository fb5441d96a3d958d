"""Roles: permission validation, no escalation, system roles, assignment with assigned_by,
effective permissions, isolation."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from wework.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from wework.models import UserRole
from wework.services import auth, roles, users
from wework.services.permissions import (
    MESSAGE_SEND,
    PLATFORM_ADMIN,
    REPORT_VIEW,
    SYSTEM_ROLES,
    TENANT_PERMISSIONS,
)
from wework.services.uow import read_session


def _role_id(ctx, code):
    return next(r.id for r in roles.list_roles(ctx, fresh=True).items if r.role_code == code)


def test_system_roles_and_effective_permissions(world):
    assert world.ctx.actor.permissions == frozenset(SYSTEM_ROLES["admin"][2])
    analyst = world.user_ctx("analyst")
    assert roles.effective_permissions(analyst.actor.user_id) == {REPORT_VIEW}
    roles.assign_role(world.ctx, analyst.actor.user_id, _role_id(world.ctx, "operator"))
    assert roles.effective_permissions(analyst.actor.user_id, tenant_id=world.tenant.id) == (
        frozenset(SYSTEM_ROLES["operator"][2]) | {REPORT_VIEW})


def test_custom_role_lifecycle_and_assigned_by(world, make_unique):
    role = roles.create_role(world.ctx, role_code="sender", role_name="Sender",
                             permissions=[MESSAGE_SEND, REPORT_VIEW, MESSAGE_SEND])
    assert role.permissions == [MESSAGE_SEND, REPORT_VIEW]
    with pytest.raises(ConflictError) as err:
        roles.create_role(world.ctx, role_code="sender", role_name="again", permissions=[])
    assert err.value.field == "role_code"
    member = world.user_ctx()
    uid = member.actor.user_id
    roles.assign_role(world.ctx, uid, role.id)
    roles.assign_role(world.ctx, uid, role.id)  # idempotent
    with read_session(world.tenant.id, fresh=True) as s:
        links = list(s.scalars(select(UserRole).where(UserRole.user_id == uid)))
    assert [(link.role_id, link.assigned_by) for link in links] == [(role.id, world.admin.id)]
    assert auth.actor_for(uid).permissions == {MESSAGE_SEND, REPORT_VIEW}
    roles.update_role(world.ctx, role.id, permissions=[REPORT_VIEW])
    assert roles.effective_permissions(uid) == {REPORT_VIEW}
    roles.update_role(world.ctx, role.id, is_active=False)  # inactive roles grant nothing
    assert roles.effective_permissions(uid) == frozenset()
    roles.unassign_role(world.ctx, uid, role.id)
    with pytest.raises(NotFoundError):
        roles.unassign_role(world.ctx, uid, role.id)
    roles.delete_role(world.ctx, role.id)
    with pytest.raises(NotFoundError):
        roles.get_role(world.ctx, role.id)


@pytest.mark.parametrize("perms", [["message:fly"], "report:view", [PLATFORM_ADMIN]])
def test_bad_permission_lists(world, perms):
    with pytest.raises(ValidationError) as err:
        roles.create_role(world.ctx, role_code="bad", role_name="Bad", permissions=perms)
    assert err.value.field == "permissions"


def test_platform_admin_only_in_platform_tenant(super_ctx, make_tenant, make_unique):
    world = make_tenant()
    with pytest.raises(ValidationError):  # even a super-admin, in an ordinary tenant
        roles.create_role(super_ctx.for_tenant(world.tenant.id), role_code="root",
                          role_name="Root", permissions=[PLATFORM_ADMIN])
    code = make_unique("ops")
    role = roles.create_role(super_ctx, role_code=code, role_name="Ops",
                             permissions=[PLATFORM_ADMIN])
    assert role.permissions == [PLATFORM_ADMIN]


def test_system_roles_are_fixed(world):
    admin_role = _role_id(world.ctx, "admin")
    with pytest.raises(ValidationError) as err:
        roles.update_role(world.ctx, admin_role, permissions=[REPORT_VIEW])
    assert err.value.field == "permissions"
    with pytest.raises(ValidationError):
        roles.delete_role(world.ctx, admin_role)
    with pytest.raises(ValidationError):
        roles.update_role(world.ctx, admin_role, is_active=False)
    assert roles.update_role(world.ctx, admin_role, role_name="Boss").role_name == "Boss"


def test_no_escalation(world, make_unique):
    # A user manager without tenant:manage cannot create or hand out tenant:manage.
    role = roles.create_role(world.ctx, role_code="hr", role_name="HR",
                             permissions=["user:manage"])
    hr = world.user_ctx()
    roles.assign_role(world.ctx, hr.actor.user_id, role.id)
    hr = auth.context_for(auth.actor_for(hr.actor.user_id))
    with pytest.raises(PermissionDeniedError):
        roles.create_role(hr, role_code="boss", role_name="Boss",
                          permissions=list(TENANT_PERMISSIONS))
    with pytest.raises(PermissionDeniedError):
        roles.assign_role(hr, hr.actor.user_id, _role_id(world.ctx, "admin"))
    with pytest.raises(PermissionDeniedError):
        users.create_user(hr, username=make_unique("u"), email=f"{make_unique('e')}@x.com",
                          password="long enough passphrase", role_codes=["admin"])
    analyst = world.user_ctx("analyst")
    with pytest.raises(PermissionDeniedError):
        roles.list_roles(analyst)


def test_other_tenants_roles_and_users_look_missing(make_tenant):
    a, b = make_tenant(), make_tenant()
    b_admin_role = _role_id(b.ctx, "admin")
    with pytest.raises(NotFoundError):
        roles.get_role(a.ctx, b_admin_role)
    with pytest.raises(NotFoundError):  # own user, foreign role
        roles.assign_role(a.ctx, a.admin.id, b_admin_role)
    with pytest.raises(NotFoundError):  # foreign user, own role
        roles.assign_role(a.ctx, b.admin.id, _role_id(a.ctx, "analyst"))
    with pytest.raises(NotFoundError):
        roles.update_role(a.ctx, b_admin_role, role_name="mine")

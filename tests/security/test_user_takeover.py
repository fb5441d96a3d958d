"""Issue 16 item 2: ``user:manage`` alone cannot take over a more powerful user. One acts
on a user only when holding every permission that user holds; only a platform admin acts
on a platform admin."""

from __future__ import annotations

import pytest

from wework.errors import PermissionDeniedError
from wework.models import Role
from wework.services import auth, roles, users
from wework.services.context import ServiceContext
from wework.services.uow import read_session

NEW_PASSWORD = "a takeover passphrase 42"


def _manager(world, make_unique) -> ServiceContext:
    """A user of the tenant whose only permission is user:manage."""
    code = make_unique("um").replace("-", "_")
    roles.create_role(world.ctx, role_code=code, role_name="user managers",
                      permissions=["user:manage"])
    return world.user_ctx(code)


def _role_id(tenant_id: str, code: str) -> str:
    with read_session(tenant_id, fresh=True) as s:
        return s.query(Role.id).filter_by(tenant_id=tenant_id, role_code=code).scalar()


ACTIONS = {
    "reset_password": lambda ctx, uid: users.reset_password(ctx, uid, NEW_PASSWORD),
    "lock_user": users.lock_user,
    "unlock_user": users.unlock_user,
    "deactivate_user": users.deactivate_user,
    "delete_user": users.delete_user,
    "update_user": lambda ctx, uid: users.update_user(ctx, uid, real_name="owned"),
}


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_a_user_manager_cannot_act_on_the_tenant_admin(world, make_unique, password, action):
    manager = _manager(world, make_unique)
    with pytest.raises(PermissionDeniedError):
        ACTIONS[action](manager, world.admin.id)
    # The admin still signs in with the old password and keeps the admin role.
    actor = auth.login(world.admin.username, password, None, world.tenant.tenant_code)
    assert "tenant:manage" in actor.permissions


def test_a_user_manager_cannot_strip_or_add_the_admins_roles(world, make_unique):
    manager = _manager(world, make_unique)
    admin_role = _role_id(world.tenant.id, "admin")
    analyst_role = _role_id(world.tenant.id, "analyst")
    with pytest.raises(PermissionDeniedError):
        roles.unassign_role(manager, world.admin.id, admin_role)
    with pytest.raises(PermissionDeniedError):  # report:view is more than the manager holds
        roles.assign_role(manager, world.admin.id, analyst_role)
    assert "admin" in {r.role_code for r in roles.roles_of_user(world.ctx, world.admin.id)}


def test_a_user_manager_cannot_edit_a_role_holding_more(world, make_unique):
    manager = _manager(world, make_unique)
    code = make_unique("ops").replace("-", "_")
    role = roles.create_role(world.ctx, role_code=code, role_name="ops",
                             permissions=["account:manage", "user:manage"])
    with pytest.raises(PermissionDeniedError):
        roles.update_role(manager, role.id, role_name="renamed")
    with pytest.raises(PermissionDeniedError):
        roles.delete_role(manager, role.id)


def test_a_user_manager_still_manages_users_holding_less(world, make_unique, password):
    manager = _manager(world, make_unique)
    plain = users.create_user(world.ctx, username=make_unique("plain"),
                              email=f"{make_unique('plain')}@example.com", password=password)
    users.reset_password(manager, plain.id, NEW_PASSWORD)
    users.lock_user(manager, plain.id)
    users.unlock_user(manager, plain.id)
    assert auth.login(plain.username, NEW_PASSWORD, None, world.tenant.tenant_code)


def test_only_a_platform_admin_acts_on_a_platform_admin(super_ctx, make_unique, password):
    """A tenant admin of the platform tenant holds every tenant permission but not
    platform:admin: the super-admin is out of its reach."""
    platform_admin = users.create_user(
        super_ctx, username=make_unique("padmin"), email=f"{make_unique('p')}@example.com",
        password=password, role_codes=["admin"])
    ctx = auth.context_for(auth.actor_for(platform_admin.id, platform_admin.tenant_id))
    with pytest.raises(PermissionDeniedError) as err:
        users.reset_password(ctx, super_ctx.actor.user_id, NEW_PASSWORD)
    assert err.value.permission == "platform:admin"
    with pytest.raises(PermissionDeniedError):
        users.lock_user(ctx, super_ctx.actor.user_id)
    assert auth.login(super_ctx.actor.username, password, None, "platform")
    users.deactivate_user(super_ctx, platform_admin.id)  # the super-admin still may

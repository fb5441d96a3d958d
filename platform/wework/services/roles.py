"""Roles with permission lists, the system roles seeded per tenant, and assignment of
roles to users (``user_roles.assigned_by`` = the acting user).

Rules:
- Every permission must be one of ``permissions.ALL_PERMISSIONS``; ``platform:admin`` is
  grantable only in the platform tenant.
- No escalation: a role may only be given permissions the actor holds, and only such a
  role may be assigned, edited or deleted (a super-admin holds them all); roles of a user
  change only when the actor holds every permission that user holds
  (:func:`check_may_act_on`, also used by :mod:`wework.services.users`).
- System roles (admin/operator/analyst, super_admin) keep their code and permissions and
  cannot be deleted; their name/description may be edited.
- Inactive roles grant nothing.
Managing roles needs ``user:manage``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from wework.cache.layers import cache
from wework.db.sharding import all_shards, shard_for_tenant
from wework.errors import (
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from wework.models import Role, Tenant, User, UserRole
from wework.services import audit
from wework.services.context import ServiceContext
from wework.services.fields import UNSET, parse, passed
from wework.services.inputs import NewRole, RoleChanges
from wework.services.pagination import DEFAULT_LIMIT, Page, paginate
from wework.services.permissions import (
    ALL_PERMISSIONS,
    PLATFORM_ADMIN,
    PLATFORM_TENANT_CODE,
    SYSTEM_ROLES,
    USER_MANAGE,
)
from wework.services.rows import check_unique, flush_unique, load_owned
from wework.services.uow import read_session, shard_read_session, tenant_transaction

# The users' cached permissions (wework.services.auth.actor_for): evicted by role changes.
USERS = cache("user")


def _evict_holders(s: Session, role_id: str) -> None:
    """Evict, once ``s`` commits, the cached permissions of every holder of the role."""
    USERS.evict_on_commit(s, *s.scalars(select(UserRole.user_id)
                                        .where(UserRole.role_id == role_id)))


def seed_system_roles(s: Session, tenant_id: str) -> list[Role]:
    """Insert admin/operator/analyst for a new tenant (inside the caller's transaction)."""
    roles = [
        Role(tenant_id=tenant_id, role_code=code, role_name=name, description=description,
             permissions=list(perms), is_system=True)
        for code, (name, description, perms) in SYSTEM_ROLES.items()
    ]
    s.add_all(roles)
    s.flush()
    return roles


def _is_platform_tenant(s: Session, tenant_id: str) -> bool:
    code = s.scalar(select(Tenant.tenant_code).where(Tenant.id == tenant_id))
    return code == PLATFORM_TENANT_CODE


def _grantable(s: Session, ctx: ServiceContext, permissions: list[str]) -> list[str]:
    """Known permissions (checked by ``inputs.Permissions``) the actor may put in a role
    of this tenant, in their canonical order."""
    if PLATFORM_ADMIN in permissions and not _is_platform_tenant(s, ctx.tenant_id):
        raise ValidationError("permissions", f"{PLATFORM_ADMIN} is only grantable in the "
                              "platform tenant")
    _check_no_escalation(ctx, permissions)
    return sorted(set(permissions), key=ALL_PERMISSIONS.index)


def _check_no_escalation(ctx: ServiceContext, permissions: list[str]) -> None:
    for p in permissions:
        if not ctx.can(p):
            raise PermissionDeniedError(p)


def check_may_act_on(s: Session, ctx: ServiceContext, user: User) -> None:
    """Issue 16 item 2: the actor may act on ``user`` (reset the password, lock, unlock,
    deactivate, delete, edit, change roles) only when holding every permission that user
    holds, and only a platform admin may act on a platform admin. Otherwise a
    ``user:manage``-only user could take over its tenant's admin, or the super-admin."""
    held = effective_permissions(user.id, session=s)
    if PLATFORM_ADMIN in held and not ctx.actor.is_super_admin:
        raise PermissionDeniedError(PLATFORM_ADMIN)
    for p in sorted(held, key=ALL_PERMISSIONS.index):
        if not ctx.can(p):
            raise PermissionDeniedError(p)


def create_role(
    ctx: ServiceContext,
    *,
    role_code: str,
    role_name: str,
    permissions: list[str],
    description: str | None = None,
) -> Role:
    ctx.require(USER_MANAGE)
    new = parse(NewRole, dict(role_code=role_code, role_name=role_name,
                              permissions=permissions, description=description))
    code, name, description = new.role_code, new.role_name, new.description
    with tenant_transaction(ctx) as s:
        perms = _grantable(s, ctx, new.permissions)
        check_unique(s, Role.role_code, code, tenant_id=ctx.tenant_id,
                     message="already exists in this tenant")
        role = Role(tenant_id=ctx.tenant_id, role_code=code, role_name=name,
                    description=description, permissions=perms, is_system=False)
        s.add(role)
        flush_unique(s, {"uk_tenant_role_code": "role_code"}, "already exists in this tenant")
        audit.created(s, ctx, "role.create", role)
    return role


def get_role(ctx: ServiceContext, role_id: str) -> Role:
    ctx.require(USER_MANAGE)
    with read_session(ctx.tenant_id, fresh=True) as s:
        return load_owned(s, ctx, Role, role_id, "role")


def list_roles(
    ctx: ServiceContext,
    *,
    active: bool | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
    fresh: bool = False,
) -> Page[Role]:
    ctx.require(USER_MANAGE)
    stmt = select(Role).where(Role.tenant_id == ctx.tenant_id)
    if active is not None:
        stmt = stmt.where(Role.is_active == active)
    with read_session(ctx.tenant_id, fresh=fresh) as s:
        return paginate(s, stmt, Role.created_at, Role.id, limit=limit, cursor=cursor)


def update_role(
    ctx: ServiceContext,
    role_id: str,
    *,
    role_name: Any = UNSET,
    description: Any = UNSET,
    permissions: Any = UNSET,
    is_active: Any = UNSET,
) -> Role:
    ctx.require(USER_MANAGE)
    changes = parse(RoleChanges, passed(role_name=role_name, description=description,
                                        permissions=permissions, is_active=is_active)).given()
    with tenant_transaction(ctx) as s:
        role = load_owned(s, ctx, Role, role_id, "role", lock=True)
        _check_no_escalation(ctx, list(role.permissions))  # it may be more than the actor's
        if role.is_system and "permissions" in changes:
            raise ValidationError("permissions", "a system role's permissions are fixed")
        if role.is_system and changes.get("is_active") is False:
            raise ValidationError("is_active", "a system role cannot be deactivated")
        if "permissions" in changes:
            changes["permissions"] = _grantable(s, ctx, changes["permissions"])
        with audit.change(s, ctx, "role.update", role):
            for field, value in changes.items():
                setattr(role, field, value)
        _evict_holders(s, role.id)
    return role


def delete_role(ctx: ServiceContext, role_id: str) -> None:
    """Delete a custom role and its assignments (system roles cannot be deleted)."""
    ctx.require(USER_MANAGE)
    with tenant_transaction(ctx) as s:
        role = load_owned(s, ctx, Role, role_id, "role", lock=True)
        if role.is_system:
            raise ValidationError("role_id", "a system role cannot be deleted")
        _check_no_escalation(ctx, list(role.permissions))
        audit.record(s, ctx, "role.delete", "roles", role.id, before=audit.snapshot(role))
        _evict_holders(s, role.id)
        s.execute(delete(UserRole).where(UserRole.role_id == role.id))
        s.delete(role)


def assign_role(ctx: ServiceContext, user_id: str, role_id: str, *,
                session: Session | None = None) -> UserRole:
    """Give a user a role of the same tenant; assigning twice is a no-op."""
    ctx.require(USER_MANAGE)
    with tenant_transaction(ctx, session) as s:
        user = load_owned(s, ctx, User, user_id, "user")
        role = load_owned(s, ctx, Role, role_id, "role")
        _check_no_escalation(ctx, list(role.permissions))
        check_may_act_on(s, ctx, user)
        link = s.scalar(select(UserRole).where(UserRole.user_id == user.id,
                                               UserRole.role_id == role.id))
        if link is None:
            link = UserRole(user_id=user.id, role_id=role.id, assigned_by=ctx.actor.user_id)
            s.add(link)
            s.flush()
            audit.record(s, ctx, "role.assign", "users", user.id,
                         detail={"role_code": role.role_code})
            USERS.evict_on_commit(s, user.id)
        return link


def unassign_role(ctx: ServiceContext, user_id: str, role_id: str) -> None:
    ctx.require(USER_MANAGE)
    with tenant_transaction(ctx) as s:
        user = load_owned(s, ctx, User, user_id, "user")
        role = load_owned(s, ctx, Role, role_id, "role")
        check_may_act_on(s, ctx, user)
        result = s.execute(delete(UserRole).where(UserRole.user_id == user_id,
                                                  UserRole.role_id == role_id))
        if result.rowcount == 0:
            raise NotFoundError("user_role", f"{user_id}/{role_id}")
        audit.record(s, ctx, "role.unassign", "users", user.id,
                     detail={"role_code": role.role_code})
        USERS.evict_on_commit(s, user_id)


def roles_of_user(ctx: ServiceContext, user_id: str) -> list[Role]:
    ctx.require(USER_MANAGE)
    with read_session(ctx.tenant_id, fresh=True) as s:
        load_owned(s, ctx, User, user_id, "user")
        return list(s.scalars(select(Role).join(UserRole, UserRole.role_id == Role.id)
                              .where(UserRole.user_id == user_id).order_by(Role.role_code)))


def effective_permissions(user_id: str, *, tenant_id: str | None = None,
                          session: Session | None = None) -> frozenset[str]:
    """Union of the permissions of the user's active roles (primary: fresh after a change),
    read in ``session`` when the caller holds one on the user's shard. Without either,
    every shard is searched for the user."""
    if session is None:
        shards = [shard_for_tenant(tenant_id)] if tenant_id else all_shards()
        for shard in shards:
            with shard_read_session(shard, fresh=True) as s:
                if s.get(User, user_id) is not None:
                    return effective_permissions(user_id, session=s)
        raise NotFoundError("user", user_id)
    rows = session.scalars(select(Role.permissions).join(UserRole, UserRole.role_id == Role.id)
                           .where(UserRole.user_id == user_id, Role.is_active.is_(True)))
    return frozenset(p for perms in rows for p in perms)

"""Tenants: create (with their system roles), read, update, quotas, suspend, soft delete,
and the bootstrap of the platform tenant with its super-admin.

Permissions: creating, suspending, reactivating, deleting tenants and changing quotas
need ``platform:admin`` (a tenant must not raise its own quota); a tenant admin with
``tenant:manage`` may edit their own tenant's name, contacts, webhook and config.

Each tenant row lives on the tenant's own shard (``shard_for_tenant(tenant.id)``), so the
id is generated before anything is written. ``tenant_code`` is unique across shards:
creation checks every shard first (the unique index guards each shard's own race).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from wework.cache.layers import cache
from wework.db.sharding import all_shards, shard_for_tenant
from wework.enums import TenantStatus
from wework.errors import ConflictError, NotFoundError, ValidationError
from wework.models import Role, Tenant, User, new_id, utcnow
from wework.services import audit, quota
from wework.services import roles as roles_service
from wework.services import users as users_service
from wework.services.context import ServiceContext, system_context
from wework.services.fields import check_password, parse
from wework.services.inputs import NewAdmin, NewTenant, TenantChanges
from wework.services.pagination import DEFAULT_LIMIT, Page, check_limit, keyset, merge_pages
from wework.services.permissions import (
    PLATFORM_ADMIN,
    PLATFORM_TENANT_CODE,
    SUPER_ADMIN_ROLE,
    TENANT_MANAGE,
)
from wework.services.rows import flush_unique
from wework.services.uow import read_session, shard_read_session, transaction

_QUOTA_FIELDS = ("max_accounts", "max_daily_messages")


def find_tenant_by_code(tenant_code: str) -> Tenant | None:
    """The tenant with this code on any shard (primary: callers act on the answer)."""
    for shard in all_shards():
        with shard_read_session(shard, fresh=True) as s:
            tenant = s.scalar(select(Tenant).where(Tenant.tenant_code == tenant_code))
            if tenant is not None:
                return tenant
    return None


def _insert_tenant(s: Session, tenant_id: str, fields: dict[str, Any]) -> Tenant:
    tenant = Tenant(id=tenant_id, status=TenantStatus.ACTIVE, **fields)
    s.add(tenant)
    flush_unique(s, {"uk_tenant_code": "tenant_code"},
                 f"{fields['tenant_code']!r} is already taken")
    return tenant


def create_tenant(
    ctx: ServiceContext,
    *,
    tenant_code: str,
    tenant_name: str,
    contact_person: str | None = None,
    contact_phone: str | None = None,
    contact_email: str | None = None,
    max_accounts: int = 10,
    max_daily_messages: int = 10000,
    webhook_url: str | None = None,
    config: dict[str, Any] | None = None,
) -> Tenant:
    """A new active tenant with the system roles admin/operator/analyst (one transaction)."""
    ctx.require(PLATFORM_ADMIN)
    fields = parse(NewTenant, dict(
        tenant_code=tenant_code, tenant_name=tenant_name, contact_person=contact_person,
        contact_phone=contact_phone, contact_email=contact_email, webhook_url=webhook_url,
        config=config, max_accounts=max_accounts,
        max_daily_messages=max_daily_messages)).given()
    if find_tenant_by_code(fields["tenant_code"]) is not None:
        raise ConflictError("tenant_code", f"{fields['tenant_code']!r} is already taken")
    tenant_id = new_id()
    with transaction(tenant_id) as s:
        tenant = _insert_tenant(s, tenant_id, fields)
        roles_service.seed_system_roles(s, tenant_id)
        audit.created(s, ctx, "tenant.create", tenant, tenant_id=tenant_id)
    return tenant


def _load(s: Session, ctx: ServiceContext, tenant_id: str, *, lock: bool = False) -> Tenant:
    ctx.check_tenant(tenant_id, "tenant", tenant_id)
    tenant = s.get(Tenant, tenant_id, with_for_update=lock)
    if tenant is None:
        raise NotFoundError("tenant", tenant_id)
    return tenant


def get_tenant(ctx: ServiceContext, tenant_id: str) -> Tenant:
    """Own tenant for everyone; any tenant for a super-admin (read from the primary)."""
    ctx.check_tenant(tenant_id, "tenant", tenant_id)
    with read_session(tenant_id, fresh=True) as s:
        return _load(s, ctx, tenant_id)


def list_tenants(
    ctx: ServiceContext,
    *,
    status: TenantStatus | str | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
    fresh: bool = False,
) -> Page[Tenant]:
    """Super-admin: every tenant of every shard, newest first. Others: their own tenant."""
    check_limit(limit)
    if status is not None:
        try:
            status = TenantStatus(status)
        except ValueError as exc:
            raise ValidationError("status", f"unknown tenant status {status!r}") from exc
    stmt = select(Tenant)
    if status is not None:
        stmt = stmt.where(Tenant.status == status)
    if ctx.actor.is_super_admin:
        shards = all_shards()
    else:
        stmt = stmt.where(Tenant.id == ctx.actor.tenant_id)
        shards = [shard_for_tenant(ctx.actor.tenant_id)]
    per_shard = []
    for shard in shards:  # each shard's newest limit+1 rows; merged below
        with shard_read_session(shard, fresh) as s:
            page_stmt = keyset(stmt, Tenant.created_at, Tenant.id, limit, cursor)
            per_shard.append(list(s.scalars(page_stmt)))
    return merge_pages(per_shard, limit, lambda t: (t.created_at, t.id))


def update_tenant(ctx: ServiceContext, tenant_id: str, **changes: Any) -> Tenant:
    """Change any of tenant_name, contact_person, contact_phone, contact_email,
    webhook_url, config (``tenant:manage``) and max_accounts, max_daily_messages
    (``platform:admin``). Unknown fields are refused."""
    cleaned = parse(TenantChanges, changes).given()
    ctx.require(TENANT_MANAGE)
    if any(f in _QUOTA_FIELDS for f in cleaned):
        ctx.require(PLATFORM_ADMIN)
    with transaction(tenant_id) as s:
        tenant = _load(s, ctx, tenant_id, lock=True)
        if tenant.status == TenantStatus.DELETED:
            raise NotFoundError("tenant", tenant_id)
        if tenant.status != TenantStatus.ACTIVE and not ctx.actor.is_super_admin:
            raise ValidationError("tenant.status", f"the tenant is {tenant.status.value}: its "
                                  "data cannot be changed")
        with audit.change(s, ctx, "tenant.update", tenant, tenant_id=tenant_id):
            for f, val in cleaned.items():
                setattr(tenant, f, val)
        if "max_daily_messages" in cleaned:  # today's room under the new limit
            quota.set_limit(s, tenant_id, cleaned["max_daily_messages"], utcnow())
        TENANTS.evict_on_commit(s, tenant_id)
    return tenant


def _set_status(ctx: ServiceContext, tenant_id: str, target: TenantStatus,
                allowed_from: tuple[TenantStatus, ...]) -> Tenant:
    ctx.require(PLATFORM_ADMIN)
    with transaction(tenant_id) as s:
        tenant = _load(s, ctx, tenant_id, lock=True)
        if tenant.tenant_code == PLATFORM_TENANT_CODE:
            raise ValidationError("tenant_id", "the platform tenant cannot be suspended or deleted")
        if tenant.status not in allowed_from:
            raise ValidationError("status", f"cannot change from {tenant.status} to {target}")
        with audit.change(s, ctx, f"tenant.{_STATUS_ACTIONS[target]}", tenant,
                          tenant_id=tenant_id):
            tenant.status = target
        TENANTS.evict_on_commit(s, tenant_id)
    return tenant


_STATUS_ACTIONS = {TenantStatus.SUSPENDED: "suspend", TenantStatus.ACTIVE: "reactivate",
                   TenantStatus.DELETED: "delete"}


def suspend_tenant(ctx: ServiceContext, tenant_id: str) -> Tenant:
    """Its users can no longer log in; its data stays."""
    return _set_status(ctx, tenant_id, TenantStatus.SUSPENDED, (TenantStatus.ACTIVE,))


def reactivate_tenant(ctx: ServiceContext, tenant_id: str) -> Tenant:
    return _set_status(ctx, tenant_id, TenantStatus.ACTIVE, (TenantStatus.SUSPENDED,))


def delete_tenant(ctx: ServiceContext, tenant_id: str) -> Tenant:
    """Soft delete: status ``deleted``; rows are kept for audit and reports."""
    return _set_status(ctx, tenant_id, TenantStatus.DELETED,
                       (TenantStatus.ACTIVE, TenantStatus.SUSPENDED))


def bootstrap_platform(
    admin_username: str, admin_email: str, admin_password: str
) -> tuple[Tenant, User]:
    """Create, if missing, the platform tenant, its ``super_admin`` role (plus the system
    roles) and a super-admin user. Idempotent: an existing user keeps its password."""
    admin = parse(NewAdmin, dict(admin_username=admin_username, admin_email=admin_email,
                                 admin_password=admin_password))
    username, email = admin.admin_username, admin.admin_email
    check_password("admin_password", admin_password, (username, email))
    existing = find_tenant_by_code(PLATFORM_TENANT_CODE)
    tenant_id = existing.id if existing else new_id()
    with transaction(tenant_id) as s:
        if existing is None:
            tenant = _insert_tenant(s, tenant_id, {
                "tenant_code": PLATFORM_TENANT_CODE, "tenant_name": "Platform",
                "max_accounts": 0, "max_daily_messages": 0,
            })
            roles_service.seed_system_roles(s, tenant_id)
        else:
            tenant = s.get(Tenant, tenant_id, with_for_update=True)
        code, name, description, permissions = SUPER_ADMIN_ROLE
        role = s.scalar(select(Role).where(Role.tenant_id == tenant_id, Role.role_code == code))
        if role is None:
            role = Role(tenant_id=tenant_id, role_code=code, role_name=name,
                        description=description, permissions=list(permissions), is_system=True)
            s.add(role)
            s.flush()
        system = system_context(tenant_id)
        user = s.scalar(select(User).where(User.tenant_id == tenant_id, User.username == username))
        if user is None:
            user = users_service.create_user(system, username=username, email=email,
                                             password=admin_password, session=s)
        roles_service.assign_role(system, user.id, role.id, session=s)  # no-op when linked
    return tenant, user


# ---------------------------------------------------------------- cached settings

# Status, quotas and config of each tenant, for the hot paths (every send, every request
# of a logged-in user): two-level cache, evicted by every write above.
TENANTS = cache("tenant")


@dataclass(frozen=True)
class TenantSettings:
    id: str
    status: TenantStatus
    max_accounts: int
    max_daily_messages: int
    config: dict[str, Any] | None


def tenant_settings(tenant_id: str) -> TenantSettings:
    """The tenant's status, quotas and config through the cache; NotFoundError if none."""

    def load() -> dict[str, Any] | None:
        with read_session(tenant_id, fresh=True) as s:
            row = s.execute(
                select(Tenant.id, Tenant.status, Tenant.max_accounts, Tenant.max_daily_messages,
                       Tenant.config).where(Tenant.id == tenant_id)
            ).one_or_none()
        return None if row is None else {**row._mapping, "status": row.status.value}

    value = TENANTS.get(tenant_id, load)
    if value is None:
        raise NotFoundError("tenant", tenant_id)
    return TenantSettings(**{**value, "status": TenantStatus(value["status"])})

"""Who is acting, on which tenant, with which permissions."""

from __future__ import annotations

from dataclasses import dataclass, field

from wework.errors import NotFoundError, PermissionDeniedError
from wework.services.permissions import ALL_PERMISSIONS, PLATFORM_ADMIN

SYSTEM_USER_ID = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class Actor:
    user_id: str
    tenant_id: str  # the actor's own tenant
    username: str
    permissions: frozenset[str] = field(default_factory=frozenset)
    is_system: bool = False  # dispatcher, sweeps, callback processing
    # Changes when the facts a session was built on change (password, permissions): the
    # app ends a session whose stamp no longer matches (auth.session_stamp).
    session_stamp: str = ""

    @property
    def is_super_admin(self) -> bool:
        return PLATFORM_ADMIN in self.permissions


@dataclass(frozen=True)
class ServiceContext:
    actor: Actor
    tenant_id: str  # the tenant acted on; differs from actor.tenant_id only for super-admins
    client_ip: str | None = None

    def require(self, permission: str) -> None:
        if permission not in self.actor.permissions and not self.actor.is_super_admin:
            raise PermissionDeniedError(permission)

    def can(self, permission: str) -> bool:
        return permission in self.actor.permissions or self.actor.is_super_admin

    def check_tenant(self, tenant_id: str, entity: str, key: str) -> None:
        """Another tenant's object must behave exactly like a missing one."""
        if tenant_id != self.tenant_id and not self.actor.is_super_admin:
            raise NotFoundError(entity, key)

    def for_tenant(self, tenant_id: str) -> ServiceContext:
        """Switch tenant (super-admin only; others stay pinned to their own)."""
        if tenant_id != self.actor.tenant_id and not self.actor.is_super_admin:
            raise NotFoundError("tenant", tenant_id)
        return ServiceContext(self.actor, tenant_id, self.client_ip)

    @property
    def operator_type(self) -> str:
        return "system" if self.actor.is_system else "user"


def system_context(tenant_id: str) -> ServiceContext:
    """Context for platform-internal work (dispatcher, heartbeat sweep, callbacks)."""
    actor = Actor(
        user_id=SYSTEM_USER_ID,
        tenant_id=tenant_id,
        username="system",
        permissions=frozenset(ALL_PERMISSIONS),
        is_system=True,
    )
    return ServiceContext(actor, tenant_id)

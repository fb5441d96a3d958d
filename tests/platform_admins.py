"""The test areas' platform super-admins, valid whenever they are asked for.

The databases of a pytest worker are shared by every test area, and some areas empty them
between two tests of another (``empty_db``; the app's and the notebooks'
``seed(replace=True)``): a context kept from before such a wipe names a user who no longer
exists ("your session has ended"). ``platform_admin`` keeps each admin's context for the
session but checks at every call, with one primary-key read, that its user and tenant are
still there and active; only after a wipe does it bootstrap the admin again
(``bootstrap_platform`` is idempotent but checks the password policy and, for a new user,
hashes the password with argon2: too slow for every test)."""

from __future__ import annotations

from sqlalchemy import delete, select

from wework.config import get_settings
from wework.enums import TenantStatus, UserStatus
from wework.models import Tenant, User, UserRole
from wework.services import auth, tenants
from wework.services.context import ServiceContext
from wework.services.permissions import PLATFORM_TENANT_CODE
from wework.services.uow import read_session, transaction

_known: dict[tuple[str, str], ServiceContext] = {}  # (database, username) -> context


def platform_admin(username: str, password: str) -> ServiceContext:
    """The context of the platform super-admin ``username`` (created with ``password`` if
    missing), acting on the platform tenant."""
    key = (get_settings().db_name, username)
    ctx = _known.get(key)
    if ctx is None or not _still_active(ctx):
        _, admin = tenants.bootstrap_platform(username, f"{username}@example.com", password)
        ctx = _known[key] = auth.context_for(auth.actor_for(admin.id, admin.tenant_id))
    return ctx


def _still_active(ctx: ServiceContext) -> bool:
    with read_session(ctx.actor.tenant_id, fresh=True) as s:
        row = s.execute(select(User.status, Tenant.status)
                        .join(Tenant, Tenant.id == User.tenant_id)
                        .where(User.id == ctx.actor.user_id)).one_or_none()
    return row is not None and tuple(row) == (UserStatus.ACTIVE, TenantStatus.ACTIVE)


def remove_platform_admin(username: str) -> None:
    """Delete the platform admin ``username``: what a wipe by another area does to it (the
    guard tests of the fixtures; the rest of the databases stays)."""
    platform = tenants.find_tenant_by_code(PLATFORM_TENANT_CODE)
    with transaction(platform.id) as s:
        admin_id = s.scalar(select(User.id).where(User.tenant_id == platform.id,
                                                  User.username == username))
        s.execute(delete(UserRole).where(UserRole.user_id == admin_id))
        s.execute(delete(User).where(User.id == admin_id))

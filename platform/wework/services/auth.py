"""Login and the actor/context helpers the app uses.

Lockout policy (consistent with :mod:`wework.services.users`):
- Each wrong password increments ``failed_login_count``; the 5th sets ``locked_until`` to
  now + 15 minutes. The status stays ``active``: the lockout is purely time-based and
  ends by itself (or by :func:`wework.services.users.unlock_user`). When an attempt comes
  after an expired lockout, the counter starts again from zero.
- While locked, and for users ``inactive``/``locked``/``deleted`` or whose tenant is not
  ``active``, login fails even with the right password, and the counter is not touched.
- A successful login records ``last_login_time``/``last_login_ip`` and resets the counter.

Every failure raises the same :class:`AuthenticationError` message. Timing: the password
is verified with argon2 on every path — against the user's hash, or against a dummy hash
when the username is unknown or ambiguous — so a missing username costs the same as a
wrong password.

``username`` is unique per tenant. Without ``tenant_code`` the username is looked up
across all tenants; if it exists in more than one the login fails (with the same error):
the caller must then give the tenant code.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from wework.db.sharding import all_shards, shard_for_tenant
from wework.enums import TenantStatus, UserStatus
from wework.errors import AuthenticationError, NotFoundError
from wework.models import Tenant, User, utcnow
from wework.security import passwords
from wework.services import roles as roles_service
from wework.services import tenants as tenants_service
from wework.services.context import Actor, ServiceContext
from wework.services.uow import shard_read_session, transaction
from wework.services.users import USERS

MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)


def _candidates(username: str, tenant_code: str | None) -> list[tuple[str, str]]:
    """(tenant_id, user_id) of the users called ``username`` (in ``tenant_code`` if given)."""
    found: list[tuple[str, str]] = []
    stmt = (select(User.tenant_id, User.id).join(Tenant, Tenant.id == User.tenant_id)
            .where(User.username == username))
    if tenant_code is not None:
        stmt = stmt.where(Tenant.tenant_code == tenant_code)
    for shard in all_shards():
        with shard_read_session(shard, fresh=True) as s:
            found.extend(tuple(row) for row in s.execute(stmt))
    return found


def login(username: str, password: str, client_ip: str | None,
          tenant_code: str | None = None) -> Actor:
    """The actor for valid credentials; AuthenticationError (one message) otherwise."""
    if not isinstance(username, str) or not isinstance(password, str) or not username:
        passwords.verify_dummy(password if isinstance(password, str) else "")
        raise AuthenticationError()
    candidates = _candidates(username.strip(), tenant_code)
    if len(candidates) != 1:
        passwords.verify_dummy(password)
        raise AuthenticationError()
    tenant_id, user_id = candidates[0]
    now = utcnow()
    actor: Actor | None = None
    with transaction(tenant_id) as s:
        user = s.get(User, user_id, with_for_update=True)
        tenant = s.get(Tenant, tenant_id)
        if user is None or tenant is None:
            passwords.verify_dummy(password)
            raise AuthenticationError()
        ok = passwords.verify_password(user.password_hash, password)
        if user.locked_until is not None and user.locked_until <= now:
            user.locked_until = None  # the lockout ran out: count afresh
            user.failed_login_count = 0
        usable = (
            user.status == UserStatus.ACTIVE
            and user.locked_until is None
            and tenant.status == TenantStatus.ACTIVE
        )
        if usable and ok:
            user.failed_login_count = 0
            user.last_login_time = now
            user.last_login_ip = (client_ip or None) and client_ip[:45]
            if passwords.needs_rehash(user.password_hash):
                user.password_hash = passwords.hash_password(password)
                user.salt = passwords.salt_hex(user.password_hash)
            actor = Actor(user_id=user.id, tenant_id=tenant_id, username=user.username,
                          permissions=roles_service.effective_permissions(user.id, session=s))
        elif usable:
            user.failed_login_count += 1
            if user.failed_login_count >= MAX_FAILED_LOGINS:
                user.locked_until = now + LOCKOUT
    # Raised after the commit, so the failure counter is kept.
    if actor is None:
        raise AuthenticationError()
    return actor


def actor_for(user_id: str, tenant_id: str | None = None) -> Actor:
    """The actor of an existing user with their current permissions (e.g. to restore a
    session). NotFoundError when the user is missing or may no longer log in.
    Through the user and tenant caches (evicted by every change of the user, their roles
    or the tenant)."""
    found = _user(user_id, tenant_id)
    if (found is None or (tenant_id is not None and found["tenant_id"] != tenant_id)
            or found["status"] != UserStatus.ACTIVE.value):
        raise NotFoundError("user", user_id)
    try:
        tenant = tenants_service.tenant_settings(found["tenant_id"])
    except NotFoundError:
        raise NotFoundError("user", user_id) from None
    if tenant.status != TenantStatus.ACTIVE:
        raise NotFoundError("user", user_id)
    return Actor(user_id=found["user_id"], tenant_id=found["tenant_id"],
                 username=found["username"], permissions=frozenset(found["permissions"]))


def _user(user_id: str, tenant_id: str | None) -> dict | None:
    def load() -> dict | None:
        shards = [shard_for_tenant(tenant_id)] if tenant_id else all_shards()
        for shard in shards:
            with shard_read_session(shard, fresh=True) as s:
                user = s.get(User, user_id)
                if user is not None:
                    return {"user_id": user.id, "tenant_id": user.tenant_id,
                            "username": user.username, "status": user.status.value,
                            "permissions": sorted(roles_service.effective_permissions(
                                user.id, session=s))}
        return None

    return USERS.get(user_id, load)


def context_for(actor: Actor, tenant_id: str | None = None,
                client_ip: str | None = None) -> ServiceContext:
    """A context acting on the actor's own tenant, or (super-admins only) on ``tenant_id``;
    anyone else asking for another tenant gets NotFoundError."""
    ctx = ServiceContext(actor, actor.tenant_id, client_ip)
    return ctx.for_tenant(tenant_id) if tenant_id else ctx

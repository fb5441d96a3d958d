"""Login and the actor/context helpers the app uses.

Throttling and lockout (:mod:`wework.services.login_throttle`, issue 16 item 3), decided
before argon2 runs: attempts per client address, a lockout per (username, address) after
``WEWORK_LOGIN_FAILURES_PER_PAIR`` failures — a stranger locks out only their own address,
never the user — and, under a distributed attack on one username, only addresses that
signed in as that user before may still try. At most ``WEWORK_LOGIN_MAX_CONCURRENT_HASHES``
argon2 verifications run at once per process.

- Each wrong password increments ``failed_login_count`` (shown to administrators); it
  no longer locks the user. ``locked_until`` (set by older versions) is honoured until
  it passes.
- For users ``inactive``/``locked``/``deleted`` or whose tenant is not ``active``, login
  fails even with the right password, and the counter is not touched.
- A successful login records ``last_login_time``/``last_login_ip`` and resets the counter.

Every failure raises the same :class:`AuthenticationError` message. Timing: the password
is verified with argon2 on every path — against the user's hash, or against a dummy hash
when the username is unknown or ambiguous — so a missing username costs the same as a
wrong password.

The username is compared in its canonical form (NFKC, lower-case; control characters
fail the login). New usernames are unique on the whole platform, so without
``tenant_code`` the username resolves to one user; deleted users never match. Should
older data hold one name in two tenants, the login without a tenant code fails (with the
same error) and the caller gives the tenant code.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.orm import Session

from wework.db.sharding import all_shards, shard_for_tenant
from wework.enums import TenantStatus, UserStatus
from wework.errors import AuthenticationError, NotFoundError
from wework.models import Tenant, User, utcnow
from wework.security import passwords
from wework.services import login_throttle
from wework.services import roles as roles_service
from wework.services import tenants as tenants_service
from wework.services.context import Actor, ServiceContext
from wework.services.fields import canonical_username
from wework.services.uow import shard_read_session, transaction
from wework.services.users import USERS


def _candidates(username: str, tenant_code: str | None) -> list[tuple[str, str]]:
    """(tenant_id, user_id) of the users not deleted whose canonical username is
    ``username`` (in ``tenant_code`` if given). The database's collation also matches
    accented or padded variants (``ädmin``, ``admin\\0``); only exact canonical equality
    counts."""
    found: list[tuple[str, str]] = []
    stmt = (select(User.tenant_id, User.id, User.username)
            .join(Tenant, Tenant.id == User.tenant_id)
            .where(User.username == username, User.status != UserStatus.DELETED))
    if tenant_code is not None:
        stmt = stmt.where(Tenant.tenant_code == tenant_code)
    for shard in all_shards():
        with shard_read_session(shard, fresh=True) as s:
            found.extend((row.tenant_id, row.id) for row in s.execute(stmt)
                         if _canonical_or_none(row.username) == username)
    return found


def _canonical_or_none(stored: str) -> str | None:
    try:
        return canonical_username(stored)
    except ValueError:  # a row from before the rule, holding a control character
        return None


def login(username: str, password: str, client_ip: str | None,
          tenant_code: str | None = None) -> Actor:
    """The actor for valid credentials; AuthenticationError (one message) otherwise, or
    TooManyAttemptsError when throttled (:mod:`login_throttle`, before argon2 runs)."""
    if not isinstance(username, str) or not isinstance(password, str) or not username:
        raise AuthenticationError()  # nothing to look up: no username exists as ""
    try:
        username = canonical_username(username)
    except ValueError:
        raise AuthenticationError() from None  # no user can have this name
    login_throttle.before_attempt(username, client_ip)
    actor = _verify(username, password, client_ip, tenant_code)
    if actor is None:
        login_throttle.record_failure(username, client_ip)
        raise AuthenticationError()
    login_throttle.record_success(username, client_ip)
    return actor


def _verify(username: str, password: str, client_ip: str | None,
            tenant_code: str | None) -> Actor | None:
    """The actor, or None for any failure (failures are counted on the user row). One
    argon2 verification on every path, in one of the process's bounded slots."""
    candidates = _candidates(username, tenant_code)
    with login_throttle.hash_slot():
        if len(candidates) != 1:
            passwords.verify_dummy(password)
            return None
        tenant_id, user_id = candidates[0]
        now = utcnow()
        with transaction(tenant_id) as s:
            user = s.get(User, user_id, with_for_update=True)
            tenant = s.get(Tenant, tenant_id)
            if user is None or tenant is None:
                passwords.verify_dummy(password)
                return None
            ok = passwords.verify_password(user.password_hash, password)
            usable = (
                user.status == UserStatus.ACTIVE
                and (user.locked_until is None or user.locked_until <= now)
                and tenant.status == TenantStatus.ACTIVE
            )
            if not usable:
                return None
            if not ok:
                user.failed_login_count += 1
                return None  # committed: the count is kept
            user.failed_login_count = 0
            user.locked_until = None
            user.last_login_time = now
            user.last_login_ip = (client_ip or None) and client_ip[:45]
            if passwords.needs_rehash(user.password_hash):
                user.password_hash = passwords.hash_password(password)
                user.salt = passwords.salt_hex(user.password_hash)
            return _actor(s, user)


def _actor(s: Session, user: User) -> Actor:
    permissions = roles_service.effective_permissions(user.id, session=s)
    return Actor(user_id=user.id, tenant_id=user.tenant_id, username=user.username,
                 permissions=permissions, session_stamp=session_stamp(user, permissions))


def session_stamp(user: User, permissions: frozenset[str]) -> str:
    """A digest of what a signed-in session rests on: the password (its hash changes
    with every reset or change) and the permissions (every role change). A session
    whose stamp differs from the current one has outlived them and ends (issue 16 item
    10); deactivation, deletion and a suspended tenant end it through :func:`actor_for`."""
    facts = "\x1f".join([user.id, user.password_hash, *sorted(permissions)])
    return hashlib.sha256(facts.encode()).hexdigest()[:32]


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
                 username=found["username"], permissions=frozenset(found["permissions"]),
                 session_stamp=found["session_stamp"])


def _user(user_id: str, tenant_id: str | None) -> dict | None:
    def load() -> dict | None:
        shards = [shard_for_tenant(tenant_id)] if tenant_id else all_shards()
        for shard in shards:
            with shard_read_session(shard, fresh=True) as s:
                user = s.get(User, user_id)
                if user is not None:
                    permissions = roles_service.effective_permissions(user.id, session=s)
                    return {"user_id": user.id, "tenant_id": user.tenant_id,
                            "username": user.username, "status": user.status.value,
                            "permissions": sorted(permissions),
                            "session_stamp": session_stamp(user, permissions)}
        return None

    return USERS.get(user_id, load)


def context_for(actor: Actor, tenant_id: str | None = None,
                client_ip: str | None = None) -> ServiceContext:
    """A context acting on the actor's own tenant, or (super-admins only) on ``tenant_id``;
    anyone else asking for another tenant gets NotFoundError."""
    ctx = ServiceContext(actor, actor.tenant_id, client_ip)
    return ctx.for_tenant(tenant_id) if tenant_id else ctx

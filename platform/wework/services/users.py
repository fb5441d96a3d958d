"""Users of a tenant: create, update, deactivate/reactivate, soft delete, lock/unlock,
password reset. Passwords are argon2id (:mod:`wework.security.passwords`); ``users.salt``
holds the salt embedded in the hash, as hex.

Status and lockout (the login side is in :mod:`wework.services.auth`):
- ``active``   may log in, unless ``locked_until`` is in the future (automatic lockout
  after 5 failed logins keeps the status ``active`` and only sets ``locked_until``).
- ``locked``   locked by an administrator (:func:`lock_user`) until :func:`unlock_user`.
- ``inactive`` deactivated; ``deleted`` soft-deleted. Neither may log in.
Usernames are canonical (NFKC, lower-case: ``fields.canonical_username``) and unique
on the whole platform among users not deleted; email is unique per tenant (ConflictError
naming the field).
Managing users needs ``user:manage``, and acting on a user (edit, status, lock, password)
holding every permission that user holds; only a platform admin acts on a platform admin.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from wework.cache.layers import cache
from wework.db.sharding import all_shards
from wework.enums import UserStatus
from wework.errors import ConflictError, NotFoundError, ValidationError
from wework.models import Role, User
from wework.security import passwords
from wework.services import audit, login_throttle
from wework.services import roles as roles_service
from wework.services.context import ServiceContext
from wework.services.fields import UNSET, check_password, parse, passed
from wework.services.inputs import NewUser, UserChanges
from wework.services.pagination import DEFAULT_LIMIT, Page, paginate
from wework.services.permissions import USER_MANAGE
from wework.services.rows import check_unique, flush_unique, load_owned
from wework.services.uow import read_session, shard_read_session, tenant_transaction, transaction

# The unique keys of users, each with the field it guards.
_UNIQUE_KEYS = {"uk_tenant_username": "username", "uk_tenant_email": "email"}
_TAKEN = "is already used in this tenant"


# Each user's status, tenant and effective permissions (wework.services.auth.actor_for),
# evicted here and by every role change (wework.services.roles).
USERS = cache("user")


def set_password(user: User, password: str) -> None:
    user.password_hash = passwords.hash_password(password)
    user.salt = passwords.salt_hex(user.password_hash)


def create_user(
    ctx: ServiceContext,
    *,
    username: str,
    email: str,
    password: str,
    phone: str | None = None,
    real_name: str | None = None,
    avatar_url: str | None = None,
    role_codes: list[str] | tuple[str, ...] = (),
    session: Session | None = None,
) -> User:
    """A new active user of ``ctx.tenant_id``, optionally given roles by code (in the
    caller's transaction with ``session``)."""
    ctx.require(USER_MANAGE)
    new = parse(NewUser, dict(username=username, email=email, password=password, phone=phone,
                              real_name=real_name, avatar_url=avatar_url,
                              role_codes=list(role_codes) if isinstance(role_codes, tuple)
                              else role_codes))
    username, email, phone, real_name, avatar_url = (
        new.username, new.email, new.phone, new.real_name, new.avatar_url)
    check_password("password", password, (username, email))
    with tenant_transaction(ctx, session) as s:
        check_unique(s, User.username, username, tenant_id=ctx.tenant_id, message=_TAKEN)
        _check_username_free(username)
        check_unique(s, User.email, email, tenant_id=ctx.tenant_id, message=_TAKEN)
        user = User(tenant_id=ctx.tenant_id, username=username, email=email, phone=phone,
                    real_name=real_name, avatar_url=avatar_url, status=UserStatus.ACTIVE,
                    failed_login_count=0)
        set_password(user, password)
        s.add(user)
        flush_unique(s, _UNIQUE_KEYS, _TAKEN)
        for code in new.role_codes:
            role_id = s.scalar(select(Role.id).where(Role.tenant_id == ctx.tenant_id,
                                                     Role.role_code == code))
            if role_id is None:
                raise ValidationError("role_codes", f"no role {code!r} in this tenant")
            roles_service.assign_role(ctx, user.id, role_id, session=s)
        audit.created(s, ctx, "user.create", user, detail={"role_codes": list(role_codes)})
    return user


def _load_target(s: Session, ctx: ServiceContext, user_id: str) -> User:
    """The (locked, not deleted) user an administrator acts on, refused unless the actor
    holds every permission that user holds (:func:`roles.check_may_act_on`)."""
    user = load_owned(s, ctx, User, user_id, "user", lock=True)
    if user.status == UserStatus.DELETED:
        raise NotFoundError("user", user_id)
    roles_service.check_may_act_on(s, ctx, user)
    return user


def _check_username_free(username: str) -> None:
    """Usernames are unique on the whole platform among users not deleted (issue 16 item
    9), so a login without a tenant code always resolves to one user and no tenant can
    squat another's name. Checked on every shard (the per-tenant unique key guards the
    race inside one shard; a simultaneous creation of one name on two shards is not)."""
    for shard in all_shards():
        with shard_read_session(shard, fresh=True) as s:
            if s.scalar(select(User.id).where(User.username == username,
                                              User.status != UserStatus.DELETED).limit(1)):
                raise ConflictError("username", f"{username!r} is already taken")


def get_user(ctx: ServiceContext, user_id: str) -> User:
    ctx.require(USER_MANAGE)
    with read_session(ctx.tenant_id, fresh=True) as s:
        return load_owned(s, ctx, User, user_id, "user")


def list_users(
    ctx: ServiceContext,
    *,
    status: UserStatus | str | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
    fresh: bool = False,
) -> Page[User]:
    """Users of the tenant, newest first (replica unless ``fresh``)."""
    ctx.require(USER_MANAGE)
    stmt = select(User).where(User.tenant_id == ctx.tenant_id)
    if status is not None:
        try:
            stmt = stmt.where(User.status == UserStatus(status))
        except ValueError as exc:
            raise ValidationError("status", f"unknown user status {status!r}") from exc
    with read_session(ctx.tenant_id, fresh=fresh) as s:
        return paginate(s, stmt, User.created_at, User.id, limit=limit, cursor=cursor)


def update_user(
    ctx: ServiceContext,
    user_id: str,
    *,
    email: Any = UNSET,
    phone: Any = UNSET,
    real_name: Any = UNSET,
    avatar_url: Any = UNSET,
) -> User:
    ctx.require(USER_MANAGE)
    changes = parse(UserChanges, passed(email=email, phone=phone, real_name=real_name,
                                        avatar_url=avatar_url)).given()
    with tenant_transaction(ctx) as s:
        user = _load_target(s, ctx, user_id)
        with audit.change(s, ctx, "user.update", user):
            if "email" in changes:
                check_unique(s, User.email, changes["email"], tenant_id=user.tenant_id,
                             exclude_id=user.id, message=_TAKEN)
            for field, value in changes.items():
                setattr(user, field, value)
            flush_unique(s, _UNIQUE_KEYS, _TAKEN)
    return user


def _set_status(ctx: ServiceContext, user_id: str, target: UserStatus,
                allowed_from: tuple[UserStatus, ...], *, clear_lock: bool = False) -> User:
    ctx.require(USER_MANAGE)
    if user_id == ctx.actor.user_id and target != UserStatus.ACTIVE:
        raise ValidationError("user_id", "you cannot deactivate, lock or delete yourself")
    with tenant_transaction(ctx) as s:
        user = _load_target(s, ctx, user_id)
        if user.status not in allowed_from:
            raise ValidationError("status", f"cannot change from {user.status} to {target}")
        with audit.change(s, ctx, _STATUS_ACTIONS[target], user):
            user.status = target
            if clear_lock:
                user.failed_login_count = 0
                user.locked_until = None
        USERS.evict_on_commit(s, user.id)
    return user


_STATUS_ACTIONS = {UserStatus.INACTIVE: "user.deactivate", UserStatus.ACTIVE: "user.reactivate",
                   UserStatus.DELETED: "user.delete", UserStatus.LOCKED: "user.lock"}


def deactivate_user(ctx: ServiceContext, user_id: str) -> User:
    return _set_status(ctx, user_id, UserStatus.INACTIVE, (UserStatus.ACTIVE, UserStatus.LOCKED))


def reactivate_user(ctx: ServiceContext, user_id: str) -> User:
    return _set_status(ctx, user_id, UserStatus.ACTIVE, (UserStatus.INACTIVE,), clear_lock=True)


def delete_user(ctx: ServiceContext, user_id: str) -> User:
    """Soft delete: status ``deleted``; the row stays (history, assigned_by references)."""
    return _set_status(ctx, user_id, UserStatus.DELETED,
                       (UserStatus.ACTIVE, UserStatus.INACTIVE, UserStatus.LOCKED))


def lock_user(ctx: ServiceContext, user_id: str) -> User:
    """Administrative lock: no login until :func:`unlock_user`."""
    return _set_status(ctx, user_id, UserStatus.LOCKED, (UserStatus.ACTIVE,))


def unlock_user(ctx: ServiceContext, user_id: str) -> User:
    """Lift an administrative lock and the sign-in lockouts (failed logins) of the user."""
    ctx.require(USER_MANAGE)
    with tenant_transaction(ctx) as s:
        user = _load_target(s, ctx, user_id)
        with audit.change(s, ctx, "user.unlock", user):
            if user.status == UserStatus.LOCKED:
                user.status = UserStatus.ACTIVE
            user.failed_login_count = 0
            user.locked_until = None
        USERS.evict_on_commit(s, user.id)
    login_throttle.clear(user.username)  # the sign-in lockouts of every address
    return user


def reset_password(ctx: ServiceContext, user_id: str, new_password: str) -> User:
    """Set a new password (administrator); also lifts an automatic lockout."""
    ctx.require(USER_MANAGE)
    with tenant_transaction(ctx) as s:
        user = _load_target(s, ctx, user_id)
        check_password("new_password", new_password, (user.username, user.email))
        with audit.change(s, ctx, "user.reset_password", user, detail={"password": "changed"}):
            set_password(user, new_password)
            user.failed_login_count = 0
            user.locked_until = None
        USERS.evict_on_commit(s, user.id)  # the cached session stamp rests on the password
    return user


def change_own_password(ctx: ServiceContext, old_password: str, new_password: str) -> None:
    """The acting user changes their own password; needs the current one."""
    check_password("new_password", new_password, (ctx.actor.username,))
    with transaction(ctx.actor.tenant_id) as s:
        user = s.get(User, ctx.actor.user_id, with_for_update=True)
        if user is None:
            raise NotFoundError("user", ctx.actor.user_id)
        if not passwords.verify_password(user.password_hash, old_password):
            raise ValidationError("old_password", "is not the current password")
        set_password(user, new_password)
        USERS.evict_on_commit(s, user.id)

"""WeCom accounts: CRUD with the tenant's ``max_accounts`` quota, encrypted contact
fields with keyed-hash lookups, the status state machine, heartbeats and the stale
heartbeat sweep.

State machine (``TRANSITIONS``; anything else raises InvalidTransitionError)::

    created         → logging_in
    logging_in      → waiting_scan | error
    waiting_scan    → waiting_confirm | need_verify | error | offline (QR code expired)
    waiting_confirm → online | need_verify | error
    need_verify     → online | error | offline
    online          → offline | error
    offline         → logging_in | recovering
    error           → recovering | logging_in | offline
    recovering      → online | error | offline

Every change (and the creation, ``None → created``) writes one ``account_status_history``
row (old, new, reason, error_message, extra_data, operator_id, operator_type) in the same
transaction as the status change. operator_type is ``user`` for a person, ``system`` for
platform work (system_context), ``auto`` for the heartbeat sweep (or when passed).

Login retries: ``login_retry_count`` goes up by one on every failed login attempt (a
change to ``error`` from logging_in, waiting_scan, waiting_confirm, need_verify or
recovering) and back to 0 when the account comes ``online``. A new attempt
(→ ``logging_in`` or → ``recovering``) is refused with LoginRetryLimitError once the count
reached the cap: ``tenants.config["max_login_retries"]`` if set, else
``MAX_LOGIN_RETRIES`` (5). :func:`reset_login_retries` lets an operator try again.
(Settings has no field for it; the cap is per tenant on purpose.)

Going ``offline`` or into ``error`` writes the tenant's ``account.offline`` /
``account.error`` webhook event in the same transaction (:mod:`wework.services.webhooks`).

Heartbeats: :func:`record_heartbeat` stamps ``last_heartbeat_time``;
:func:`sweep_stale_heartbeats` marks ``online`` accounts whose last sign of life
(heartbeat, else login time) is older than the timeout ``offline`` with reason
"heartbeat timeout", operator_type ``auto`` — on every shard.

Sensitive fields: ``phone``, ``email`` and ``login_token`` are encrypted at rest by the
model's EncryptedString; ``phone_hash``/``email_hash`` hold the keyed HMAC used by
:func:`find_by_phone` / :func:`find_by_email`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from wework.cache.layers import cache
from wework.db.sharding import all_shards, shard_for_tenant
from wework.enums import AccountStatus, OperatorType, WebhookEvent
from wework.errors import (
    InvalidTransitionError,
    NotFoundError,
    QuotaExceededError,
    ValidationError,
)
from wework.models import AccountStatusHistory, Tenant, User, WeworkAccount, utcnow
from wework.security.crypto import lookup_hash
from wework.services import audit
from wework.services.context import ServiceContext, system_context
from wework.services.fields import Email, Phone, ReportedTime, check, parse
from wework.services.inputs import AccountChanges, NewAccount, StatusChange
from wework.services.pagination import DEFAULT_LIMIT, Page, paginate
from wework.services.permissions import ACCOUNT_MANAGE
from wework.services.rows import check_unique, flush_unique, load_owned, require_owned
from wework.services.uow import (
    READ_COMMITTED,
    read_session,
    shard_read_session,
    shard_transaction,
    tenant_transaction,
)
from wework.services.webhooks import iso, record_event

S = AccountStatus
TRANSITIONS: dict[AccountStatus, frozenset[AccountStatus]] = {
    S.CREATED: frozenset({S.LOGGING_IN}),
    S.LOGGING_IN: frozenset({S.WAITING_SCAN, S.ERROR}),
    S.WAITING_SCAN: frozenset({S.WAITING_CONFIRM, S.NEED_VERIFY, S.ERROR, S.OFFLINE}),
    S.WAITING_CONFIRM: frozenset({S.ONLINE, S.NEED_VERIFY, S.ERROR}),
    S.NEED_VERIFY: frozenset({S.ONLINE, S.ERROR, S.OFFLINE}),
    S.ONLINE: frozenset({S.OFFLINE, S.ERROR}),
    S.OFFLINE: frozenset({S.LOGGING_IN, S.RECOVERING}),
    S.ERROR: frozenset({S.RECOVERING, S.LOGGING_IN, S.OFFLINE}),
    S.RECOVERING: frozenset({S.ONLINE, S.ERROR, S.OFFLINE}),
}
LOGIN_STATES = frozenset({S.LOGGING_IN, S.WAITING_SCAN, S.WAITING_CONFIRM, S.NEED_VERIFY,
                          S.RECOVERING})
LOGIN_ATTEMPTS = frozenset({S.LOGGING_IN, S.RECOVERING})
MAX_LOGIN_RETRIES = 5
HEARTBEAT_TIMEOUT_SECONDS = 90
SWEEP_BATCH = 500
HEARTBEAT_TIMEOUT_REASON = "heartbeat timeout"
# Status changes the tenant hears about through its webhook (same transaction).
WEBHOOK_EVENTS = {S.OFFLINE: WebhookEvent.ACCOUNT_OFFLINE, S.ERROR: WebhookEvent.ACCOUNT_ERROR}


class LoginRetryLimitError(InvalidTransitionError):
    """A new login attempt past the tenant's login-retry cap."""

    def __init__(self, current: str, target: str, cap: int):
        ValidationError.__init__(
            self, "login_retry_count",
            f"{cap} failed login attempts (the cap): reset_login_retries before {target}",
        )
        self.current = current
        self.target = target


def allowed_transitions(status: AccountStatus | str) -> frozenset[AccountStatus]:
    return TRANSITIONS[AccountStatus(status)]


def _status(field: str, value: Any) -> AccountStatus:
    try:
        return AccountStatus(value)
    except ValueError as exc:
        raise ValidationError(
            field, f"unknown account status {value!r}; one of {', '.join(S)}"
        ) from exc


def _history(s: Session, ctx: ServiceContext, account: WeworkAccount, old: str | None,
             new: str, *, reason: str | None = None, error_message: str | None = None,
             extra_data: dict | None = None, operator_type: str | None = None) -> None:
    s.add(AccountStatusHistory(
        account_id=account.id, old_status=old, new_status=new,
        reason=reason, error_message=error_message, extra_data=extra_data,
        operator_id=ctx.actor.user_id,
        operator_type=OperatorType(operator_type or ctx.operator_type),
        created_at=utcnow(),
    ))


def _with_lookup_hashes(fields: dict[str, Any]) -> dict[str, Any]:
    """The validated fields, with the keyed hashes of a phone or e-mail being set."""
    out = dict(fields)
    if "phone" in out:
        out["phone_hash"] = lookup_hash(out["phone"])
    if "email" in out:
        out["email_hash"] = lookup_hash(out["email"])
    return out


# The unique keys of accounts, each with the field it guards (uk_guid_active is the
# spec's partial unique key on guid).
_UNIQUE_KEYS = {"uk_tenant_account_name": "account_name", "uk_guid": "guid"}


def _check_unique(s: Session, tenant_id: str, fields: dict[str, Any],
                  exclude_id: str | None = None) -> None:
    """account_name is unique in the tenant, guid (a WeCom instance) everywhere."""
    if fields.get("account_name") is not None:
        check_unique(s, WeworkAccount.account_name, fields["account_name"],
                     tenant_id=tenant_id, exclude_id=exclude_id)
    if fields.get("guid") is not None:
        check_unique(s, WeworkAccount.guid, fields["guid"], exclude_id=exclude_id)


def create_account(
    ctx: ServiceContext,
    *,
    account_name: str,
    phone: str | None = None,
    email: str | None = None,
    user_id: str | None = None,
    guid: str | None = None,
    login_token: str | None = None,
    qr_code_url: str | None = None,
    config: dict[str, Any] | None = None,
) -> WeworkAccount:
    """A new account in status ``created``; refused past the tenant's ``max_accounts``."""
    ctx.require(ACCOUNT_MANAGE)
    fields = _with_lookup_hashes(parse(NewAccount, dict(
        account_name=account_name, phone=phone, email=email, user_id=user_id, guid=guid,
        login_token=login_token, qr_code_url=qr_code_url, config=config)).given())
    with tenant_transaction(ctx) as s:
        # Locking the tenant row serialises concurrent creations against the quota.
        tenant = s.get(Tenant, ctx.tenant_id, with_for_update=True)
        if tenant is None:
            raise NotFoundError("tenant", ctx.tenant_id)
        require_owned(s, ctx, User, {fields.get("user_id")}, "user_id")
        count = s.scalar(select(func.count()).select_from(WeworkAccount)
                         .where(WeworkAccount.tenant_id == ctx.tenant_id))
        if count >= tenant.max_accounts:
            raise QuotaExceededError(
                "max_accounts", f"the tenant may have {tenant.max_accounts} accounts "
                f"and has {count}")
        _check_unique(s, ctx.tenant_id, fields)
        account = WeworkAccount(tenant_id=ctx.tenant_id, status=S.CREATED,
                                login_retry_count=0, **fields)
        s.add(account)
        flush_unique(s, _UNIQUE_KEYS)
        _history(s, ctx, account, None, S.CREATED, reason="created")
        audit.created(s, ctx, "account.create", account)
    return account


def get_account(ctx: ServiceContext, account_id: str) -> WeworkAccount:
    """Read from the primary (fresh)."""
    ctx.require(ACCOUNT_MANAGE)
    with read_session(ctx.tenant_id, fresh=True) as s:
        return load_owned(s, ctx, WeworkAccount, account_id, "account")


def list_accounts(
    ctx: ServiceContext,
    *,
    status: AccountStatus | str | None = None,
    user_id: str | None = None,
    name_contains: str | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
    fresh: bool = False,
) -> Page[WeworkAccount]:
    """The tenant's accounts, newest first, filtered; replica unless ``fresh``."""
    ctx.require(ACCOUNT_MANAGE)
    stmt = select(WeworkAccount).where(WeworkAccount.tenant_id == ctx.tenant_id)
    if status is not None:
        stmt = stmt.where(WeworkAccount.status == _status("status", status))
    if user_id is not None:
        stmt = stmt.where(WeworkAccount.user_id == user_id)
    if name_contains:
        pattern = name_contains.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")
        stmt = stmt.where(WeworkAccount.account_name.like(f"%{pattern}%", escape="\\"))
    with read_session(ctx.tenant_id, fresh=fresh) as s:
        require_owned(s, ctx, User, {user_id}, "user_id")
        return paginate(s, stmt, WeworkAccount.created_at, WeworkAccount.id,
                        limit=limit, cursor=cursor)


def update_account(ctx: ServiceContext, account_id: str, **changes: Any) -> WeworkAccount:
    """Change any of account_name, phone, email, user_id, guid, login_token, qr_code_url,
    config, user_info. The status changes only through :func:`change_status`."""
    fields = _with_lookup_hashes(parse(AccountChanges, changes).given())
    ctx.require(ACCOUNT_MANAGE)
    with tenant_transaction(ctx) as s:
        account = load_owned(s, ctx, WeworkAccount, account_id, "account", lock=True)
        require_owned(s, ctx, User, {fields.get("user_id")}, "user_id")
        _check_unique(s, account.tenant_id, fields, exclude_id=account.id)
        if "guid" in fields:
            ACCOUNT_GUIDS.evict_on_commit(s, account.guid, fields["guid"])
            ACCOUNTS.evict_on_commit(s, account.id)
        with audit.change(s, ctx, "account.update", account):
            for field, value in fields.items():
                setattr(account, field, value)
            flush_unique(s, _UNIQUE_KEYS)
    return account


def _find_by_hash(ctx: ServiceContext, column, digest: str) -> list[WeworkAccount]:
    with read_session(ctx.tenant_id, fresh=True) as s:
        return list(s.scalars(select(WeworkAccount).where(
            WeworkAccount.tenant_id == ctx.tenant_id, column == digest)))


def find_by_phone(ctx: ServiceContext, phone: str) -> list[WeworkAccount]:
    """Accounts of the tenant bound to this phone number (via phone_hash)."""
    ctx.require(ACCOUNT_MANAGE)
    return _find_by_hash(ctx, WeworkAccount.phone_hash, lookup_hash(check(Phone, "phone", phone)))


def find_by_email(ctx: ServiceContext, email: str) -> list[WeworkAccount]:
    """Accounts of the tenant bound to this email address (via email_hash)."""
    ctx.require(ACCOUNT_MANAGE)
    return _find_by_hash(ctx, WeworkAccount.email_hash, lookup_hash(check(Email, "email", email)))


def _retry_cap(s: Session, tenant_id: str) -> int:
    tenant = s.get(Tenant, tenant_id)
    configured = (tenant.config or {}).get("max_login_retries") if tenant else None
    if isinstance(configured, int) and not isinstance(configured, bool) and configured >= 0:
        return configured
    return MAX_LOGIN_RETRIES


def change_status(
    ctx: ServiceContext,
    account_id: str,
    new_status: AccountStatus | str,
    *,
    reason: str | None = None,
    error_message: str | None = None,
    extra_data: dict[str, Any] | None = None,
    session: Session | None = None,
    operator_type: OperatorType | str | None = None,
) -> WeworkAccount:
    """Move the account along the state machine and record the history row, atomically.

    With ``session`` (a transaction on the account's tenant shard) it joins the caller's
    transaction; otherwise it runs its own. ``operator_type`` overrides the default
    (``user``, or ``system`` for a system context)."""
    ctx.require(ACCOUNT_MANAGE)
    change = parse(StatusChange, dict(new_status=new_status, reason=reason,
                                      error_message=error_message, extra_data=extra_data))
    target, reason, error_message, extra_data = (change.new_status, change.reason,
                                                 change.error_message, change.extra_data)
    if operator_type is not None:
        operator_type = OperatorType(operator_type)
    with tenant_transaction(ctx, session) as s:
        account = load_owned(s, ctx, WeworkAccount, account_id, "account", lock=True)
        old = AccountStatus(account.status)
        allowed = TRANSITIONS[old]
        if target not in allowed:
            raise InvalidTransitionError("status", old.value, target.value,
                                         sorted(a.value for a in allowed))
        if target in LOGIN_ATTEMPTS:
            cap = _retry_cap(s, account.tenant_id)
            if account.login_retry_count >= cap:
                raise LoginRetryLimitError(old.value, target.value, cap)
        now = utcnow()
        account.status = target
        if target == S.ONLINE:
            account.last_login_time = now
            account.last_heartbeat_time = now
            account.login_retry_count = 0
            account.error_message = None
        elif target == S.ERROR:
            if old in LOGIN_STATES:
                account.login_retry_count += 1
            account.error_message = error_message
        _history(s, ctx, account, old.value, target.value, reason=reason,
                 error_message=error_message, extra_data=extra_data,
                 operator_type=operator_type)
        if target in WEBHOOK_EVENTS:
            record_event(s, account.tenant_id, WEBHOOK_EVENTS[target], {
                "account_id": account.id, "account_name": account.account_name,
                "guid": account.guid, "old_status": old.value, "new_status": target.value,
                "reason": reason, "error_message": error_message, "at": iso(now),
            }, now)
        s.flush()
        audit.record(s, ctx, "account.change_status", account.__tablename__, account.id,
                     before={"status": old.value}, after={"status": target.value},
                     detail={"reason": reason} if reason else None)
    return account


def reset_login_retries(ctx: ServiceContext, account_id: str) -> WeworkAccount:
    """Allow new login attempts after the retry cap was reached."""
    ctx.require(ACCOUNT_MANAGE)
    with tenant_transaction(ctx) as s:
        account = load_owned(s, ctx, WeworkAccount, account_id, "account", lock=True)
        with audit.change(s, ctx, "account.reset_login_retries", account):
            account.login_retry_count = 0
    return account


def status_history(ctx: ServiceContext, account_id: str) -> list[AccountStatusHistory]:
    """The account's history rows, oldest first (primary)."""
    ctx.require(ACCOUNT_MANAGE)
    with read_session(ctx.tenant_id, fresh=True) as s:
        load_owned(s, ctx, WeworkAccount, account_id, "account")
        return list(s.scalars(
            select(AccountStatusHistory).where(AccountStatusHistory.account_id == account_id)
            .order_by(AccountStatusHistory.created_at, AccountStatusHistory.id)))


def heartbeat_time(at: datetime | None, field: str = "at") -> datetime:
    """The heartbeat's time as naive UTC (now when None); ValidationError naming ``field``
    when it is more than MAX_CLOCK_SKEW ahead of now (``fields.ReportedTime``)."""
    return utcnow() if at is None else check(ReportedTime, field, at)


def record_heartbeat(ctx: ServiceContext, account_id: str,
                     at: datetime | None = None) -> WeworkAccount:
    """Stamp ``last_heartbeat_time`` (naive UTC; now by default; refused beyond a small
    clock skew ahead). Does not change status."""
    ctx.require(ACCOUNT_MANAGE)
    at = heartbeat_time(at)
    with tenant_transaction(ctx) as s:
        account = load_owned(s, ctx, WeworkAccount, account_id, "account", lock=True)
        account.last_heartbeat_time = at
        s.flush()
    return account


def sweep_stale_heartbeats(timeout_seconds: float = HEARTBEAT_TIMEOUT_SECONDS,
                           now: datetime | None = None) -> list[str]:
    """Mark every ``online`` account (all shards) whose last heartbeat (or, without one,
    its login) is older than ``timeout_seconds`` as ``offline``; return their ids.

    Works in batches of SWEEP_BATCH rows, each batch one transaction; rows locked by a
    concurrent writer are skipped (SKIP LOCKED) and caught by the next sweep."""
    if timeout_seconds <= 0:
        raise ValidationError("timeout_seconds", "must be positive")
    cutoff = (now or utcnow()) - timedelta(seconds=timeout_seconds)
    last_sign = func.coalesce(WeworkAccount.last_heartbeat_time,
                              WeworkAccount.last_login_time, WeworkAccount.updated_at)
    swept: list[str] = []
    for shard in all_shards():
        while True:
            # A sweep: under REPEATABLE READ its read locked every online account it
            # looked at, stale or not, and heartbeats waited (uow.READ_COMMITTED).
            with shard_transaction(shard, isolation_level=READ_COMMITTED) as s:
                stale = list(s.scalars(
                    select(WeworkAccount)
                    .where(WeworkAccount.status == S.ONLINE, last_sign < cutoff)
                    .order_by(WeworkAccount.id).limit(SWEEP_BATCH)
                    .with_for_update(skip_locked=True)))
                for account in stale:
                    change_status(
                        system_context(account.tenant_id), account.id, S.OFFLINE,
                        reason=HEARTBEAT_TIMEOUT_REASON,
                        extra_data={"last_heartbeat_time": str(account.last_heartbeat_time),
                                    "timeout_seconds": timeout_seconds},
                        operator_type=OperatorType.AUTO, session=s)
                    swept.append(account.id)
            if len(stale) < SWEEP_BATCH:
                break
    return swept


# ---------------------------------------------------------------- cached references

# Which tenant an account (by id) or a WeCom instance (by guid) belongs to: the callback
# hot path and every send. An account never changes tenant; its guid changes only in
# update_account, which evicts both.
ACCOUNTS = cache("account")
ACCOUNT_GUIDS = cache("account_guid")


@dataclass(frozen=True)
class AccountRef:
    id: str
    tenant_id: str
    guid: str | None


def _ref_value(row) -> dict[str, Any]:
    return {"id": row.id, "tenant_id": row.tenant_id, "guid": row.guid}


def accounts_by_guid(guids: list[str] | set[str]) -> dict[str, AccountRef]:
    """guid -> the account that has it, for the guids some account has (any shard)."""

    def load(missing: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for shard in all_shards():
            with shard_read_session(shard, fresh=True) as s:
                for row in s.execute(
                    select(WeworkAccount.id, WeworkAccount.tenant_id, WeworkAccount.guid)
                    .where(WeworkAccount.guid.in_(missing))
                ):
                    found[row.guid] = _ref_value(row)
        return found

    if not guids:
        return {}
    return {g: AccountRef(**v) for g, v in ACCOUNT_GUIDS.get_many(list(guids), load).items()}


def get_by_guid(guid: str) -> AccountRef:
    """The account with this WeCom instance GUID on any shard, for callbacks (no tenant
    context yet). NotFoundError when none has it."""
    found = accounts_by_guid([guid]).get(guid)
    if found is None:
        raise NotFoundError("account", guid)
    return found


def owned_account_ids(tenant_id: str, account_ids: set[str]) -> set[str]:
    """The ids among ``account_ids`` that are accounts of ``tenant_id``."""

    def load(missing: list[str]) -> dict[str, dict[str, Any]]:
        with shard_read_session(shard_for_tenant(tenant_id), fresh=True) as s:
            return {row.id: _ref_value(row) for row in s.execute(
                select(WeworkAccount.id, WeworkAccount.tenant_id, WeworkAccount.guid)
                .where(WeworkAccount.id.in_(missing), WeworkAccount.tenant_id == tenant_id))}

    found = ACCOUNTS.get_many(sorted(account_ids), load)
    return {i for i, v in found.items() if v["tenant_id"] == tenant_id}

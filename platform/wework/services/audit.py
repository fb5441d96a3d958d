"""The audit log: every administrative write a user makes is recorded — who, on which
tenant, what action on which object, when, from which client address, and the changed
fields before and after — in the same transaction as the write (it commits or rolls
back with it). Writes by the platform itself (dispatcher, sweeps, callbacks: system
contexts) are not audited here; they leave their own history rows.

What is never recorded: secrets and credentials (``SECRET_FIELDS``: password hashes,
salts, tokens, signing secrets) and the values of personal data encrypted at rest
(phones, e-mails: an :class:`~wework.security.crypto.EncryptedString` column is recorded
as ``"changed"``, never by value).

Reading: a tenant's own log needs ``tenant:manage``; a platform admin reads every
tenant's (the rows live on each tenant's shard; :func:`list_entries` merges them).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from wework.db.sharding import all_shards
from wework.models import AuditLog
from wework.security.crypto import EncryptedString
from wework.services.context import ServiceContext
from wework.services.pagination import (
    DEFAULT_LIMIT,
    Page,
    check_limit,
    keyset,
    merge_pages,
    paginate,
)
from wework.services.permissions import PLATFORM_ADMIN, TENANT_MANAGE
from wework.services.uow import read_session, shard_read_session

SECRET_FIELDS = frozenset({"password_hash", "salt", "login_token", "secret", "token",
                           "phone_hash", "email_hash"})
SKIPPED_FIELDS = frozenset({"created_at", "updated_at"})
CHANGED = "changed"  # stands for the value of personal data encrypted at rest


def _plain(value: Any) -> Any:
    if isinstance(value, dict | list):
        # As JSON text: the row's own nesting (changes → field → before) must not push a
        # value that was just deep enough for its column past what MariaDB stores.
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def snapshot(row: Any) -> dict[str, Any]:
    """The auditable fields of an ORM row: JSON-ready values, secrets left out, encrypted
    personal data replaced by a digest-free marker of whether it is set."""
    out: dict[str, Any] = {}
    for column in inspect(row).mapper.columns:
        key = column.key
        if key in SECRET_FIELDS or key in SKIPPED_FIELDS:
            continue
        value = getattr(row, key)
        if isinstance(column.type, EncryptedString):
            out[key] = (CHANGED, value)  # compared by value, stored as the marker only
        else:
            out[key] = _plain(value)
    return out


def changes(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any]:
    """``{field: {"before": …, "after": …}}`` for every field whose value differs."""
    before, after = before or {}, after or {}
    out = {}
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if isinstance(old, tuple) or isinstance(new, tuple):  # encrypted: never the value
            out[key] = {"before": CHANGED if old and old[1] is not None else None,
                        "after": CHANGED if new and new[1] is not None else None}
        else:
            out[key] = {"before": old, "after": new}
    return out


def record(s: Session, ctx: ServiceContext, action: str, object_type: str,
           object_id: str | None, *, before: dict[str, Any] | None = None,
           after: dict[str, Any] | None = None, detail: dict[str, Any] | None = None,
           tenant_id: str | None = None) -> AuditLog | None:
    """Add the audit row of one write to ``s`` (the write's own transaction). ``before``
    and ``after`` are :func:`snapshot`s (None for a creation/deletion side); ``detail``
    adds fields that are not columns (e.g. the role assigned); ``tenant_id``: the tenant
    acted on when it is not the context's (a tenant created or changed by a platform
    admin). Nothing for a system context."""
    if ctx.actor.is_system:
        return None
    diff = changes(before, after)
    if detail:
        diff.update({k: {"after": _plain(v)} for k, v in detail.items()
                     if k not in SECRET_FIELDS})
    entry = AuditLog(tenant_id=tenant_id or ctx.tenant_id, actor_id=ctx.actor.user_id,
                     actor_tenant_id=ctx.actor.tenant_id, actor_name=ctx.actor.username[:50],
                     action=action, object_type=object_type,
                     object_id=None if object_id is None else str(object_id)[:64],
                     client_ip=(ctx.client_ip or None) and ctx.client_ip[:45],
                     changes=diff or None)
    s.add(entry)
    return entry


def created(s: Session, ctx: ServiceContext, action: str, row: Any, *,
            detail: dict[str, Any] | None = None, tenant_id: str | None = None) -> None:
    """Record the creation of ``row`` (flushed first, so it has its id and defaults)."""
    s.flush()
    record(s, ctx, action, row.__tablename__, row.id, after=snapshot(row), detail=detail,
           tenant_id=tenant_id)


@contextmanager
def change(s: Session, ctx: ServiceContext, action: str, row: Any, *,
           detail: dict[str, Any] | None = None,
           tenant_id: str | None = None) -> Iterator[None]:
    """Record what the block changes on ``row``: its snapshot before and after (the block
    raising records nothing: the transaction rolls back anyway)."""
    before = snapshot(row)
    yield
    s.flush()
    record(s, ctx, action, row.__tablename__, row.id, before=before, after=snapshot(row),
           detail=detail, tenant_id=tenant_id)


def list_entries(ctx: ServiceContext, *, all_tenants: bool = False, action: str | None = None,
                 limit: int = DEFAULT_LIMIT, cursor: str | None = None) -> Page[AuditLog]:
    """The log, newest first: the acting tenant's (``tenant:manage``), or with
    ``all_tenants`` every tenant's (platform admins only). From the primary: an audit
    read must not miss the latest writes."""
    ctx.require(TENANT_MANAGE)
    stmt = select(AuditLog)
    if action:
        stmt = stmt.where(AuditLog.action == action)
    if not all_tenants:
        stmt = stmt.where(AuditLog.tenant_id == ctx.tenant_id)
        with read_session(ctx.tenant_id, fresh=True) as s:
            return paginate(s, stmt, AuditLog.created_at, AuditLog.id, limit=limit,
                            cursor=cursor)
    ctx.require(PLATFORM_ADMIN)
    per_shard = []
    for shard in all_shards():
        with shard_read_session(shard, fresh=True) as s:
            page_stmt = keyset(stmt, AuditLog.created_at, AuditLog.id, check_limit(limit),
                               cursor)
            per_shard.append(list(s.scalars(page_stmt)))
    return merge_pages(per_shard, limit, lambda e: (e.created_at, e.id))

"""Tenant webhooks: the outbox, the signing secret, the deliveries list and replay.

Events (``WebhookEvent``): ``batch.completed``, ``account.offline``, ``account.error``,
``message.failed`` (failed for good: retries used up, refused, or a failed delivery
receipt). :func:`record_events` writes them to ``webhook_outbox`` inside the caller's
transaction, the one making the change, so the change and its event commit together or
not at all. Only tenants with a ``webhook_url`` get rows: nothing piles up for tenants
that never configured one. The body a tenant receives (Standard Webhooks style)::

    {"type": "batch.completed", "timestamp": "2026-11-29T19:30:00Z", "data": {...}}

signed with the tenant's secret over ``webhook-id.webhook-timestamp.body`` (headers
``webhook-id`` = the outbox row id, stable across retries; ``webhook-timestamp``;
``webhook-signature``), delivered by the worker (:mod:`wework.worker.webhooks`) with
retries until ``WEWORK_WEBHOOK_GIVE_UP_HOURS`` (24 h) after the event.

Tenant operations need ``tenant:manage`` and act only on the caller's tenant:
:func:`create_secret` (the secret is returned once and stored encrypted; rotating keeps
the previous one signing for ``WEWORK_WEBHOOK_SECRET_OVERLAP_HOURS``),
:func:`list_deliveries`, :func:`replay_deliveries`.

The worker's side (system, every shard): :func:`claim_due`, :func:`record_attempts`,
:func:`purge_finished`.
"""

from __future__ import annotations

import base64
import secrets as pysecrets
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from wework.config import get_settings
from wework.db.sharding import all_shards
from wework.enums import OutboxStatus, TenantStatus, WebhookEvent
from wework.errors import NotFoundError, ValidationError
from wework.models import Tenant, TenantWebhookSecret, WebhookOutbox, new_id, utcnow
from wework.services import audit
from wework.services.context import ServiceContext
from wework.services.fields import parse
from wework.services.inputs import DeliveryReplay
from wework.services.pagination import Page, paginate
from wework.services.permissions import TENANT_MANAGE
from wework.services.uow import (
    READ_COMMITTED,
    read_session,
    shard_transaction,
    tenant_transaction,
)

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
MAX_ERROR = 1000
FINISHED = (OutboxStatus.DELIVERED, OutboxStatus.FAILED)


# ---------------------------------------------------------------- the outbox (writers)


@dataclass(frozen=True)
class Event:
    tenant_id: str
    type: WebhookEvent
    data: dict[str, Any]


def iso(at: datetime) -> str:
    return at.replace(microsecond=0).isoformat() + "Z"


def record_events(session: Session, events: Sequence[Event], now: datetime) -> int:
    """Write the events of tenants that have a webhook URL to the outbox, in the caller's
    transaction (one lookup, one multi-row INSERT). Returns the rows written."""
    if not events:
        return 0
    tenant_ids = {e.tenant_id for e in events}
    with_url = set(
        session.scalars(
            select(Tenant.id).where(
                Tenant.id.in_(tenant_ids),
                Tenant.webhook_url.is_not(None),
                Tenant.webhook_url != "",
            )
        )
    )
    expires = now + timedelta(hours=get_settings().webhook_give_up_hours)
    rows = [
        {
            "id": new_id(),
            "tenant_id": e.tenant_id,
            "event_type": e.type.value,
            "payload": {"type": e.type.value, "timestamp": iso(now), "data": e.data},
            "status": OutboxStatus.PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "expires_at": expires,
            "created_at": now,
            "updated_at": now,
        }
        for e in events
        if e.tenant_id in with_url
    ]
    if rows:
        session.execute(insert(WebhookOutbox.__table__), rows)
    return len(rows)


def record_event(
    session: Session, tenant_id: str, event: WebhookEvent, data: dict[str, Any], now: datetime
) -> int:
    return record_events(session, [Event(tenant_id, event, data)], now)


# ---------------------------------------------------------------- signing secrets


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(pysecrets.token_bytes(SECRET_BYTES)).decode()


def create_secret(ctx: ServiceContext) -> str:
    """Create (or rotate) the tenant's signing secret and return it: the only time it is
    shown. After a rotation the previous secret keeps signing (a second signature in
    ``webhook-signature``) for the overlap period, so a receiver can switch over."""
    ctx.require(TENANT_MANAGE)
    secret = new_secret()
    now = utcnow()
    overlap = timedelta(hours=get_settings().webhook_secret_overlap_hours)
    with tenant_transaction(ctx) as s:
        row = s.get(TenantWebhookSecret, ctx.tenant_id, with_for_update=True)
        if row is None:
            s.add(TenantWebhookSecret(tenant_id=ctx.tenant_id, secret=secret, created_at=now,
                                      updated_at=now))
        else:
            row.previous_secret = row.secret if overlap else None
            row.previous_valid_until = now + overlap if overlap else None
            row.secret = secret
            row.updated_at = now
        audit.record(s, ctx, "webhook.create_secret", "tenant_webhook_secrets", ctx.tenant_id,
                     detail={"signing_secret": "rotated" if row is not None else "created"})
    return secret


@dataclass(frozen=True)
class SecretInfo:
    exists: bool
    created_at: datetime | None = None
    rotated_at: datetime | None = None
    previous_valid_until: datetime | None = None  # the rotated-out secret signs until


def secret_info(ctx: ServiceContext) -> SecretInfo:
    """Whether the tenant has a signing secret and when it changed (never the secret)."""
    ctx.require(TENANT_MANAGE)
    with read_session(ctx.tenant_id, fresh=True) as s:
        row = s.get(TenantWebhookSecret, ctx.tenant_id)
        if row is None:
            return SecretInfo(False)
        now = utcnow()
        until = row.previous_valid_until
        return SecretInfo(
            True,
            row.created_at,
            row.updated_at if row.updated_at != row.created_at else None,
            until if until and until > now else None,
        )


def signing_secrets(session: Session, tenant_ids: Iterable[str], now: datetime
                    ) -> dict[str, list[str]]:
    """tenant id -> the secrets to sign with now (current first, then one still in its
    overlap). Decrypted here, for the worker only; never logged."""
    out: dict[str, list[str]] = {}
    for row in session.scalars(
        select(TenantWebhookSecret).where(TenantWebhookSecret.tenant_id.in_(set(tenant_ids)))
    ):
        keys = [row.secret]
        if row.previous_secret and row.previous_valid_until and row.previous_valid_until > now:
            keys.append(row.previous_secret)
        out[row.tenant_id] = keys
    return out


# ---------------------------------------------------------------- deliveries (tenant view)


def list_deliveries(
    ctx: ServiceContext,
    *,
    status: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page[WebhookOutbox]:
    """The tenant's webhook events, newest first, with status, attempts and last error
    (primary: the page follows deliveries as they happen)."""
    ctx.require(TENANT_MANAGE)
    stmt = select(WebhookOutbox).where(WebhookOutbox.tenant_id == ctx.tenant_id)
    if status is not None:
        try:
            stmt = stmt.where(WebhookOutbox.status == OutboxStatus(status))
        except ValueError:
            known = ", ".join(s.value for s in OutboxStatus)
            raise ValidationError("status", f"unknown delivery status {status!r}; one of "
                                            f"{known}") from None
    with read_session(ctx.tenant_id, fresh=True) as s:
        return paginate(s, stmt, WebhookOutbox.created_at, WebhookOutbox.id,
                        limit=limit, cursor=cursor)


def replay_deliveries(ctx: ServiceContext, ids: list[str]) -> int:
    """Deliver the chosen events again now, with a fresh give-up window; a delivered
    event is sent once more (receivers de-duplicate by ``webhook-id``). Another tenant's
    id is not found. Returns how many were queued."""
    ids = parse(DeliveryReplay, {"ids": ids}).ids
    ctx.require(TENANT_MANAGE)
    now = utcnow()
    wanted = list(dict.fromkeys(ids))
    with tenant_transaction(ctx) as s:
        found = dict(
            s.execute(
                select(WebhookOutbox.id, WebhookOutbox.status)
                .where(WebhookOutbox.tenant_id == ctx.tenant_id, WebhookOutbox.id.in_(wanted))
                .with_for_update()
            ).all()
        )
        for delivery_id in wanted:
            if delivery_id not in found:
                raise NotFoundError("webhook delivery", delivery_id)
            if found[delivery_id] is OutboxStatus.DELIVERING:
                raise ValidationError("ids", f"delivery {delivery_id} is being sent right now")
        audit.record(s, ctx, "webhook.replay", "webhook_outbox", None,
                     detail={"ids": wanted})
        return s.execute(
            update(WebhookOutbox)
            .where(WebhookOutbox.tenant_id == ctx.tenant_id, WebhookOutbox.id.in_(wanted))
            .values(
                status=OutboxStatus.PENDING,
                next_attempt_at=now,
                expires_at=now + timedelta(hours=get_settings().webhook_give_up_hours),
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        ).rowcount


# ---------------------------------------------------------------- the worker's side


@dataclass(frozen=True)
class Delivery:
    """One claimed event, with what the worker needs to send it."""

    id: str
    shard: int
    tenant_id: str
    url: str | None  # None: the tenant has no URL (any more) or is not active
    secrets: list[str]  # empty: no signing secret yet
    payload: dict[str, Any]
    attempts: int  # before this one
    expires_at: datetime


@dataclass(frozen=True)
class Attempt:
    delivery: Delivery
    ok: bool
    status_code: int | None = None
    error: str | None = None
    retryable: bool = True


def claim_due(shard: int, limit: int, lease: timedelta, now: datetime | None = None
              ) -> list[Delivery]:
    """Claim up to ``limit`` due events of one shard: pending ones whose next attempt is
    due, and ones whose claim expired (their worker died mid-delivery). Claimed rows
    become ``delivering`` until ``now + lease``; rows another worker holds are skipped."""
    now = now or utcnow()
    # A sweep: no gap lock where the next event goes (uow.READ_COMMITTED).
    with shard_transaction(shard, isolation_level=READ_COMMITTED) as s:
        rows = list(
            s.scalars(
                select(WebhookOutbox)
                .where(
                    WebhookOutbox.status.in_([OutboxStatus.PENDING, OutboxStatus.DELIVERING]),
                    WebhookOutbox.next_attempt_at <= now,
                )
                .order_by(WebhookOutbox.next_attempt_at, WebhookOutbox.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        if not rows:
            return []
        s.execute(
            update(WebhookOutbox)
            .where(WebhookOutbox.id.in_([r.id for r in rows]))
            .values(status=OutboxStatus.DELIVERING, next_attempt_at=now + lease, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        tenant_ids = {r.tenant_id for r in rows}
        urls = dict(
            s.execute(
                select(Tenant.id, Tenant.webhook_url).where(
                    Tenant.id.in_(tenant_ids), Tenant.status == TenantStatus.ACTIVE
                )
            ).all()
        )
        keys = signing_secrets(s, tenant_ids, now)
    return [
        Delivery(r.id, shard, r.tenant_id, urls.get(r.tenant_id) or None,
                 keys.get(r.tenant_id, []), r.payload, r.attempts, r.expires_at)
        for r in rows
    ]


def retry_delay(attempts: int) -> timedelta:
    """After the ``attempts``-th failed attempt (1-based): the schedule's entry, the last
    one repeating."""
    schedule = get_settings().webhook_retry_seconds or [60.0]
    return timedelta(seconds=schedule[min(attempts, len(schedule)) - 1])


def record_attempts(attempts: Sequence[Attempt], now: datetime | None = None) -> Counter:
    """Save each attempt's outcome: delivered; or the next attempt per the schedule; or
    failed for good (not retryable, or the next attempt would fall past expires_at).
    Returns how many ended delivered / pending (a retry is scheduled) / failed."""
    now = now or utcnow()
    outcome: Counter = Counter()
    by_shard: dict[int, list[Attempt]] = {}
    for a in attempts:
        by_shard.setdefault(a.delivery.shard, []).append(a)
    for shard, items in by_shard.items():
        with shard_transaction(shard) as s:
            for a in sorted(items, key=lambda a: a.delivery.id):
                d = a.delivery
                values: dict[str, Any] = {
                    "attempts": d.attempts + 1,
                    "last_attempt_at": now,
                    "last_status_code": a.status_code,
                    "last_error": None if a.ok else (a.error or "failed")[:MAX_ERROR],
                    "updated_at": now,
                }
                if a.ok:
                    values.update(status=OutboxStatus.DELIVERED, delivered_at=now,
                                  next_attempt_at=now)
                else:
                    retry_at = now + retry_delay(d.attempts + 1)
                    if a.retryable and retry_at <= d.expires_at:
                        values.update(status=OutboxStatus.PENDING, next_attempt_at=retry_at)
                    else:
                        values.update(status=OutboxStatus.FAILED, next_attempt_at=now)
                # Only while still ours: a replay or another worker may have moved it on.
                matched = s.execute(
                    update(WebhookOutbox)
                    .where(WebhookOutbox.id == d.id,
                           WebhookOutbox.status == OutboxStatus.DELIVERING)
                    .values(**values)
                    .execution_options(synchronize_session=False)
                ).rowcount
                if matched:
                    outcome[values["status"].value] += 1
    return outcome


def purge_finished(older_than_days: int, now: datetime | None = None,
                   chunk: int = 10_000) -> int:
    """Delete delivered and failed events older than ``older_than_days`` on every shard,
    ``chunk`` rows per transaction. Returns the rows deleted."""
    cutoff = (now or utcnow()) - timedelta(days=older_than_days)
    deleted = 0
    for shard in all_shards():
        while True:
            with shard_transaction(shard) as s:
                n = s.execute(
                    delete(WebhookOutbox)
                    .where(WebhookOutbox.created_at < cutoff, WebhookOutbox.status.in_(FINISHED))
                    .with_dialect_options(mysql_limit=chunk)
                    .execution_options(synchronize_session=False)
                ).rowcount
            deleted += n
            if n < chunk:
                break
    return deleted

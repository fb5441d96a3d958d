"""The dispatcher: sends due messages through a :class:`~wework.gateway.base.Gateway`.

One round (:func:`dispatch_once`), per shard:

1. **Claim** (one short transaction). A plain read lists candidate ids: pending, due
   (``scheduled_time`` null or ≤ now), account ``online``, tenant active, batch (if any)
   ``running`` — ordered by priority (10 first) then due time. The candidates are then
   locked by primary key with ``SELECT … FOR UPDATE SKIP LOCKED`` re-checking
   ``status = 'pending'``: rows another dispatcher holds are skipped, rows it already
   claimed are no longer pending, so two dispatchers never claim the same message.
   Locking by primary key (not by the ordered scan) keeps the lock set to the claimed
   rows, so dispatchers run side by side. Batch send strategies are applied here:
   send windows and ``rate_per_minute`` per account (counted from ``send_time`` of the
   last 60 s plus this round). Claimed rows become ``sending`` (``send_time`` = now: the
   claim, which expires ``WEWORK_WORKER_CLAIM_SECONDS`` later) and the transaction
   commits before any gateway call.
2. **Send** the claimed messages through the gateway, outside any transaction,
   concurrently on the caller's thread pool when one is given. The message id is the
   gateway's idempotency key.
3. **Record** the outcomes in one transaction, set-based: one locking read of the
   claimed rows, one ``UPDATE … JOIN JSON_TABLE(…)`` carrying every row's new status and
   fields (sent / retry with backoff / failed, :func:`~wework.services.messages.
   send_transition`), one counter update per batch, the ``message.failed`` webhook
   events in one INSERT. A receipt that overtook the dispatcher already moved its
   message on; it is left as it is.

A dispatcher that dies between 1 and 3 leaves messages ``sending``. Once their claim
expired, :func:`recover_expired_claims` (the worker runs it) puts them back to pending,
due at once, counting the attempt: the gateway may have sent them, and the idempotency
key makes it answer the resend from its memory instead of delivering twice.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import NamedTuple

from sqlalchemy import (
    ColumnElement,
    Row,
    and_,
    func,
    or_,
    select,
    text,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from wework import metrics
from wework.config import get_settings
from wework.db.sharding import all_shards, shard_for_tenant
from wework.enums import AccountStatus, BatchStatus, MessageStatus, TenantStatus
from wework.gateway.base import Gateway, SendRequest, SendResult
from wework.models import BatchSendTask, Message, Tenant, WeworkAccount, utcnow
from wework.services.batches import in_send_window
from wework.services.messages import (
    BY_PRIMARY_KEY,
    SendOutcome,
    apply_batch_delta,
    counter_delta,
    failed_event,
    send_transition,
)
from wework.services.uow import READ_COMMITTED, shard_transaction
from wework.services.webhooks import record_events

DEFAULT_LIMIT = 100
CANDIDATE_FACTOR = 3  # read more candidates than the limit: some are locked or held back
CLAIM_PASSES = 3
RECORD_ATTEMPTS = 3
RECOVER_CHUNK = 1000
INTERRUPTED = SendOutcome(False, None, "dispatch_interrupted",
                          "the worker sending it stopped before recording the outcome")


@dataclass
class DispatchReport:
    claimed: int = 0
    held_back: int = 0  # due, but outside a send window or over a rate limit
    outcomes: Counter = field(default_factory=Counter)  # sent / retry / failed / already_*

    def __add__(self, other: DispatchReport) -> DispatchReport:
        return DispatchReport(
            self.claimed + other.claimed,
            self.held_back + other.held_back,
            self.outcomes + other.outcomes,
        )


@dataclass(frozen=True)
class _Claim:
    request: SendRequest
    message_type: str
    batch_id: str | None
    created_at: datetime  # with the id, the message's primary key


def dispatch_once(
    gateway: Gateway,
    now: datetime | None = None,
    limit: int = DEFAULT_LIMIT,
    shard: int | None = None,
    pool: Executor | None = None,
    tenant_id: str | None = None,
) -> DispatchReport:
    """Claim up to ``limit`` due messages per shard, send them (on ``pool`` when given),
    record the outcomes. ``tenant_id`` limits the round to one tenant's messages (an
    operator draining one tenant; a test that must not send other tenants' queues)."""
    report = DispatchReport()
    shards = [shard] if shard is not None else (
        [shard_for_tenant(tenant_id)] if tenant_id else all_shards())
    for s in shards:
        at = now or utcnow()
        claims, held = _claim(s, at, limit, tenant_id)
        report.claimed += len(claims)
        report.held_back += held
        if claims:
            report.outcomes += _send_and_record(s, gateway, claims, now, pool)
    return report


def due(now: datetime) -> tuple:
    """The conditions of a message that is due: pending, its due time (``scheduled_time``,
    else ``created_at``) reached."""
    return (Message.status == MessageStatus.PENDING, Message.due_at <= now)


def dispatchable(now: datetime) -> tuple:
    """The conditions of a message the dispatcher may claim: due, its account online, its
    tenant active, its batch (if any) running (``wework worker status`` counts them; the
    claim reads each queue by itself, :func:`_candidates`)."""
    running = select(BatchSendTask.id).where(BatchSendTask.status == BatchStatus.RUNNING)
    return (*due(now), *_sendable(),
            or_(Message.batch_id.is_(None), Message.batch_id.in_(running)))


def _sendable() -> tuple:
    """Its account online, its tenant active."""
    online = select(WeworkAccount.id).where(WeworkAccount.status == AccountStatus.ONLINE)
    active = select(Tenant.id).where(Tenant.status == TenantStatus.ACTIVE)
    return Message.account_id.in_(online), Message.tenant_id.in_(active)


class MessageKey(NamedTuple):
    id: str
    created_at: datetime


# Queues (no batch, one per running batch) read by one candidate statement.
QUEUES_PER_STATEMENT = 32


def _candidates(
    session: Session, now: datetime, n: int, skip_batches: set[str], skip_ids: set[str],
    tenant_id: str | None = None,
) -> list[MessageKey]:
    """(id, created_at) of up to ``n`` dispatchable messages, in dispatch order: priority
    (10 first), then due time, then id.

    The queue's head, not the backlog. The running batches are read first (a small
    table); then, for the unbatched messages and for each running batch, the first ``n``
    due ones in idx_scheduled_pending's order (status, batch_id, priority DESC, due_at,
    id; migration 0014), each read from the index in order until ``n`` are found; the
    queues are merged here. The messages of paused, finished or not yet started batches
    are never read (migration 0013), and a backlog of due messages is no longer read and
    sorted whole on every poll (migration 0014)."""
    running_batches = select(BatchSendTask.id).where(
        BatchSendTask.status == BatchStatus.RUNNING)
    if tenant_id:
        running_batches = running_batches.where(BatchSendTask.tenant_id == tenant_id)
    queues = [Message.batch_id.is_(None)] + [
        Message.batch_id == b for b in session.scalars(running_batches) if b not in skip_batches
    ]
    order = (Message.priority.desc(), Message.due_at, Message.id)
    found: list[Row] = []
    for start in range(0, len(queues), QUEUES_PER_STATEMENT):
        heads = [_queue_head(q, now, n, skip_ids, tenant_id, order)
                 for q in queues[start:start + QUEUES_PER_STATEMENT]]
        found += session.execute(heads[0] if len(heads) == 1 else union_all(*heads))
    found.sort(key=lambda r: (-r.priority, r.due_at, r.id))
    return [MessageKey(r.id, r.created_at) for r in found[:n]]


def _queue_head(queue: ColumnElement[bool], now: datetime, n: int, skip_ids: set[str],
                tenant_id: str | None, order: tuple):
    stmt = select(Message.id, Message.created_at, Message.priority, Message.due_at).where(
        *due(now), queue, *_sendable())
    if tenant_id:
        stmt = stmt.where(Message.tenant_id == tenant_id)
    if skip_ids:
        stmt = stmt.where(Message.id.not_in(skip_ids))
    # Read the pending rows through their index and join the small tables to them: left
    # to itself the optimizer may start from the tenants and read every message of a
    # tenant (delivered ones too), a cost that grows with the table instead of the queue.
    return (
        stmt.prefix_with("STRAIGHT_JOIN", dialect="mysql")
        .with_hint(Message, "FORCE INDEX (idx_scheduled_pending)", "mysql")
        .order_by(*order)
        .limit(n)
    )


def by_key(keys) -> ColumnElement[bool]:
    """``(messages.id, messages.created_at) IN (…)``: the whole primary key, so MariaDB
    reads one partition per message instead of probing every partition for the id.

    One key is written ``id = … AND created_at = …``: MariaDB turns a one-row ``IN`` into
    a row comparison, which an UPDATE cannot use as a range — it scanned the whole primary
    key (1.9M rows at 2M messages, 15 s) to mark one claimed message ``sending``."""
    keys = [tuple(k) for k in keys]
    if len(keys) == 1:
        (message_id, created_at), = keys
        return and_(Message.id == message_id, Message.created_at == created_at)
    return tuple_(Message.id, Message.created_at).in_(keys)


# What a claim needs of a message (rows, not ORM objects: 500 of them per round).
_CLAIMED = (Message.id, Message.created_at, Message.tenant_id, Message.account_id,
            Message.conversation_id, Message.message_type, Message.content, Message.batch_id)


def _claim(shard: int, now: datetime, limit: int,
           tenant_id: str | None = None) -> tuple[list[_Claim], int]:
    with shard_transaction(shard) as session:
        allowed: list[Row] = []
        held = 0
        blocked: set[str] = set()  # batches out of their window or rate this round
        # Up to CLAIM_PASSES passes: a pass whose candidates were all held back by a
        # batch strategy looks again past those batches, so a big rate-limited or
        # out-of-window batch cannot starve everything queued behind it.
        for _ in range(CLAIM_PASSES):
            n = (limit - len(allowed)) * CANDIDATE_FACTOR
            keys = _candidates(session, now, n, blocked, {m.id for m in allowed}, tenant_id)
            if not keys:
                break
            # Lock the candidates in dispatch order, only as many at a time as are still
            # wanted: the spare candidates are locked (and their content read) only when
            # some before them were taken by another dispatcher or held back — locking
            # all of them every round tripled the rows the claim read and kept locked.
            newly_blocked: set[str] = set()
            start = 0
            while start < len(keys) and len(allowed) < limit:
                chunk = keys[start:start + limit - len(allowed)]
                start += len(chunk)
                locked = list(
                    session.execute(
                        select(*_CLAIMED)
                        .where(by_key(chunk), Message.status == MessageStatus.PENDING)
                        .with_hint(Message, BY_PRIMARY_KEY, "mysql")
                        .with_for_update(skip_locked=True)
                    )
                )
                order = {k.id: i for i, k in enumerate(chunk)}
                locked.sort(key=lambda m: order[m.id])
                ok, held_back, chunk_blocked = _apply_strategies(session, locked, now, allowed)
                allowed += ok[: limit - len(allowed)]
                held += held_back
                newly_blocked |= chunk_blocked
            if len(allowed) >= limit or len(keys) < n or not newly_blocked - blocked:
                break
            blocked |= newly_blocked
        if not allowed:
            return [], held
        guids = dict(
            session.execute(
                select(WeworkAccount.id, WeworkAccount.guid).where(
                    WeworkAccount.id.in_({m.account_id for m in allowed})
                )
            ).all()
        )
        session.execute(
            update(Message)
            .where(by_key((m.id, m.created_at) for m in allowed))
            # EXPLAIN shows PRIMARY, yet on a partitioned table the UPDATE ran as a range
            # over idx_created_at: 310 ms for 450 rows at 2M, 9-14 ms with the hint.
            .with_hint(BY_PRIMARY_KEY, dialect_name="mysql")
            .values(status=MessageStatus.SENDING, send_time=now, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        claims = [
            _Claim(
                SendRequest(
                    message_id=m.id,
                    tenant_id=m.tenant_id,
                    account_id=m.account_id,
                    guid=guids.get(m.account_id) or "",
                    conversation_id=m.conversation_id,
                    message_type=m.message_type.value,
                    content=m.content,
                ),
                m.message_type.value,
                m.batch_id,
                m.created_at,
            )
            for m in allowed
        ]
    return claims, held


def _apply_strategies(
    session: Session, messages: list[Row], now: datetime, already: list[Row]
) -> tuple[list[Row], int, set[str]]:
    """Hold back batch messages outside their send window or over their rate limit.
    Returns (allowed, number held back, ids of the batches that held some back).
    ``already``: messages allowed by an earlier pass of this round (count toward rates)."""
    batch_ids = {m.batch_id for m in messages if m.batch_id}
    if not batch_ids:
        return messages, 0, set()
    strategies = dict(
        session.execute(
            select(BatchSendTask.id, BatchSendTask.send_strategy).where(
                BatchSendTask.id.in_(batch_ids)
            )
        ).all()
    )
    budget: dict[tuple[str, str], int] = {}
    this_round = Counter((m.batch_id, m.account_id) for m in already if m.batch_id)
    for batch_id, account_id in {(m.batch_id, m.account_id) for m in messages if m.batch_id}:
        rate = (strategies.get(batch_id) or {}).get("rate_per_minute")
        if rate:
            recent = session.scalar(
                select(func.count())
                .select_from(Message)
                .where(
                    Message.batch_id == batch_id,
                    Message.account_id == account_id,
                    Message.send_time > now - timedelta(seconds=60),
                    Message.status != MessageStatus.PENDING,
                )
            )
            used = recent + this_round[(batch_id, account_id)]
            budget[(batch_id, account_id)] = max(rate - used, 0)
    allowed, held, blocked = [], 0, set()
    for m in messages:
        if m.batch_id:
            strategy = strategies.get(m.batch_id)
            if not in_send_window(strategy, now):
                held += 1
                blocked.add(m.batch_id)
                continue
            key = (m.batch_id, m.account_id)
            if key in budget:
                if budget[key] <= 0:
                    held += 1
                    blocked.add(m.batch_id)
                    continue
                budget[key] -= 1
        allowed.append(m)
    return allowed, held, blocked


def _send(gateway: Gateway, claim: _Claim) -> tuple[_Claim, SendResult, float]:
    started = time.perf_counter()
    try:
        result = gateway.send(claim.request)
    except Exception as exc:  # a gateway bug or outage: a retryable failure
        result = SendResult(False, None, "gateway_error", f"{type(exc).__name__}: {exc}")
    return claim, result, time.perf_counter() - started


def _send_and_record(
    shard: int, gateway: Gateway, claims: list[_Claim], now: datetime | None,
    pool: Executor | None,
) -> Counter:
    if pool is None or len(claims) == 1:
        results = [_send(gateway, c) for c in claims]
    else:
        results = list(pool.map(lambda c: _send(gateway, c), claims))
    outcomes = {
        c.request.message_id: SendOutcome(r.ok, r.wework_msg_id, r.error_code,
                                          r.error_message, r.retryable)
        for c, r, _ in results
    }
    created = {c.request.message_id: c.created_at for c, _, _ in results}
    # A deadlock with another writer (e.g. a callback transaction holding a batch row)
    # rolls the whole record back; it is retried.
    for attempt in range(1, RECORD_ATTEMPTS + 1):
        try:
            with shard_transaction(shard) as session:
                labels = apply_send_outcomes(session, outcomes, created, now or utcnow())
            break
        except OperationalError as exc:
            code = exc.orig.args[0] if exc.orig is not None and exc.orig.args else None
            if code not in (1213, 1205) or attempt == RECORD_ATTEMPTS:  # deadlock, lock wait
                raise
            time.sleep(0.05 * attempt)
    for claim, _, latency in results:
        label = labels.get(claim.request.message_id)
        if label is not None:
            metrics.message_sent(claim.request.tenant_id, claim.message_type, label, latency)
    return Counter(labels.values())


# One statement records every claimed row: JSON_TABLE turns the list of changes into a
# table joined to messages by id. Keys a change leaves out keep the stored value
# (COALESCE); error_code/error_message are always set (NULL after a successful send).
_RECORD_SQL = text("""
UPDATE messages m JOIN JSON_TABLE(:changes, '$[*]' COLUMNS (
    id VARCHAR(36) PATH '$.id',
    status VARCHAR(20) PATH '$.status',
    wework_msg_id VARCHAR(100) PATH '$.wework_msg_id',
    error_code VARCHAR(50) PATH '$.error_code',
    error_message TEXT PATH '$.error_message',
    retry_count INT PATH '$.retry_count',
    scheduled_time DATETIME PATH '$.scheduled_time',
    created_at TIMESTAMP PATH '$.created_at'
)) AS r ON m.id = r.id AND m.created_at = r.created_at
SET m.status = r.status,
    m.wework_msg_id = COALESCE(r.wework_msg_id, m.wework_msg_id),
    m.error_code = r.error_code,
    m.error_message = r.error_message,
    m.retry_count = COALESCE(r.retry_count, m.retry_count),
    m.scheduled_time = COALESCE(r.scheduled_time, m.scheduled_time),
    m.updated_at = :now
""")


def _json_value(value):
    return value.isoformat(sep=" ") if isinstance(value, datetime) else value


def apply_send_outcomes(
    session: Session,
    outcomes: Mapping[str, SendOutcome],
    created: Mapping[str, datetime],
    now: datetime,
    *,
    retry_at_once: bool = False,
) -> dict[str, str]:
    """Record the gateway's answers for ``sending`` messages, set-based, in the caller's
    transaction: message rows, batch counters (in batch id order: one lock order for
    every dispatcher) and ``message.failed`` events. ``created``: each message's
    ``created_at``, the rest of its primary key. ``retry_at_once``: a retry is due
    now rather than after the backoff (a recovered claim, not a gateway failure).
    Returns message id -> sent | retry | failed | already_<status>."""
    if not outcomes:
        return {}
    m = Message
    rows = session.execute(
        select(m.id, m.status, m.retry_count, m.batch_id, m.tenant_id, m.account_id,
               m.conversation_id)
        .where(by_key((i, created[i]) for i in outcomes))
        .with_hint(m, BY_PRIMARY_KEY, "mysql")
        .order_by(m.id)
        .with_for_update()
    ).all()
    labels: dict[str, str] = {}
    changes: list[dict] = []
    deltas: dict[tuple[str, str], tuple[int, ...]] = {}  # (tenant, batch) -> change
    failed = []
    for row in rows:
        if row.status is not MessageStatus.SENDING:  # a receipt overtook us
            labels[row.id] = "already_" + row.status.value
            continue
        new, fields = send_transition(row.retry_count, outcomes[row.id], now)
        if retry_at_once and new is MessageStatus.PENDING:
            fields["scheduled_time"] = now
        changes.append({"id": row.id, "created_at": _json_value(created[row.id]),
                        "status": new.value,
                        **{k: _json_value(v) for k, v in fields.items()}})
        if row.batch_id:
            d = counter_delta(MessageStatus.SENDING, new)
            key = (row.tenant_id, row.batch_id)
            old = deltas.get(key, (0, 0, 0, 0))
            deltas[key] = tuple(a + b for a, b in zip(old, d, strict=True))
        if new is MessageStatus.FAILED:
            merged = {**row._mapping, "retry_count": row.retry_count, **fields}
            failed.append(failed_event(SimpleNamespace(**merged), now))
        labels[row.id] = "retry" if new is MessageStatus.PENDING else new.value
    if changes:
        session.execute(_RECORD_SQL, {"changes": json.dumps(changes, ensure_ascii=False),
                                      "now": now})
    for tenant_id, batch_id in sorted(deltas):
        apply_batch_delta(session, batch_id, deltas[tenant_id, batch_id], now,
                          tenant_id=tenant_id)
    record_events(session, failed, now)
    return labels


def recover_expired_claims(
    older_than: timedelta | None = None, now: datetime | None = None
) -> int:
    """Messages left ``sending`` by a dispatcher that died, whose claim is older than
    ``older_than`` (``WEWORK_WORKER_CLAIM_SECONDS``): count the attempt (failed for good
    after the last retry) and make them due at once. Every shard, ``RECOVER_CHUNK`` rows
    per transaction; rows locked by a live dispatcher are skipped."""
    now = now or utcnow()
    if older_than is None:
        older_than = timedelta(seconds=get_settings().worker_claim_seconds)
    cutoff = now - older_than
    recovered = 0
    for shard in all_shards():
        while True:
            # A sweep: no gap lock where the next message goes (uow.READ_COMMITTED).
            with shard_transaction(shard, isolation_level=READ_COMMITTED) as session:
                created = dict(session.execute(
                    select(Message.id, Message.created_at)
                    .where(Message.status == MessageStatus.SENDING, Message.send_time < cutoff)
                    .order_by(Message.id)
                    .limit(RECOVER_CHUNK)
                    .with_for_update(skip_locked=True)
                ).all())
                labels = apply_send_outcomes(
                    session, dict.fromkeys(created, INTERRUPTED), created, now,
                    retry_at_once=True)
            recovered += sum(1 for v in labels.values() if not v.startswith("already_"))
            if len(created) < RECOVER_CHUNK:
                break
    return recovered

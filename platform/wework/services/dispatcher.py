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
   last 60 s plus this round). Claimed rows become ``sending`` (``send_time`` = now) and
   the transaction commits before any gateway call.
2. **Send** each claimed message through the gateway, outside any transaction.
3. **Record** the outcomes in one transaction: sent / retry with backoff / failed, batch
   counters in step (wework.services.messages.record_send_outcome). A receipt that
   overtook the dispatcher already moved the message on; it is left as it is.

A dispatcher that dies between 1 and 3 leaves messages ``sending``;
:func:`requeue_stale_sending` puts those back to pending as a failed attempt (the
gateway may or may not have sent them; WeCom receipts will tell).
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from wework import metrics
from wework.db.sharding import all_shards
from wework.enums import AccountStatus, BatchStatus, MessageStatus, TenantStatus
from wework.gateway.base import Gateway, SendRequest, SendResult
from wework.models import BatchSendTask, Message, Tenant, WeworkAccount, utcnow
from wework.services.batches import in_send_window
from wework.services.messages import SendOutcome, lock_message, record_send_outcome
from wework.services.uow import shard_transaction

DEFAULT_LIMIT = 100
CANDIDATE_FACTOR = 3  # read more candidates than the limit: some are locked or held back
CLAIM_PASSES = 3
RECORD_ATTEMPTS = 3


@dataclass
class DispatchReport:
    claimed: int = 0
    held_back: int = 0  # due, but outside a send window or over a rate limit
    outcomes: Counter = field(default_factory=Counter)  # sent / pending (retry) / failed

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


def dispatch_once(
    gateway: Gateway,
    now: datetime | None = None,
    limit: int = DEFAULT_LIMIT,
    shard: int | None = None,
) -> DispatchReport:
    """Claim up to ``limit`` due messages per shard, send them, record the outcomes."""
    report = DispatchReport()
    for s in [shard] if shard is not None else all_shards():
        at = now or utcnow()
        claims, held = _claim(s, at, limit)
        report.claimed += len(claims)
        report.held_back += held
        if claims:
            report.outcomes += _send_and_record(s, gateway, claims, now)
    return report


def _candidates(
    session: Session, now: datetime, n: int, skip_batches: set[str], skip_ids: set[str]
) -> list[str]:
    online = select(WeworkAccount.id).where(WeworkAccount.status == AccountStatus.ONLINE)
    active = select(Tenant.id).where(Tenant.status == TenantStatus.ACTIVE)
    running = select(BatchSendTask.id).where(BatchSendTask.status == BatchStatus.RUNNING)
    due_at = func.coalesce(Message.scheduled_time, Message.created_at)
    stmt = select(Message.id).where(
        Message.status == MessageStatus.PENDING,
        or_(Message.scheduled_time.is_(None), Message.scheduled_time <= now),
        Message.account_id.in_(online),
        Message.tenant_id.in_(active),
        or_(Message.batch_id.is_(None), Message.batch_id.in_(running)),
    )
    if skip_batches:
        stmt = stmt.where(or_(Message.batch_id.is_(None), Message.batch_id.not_in(skip_batches)))
    if skip_ids:
        stmt = stmt.where(Message.id.not_in(skip_ids))
    return list(
        session.scalars(stmt.order_by(Message.priority.desc(), due_at, Message.id).limit(n))
    )


def _claim(shard: int, now: datetime, limit: int) -> tuple[list[_Claim], int]:
    with shard_transaction(shard) as session:
        allowed: list[Message] = []
        held = 0
        blocked: set[str] = set()  # batches out of their window or rate this round
        # Up to CLAIM_PASSES passes: a pass whose candidates were all held back by a
        # batch strategy looks again past those batches, so a big rate-limited or
        # out-of-window batch cannot starve everything queued behind it.
        for _ in range(CLAIM_PASSES):
            n = (limit - len(allowed)) * CANDIDATE_FACTOR
            ids = _candidates(session, now, n, blocked, {m.id for m in allowed})
            if not ids:
                break
            locked = list(
                session.scalars(
                    select(Message)
                    .where(Message.id.in_(ids), Message.status == MessageStatus.PENDING)
                    .with_for_update(skip_locked=True)
                )
            )
            order = {mid: i for i, mid in enumerate(ids)}
            locked.sort(key=lambda m: order[m.id])
            ok, held_back, newly_blocked = _apply_strategies(session, locked, now, allowed)
            allowed += ok[: limit - len(allowed)]
            held += held_back
            if len(allowed) >= limit or len(ids) < n or not newly_blocked - blocked:
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
            .where(Message.id.in_([m.id for m in allowed]))
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
            )
            for m in allowed
        ]
    return claims, held


def _apply_strategies(
    session: Session, messages: list[Message], now: datetime, already: list[Message]
) -> tuple[list[Message], int, set[str]]:
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


def _send_and_record(
    shard: int, gateway: Gateway, claims: list[_Claim], now: datetime | None
) -> Counter:
    results: list[tuple[_Claim, SendResult, float]] = []
    for claim in claims:
        started = time.perf_counter()
        try:
            result = gateway.send(claim.request)
        except Exception as exc:  # a gateway bug or outage: a retryable failure
            result = SendResult(False, None, "gateway_error", f"{type(exc).__name__}: {exc}")
        results.append((claim, result, time.perf_counter() - started))
    # One lock order for everyone (batch, then message id): dispatchers recording at the
    # same time cannot deadlock on batch counter rows. A deadlock with another writer
    # (e.g. a callback transaction) rolls the whole record back; it is retried.
    results.sort(key=lambda r: (r[0].batch_id or "", r[0].request.message_id))
    for attempt in range(1, RECORD_ATTEMPTS + 1):
        try:
            outcomes = _record(shard, results, now)
            break
        except OperationalError as exc:
            code = exc.orig.args[0] if exc.orig is not None and exc.orig.args else None
            if code not in (1213, 1205) or attempt == RECORD_ATTEMPTS:  # deadlock, lock wait
                raise
            time.sleep(0.05 * attempt)
    for claim, _, latency in results:
        label = outcomes.get(claim.request.message_id)
        if label is not None:
            metrics.message_sent(claim.request.tenant_id, claim.message_type, label, latency)
    return Counter(outcomes.values())


def _record(
    shard: int, results: list[tuple[_Claim, SendResult, float]], now: datetime | None
) -> dict[str, str]:
    outcomes: dict[str, str] = {}
    with shard_transaction(shard) as session:
        for claim, result, _ in results:
            message = lock_message(session, claim.request.message_id)
            if message.status != MessageStatus.SENDING:  # a receipt overtook us
                outcomes[message.id] = "already_" + message.status.value
                continue
            status = record_send_outcome(
                session,
                message,
                SendOutcome(
                    result.ok,
                    result.wework_msg_id,
                    result.error_code,
                    result.error_message,
                    result.retryable,
                ),
                now or utcnow(),
            )
            outcomes[message.id] = "retry" if status is MessageStatus.PENDING else status.value
    return outcomes


def requeue_stale_sending(
    older_than: timedelta = timedelta(minutes=5), now: datetime | None = None
) -> int:
    """Messages left ``sending`` by a dispatcher that died: count the attempt as a
    failure (retry with backoff, or failed after the last retry)."""
    now = now or utcnow()
    moved = 0
    by_status: dict[str, int] = defaultdict(int)
    for shard in all_shards():
        with shard_transaction(shard) as session:
            stale = list(
                session.scalars(
                    select(Message)
                    .where(
                        Message.status == MessageStatus.SENDING,
                        Message.send_time < now - older_than,
                    )
                    .with_for_update(skip_locked=True)
                )
            )
            for message in stale:
                status = record_send_outcome(
                    session,
                    message,
                    SendOutcome(False, None, "dispatch_interrupted", "dispatcher did not finish"),
                    now,
                )
                by_status[status.value] += 1
                moved += 1
    return moved

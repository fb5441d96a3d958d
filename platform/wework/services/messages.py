"""Messages: enqueue one or many, the status lifecycle, cancel, list.

Lifecycle (``ALLOWED``)::

    pending ──▶ sending ──▶ sent ──▶ delivered
       │           │          └────▶ failed        (delivery receipt says failed)
       │           ├──▶ failed                     (gateway error, retries used up)
       │           └──▶ pending                    (gateway error: retry, backoff)
       └──▶ cancelled                              (only while pending, incl. scheduled)

A gateway failure puts the message back to ``pending`` with ``retry_count + 1`` and
``scheduled_time`` moved ``RETRY_BASE_SECONDS * 2**(retry_count-1)`` ahead (30 s, 60 s,
120 s); after ``MAX_RETRIES`` retries it is ``failed`` for good.

Priority is 1–10, **10 the most urgent**; the dispatcher sends higher priorities first,
then older due times first.

Batch counters are kept in step with every status change *in the same transaction*
(:func:`apply_batch_delta`): each status contributes fixed weights to
``(total, sent, success, failed)`` (``COUNTER_WEIGHTS``), so a change from ``old`` to
``new`` adds ``weights[new] - weights[old]`` with one atomic ``UPDATE``; a change that
finishes the batch completes it (:func:`complete_if_finished`). A message failing for
good and a batch completing write their tenant webhook event in the same transaction
(:mod:`wework.services.webhooks`).
:func:`wework.services.batches.counts_from_messages` recomputes the same figures from the
messages; the tests check that both always agree.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import case, func, insert, select, text, update
from sqlalchemy.orm import Session

from wework.enums import BatchStatus, MessageStatus, TenantStatus, WebhookEvent
from wework.errors import (
    InvalidTransitionError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from wework.models import (
    BatchSendTask,
    Message,
    WeworkAccount,
    new_id,
    utcnow,
)
from wework.services import quota
from wework.services.accounts import owned_account_ids
from wework.services.content import validate_content
from wework.services.context import ServiceContext
from wework.services.fields import parse
from wework.services.inputs import DEFAULT_PRIORITY, MessageRow
from wework.services.pagination import Page, paginate
from wework.services.permissions import MESSAGE_SEND, REPORT_VIEW
from wework.services.rows import require_owned
from wework.services.templates import owned_template_ids
from wework.services.tenants import tenant_settings
from wework.services.uow import (
    READ_COMMITTED,
    Transaction,
    read_session,
    retry_on_deadlock,
    tenant_connection,
    tenant_transaction,
)
from wework.services.webhooks import Event, iso, record_event, record_events

MAX_RETRIES = 3
RETRY_BASE_SECONDS = 30
INSERT_CHUNK = 5000  # rows per executemany (pymysql folds them into multi-row INSERTs)

S = MessageStatus
ALLOWED: dict[MessageStatus, frozenset[MessageStatus]] = {
    S.PENDING: frozenset({S.SENDING, S.CANCELLED}),
    # A delivery receipt may overtake the dispatcher's own "sent" commit.
    S.SENDING: frozenset({S.SENT, S.FAILED, S.PENDING, S.DELIVERED}),
    S.SENT: frozenset({S.DELIVERED, S.FAILED}),
    S.DELIVERED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
}
FINAL = frozenset({S.DELIVERED, S.FAILED, S.CANCELLED})

# status -> contribution to the batch's (total, sent, success, failed) counters.
# total counts every message that will be or was attempted (cancelled ones drop out);
# sent = handed to WeCom (sent or delivered); success = delivered; failed = failed for good.
COUNTER_WEIGHTS: dict[MessageStatus, tuple[int, int, int, int]] = {
    S.PENDING: (1, 0, 0, 0),
    S.SENDING: (1, 0, 0, 0),
    S.SENT: (1, 1, 0, 0),
    S.DELIVERED: (1, 1, 1, 0),
    S.FAILED: (1, 0, 0, 1),
    S.CANCELLED: (0, 0, 0, 0),
}


@dataclass(frozen=True)
class SendOutcome:
    """What the gateway said about one send (see wework.gateway.base.SendResult)."""

    ok: bool
    wework_msg_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    retryable: bool = True


def require_accounts(session: Transaction, ctx: ServiceContext, account_ids: set[str],
                     field: str = "account") -> None:
    """Every id must be an account of the acting tenant (another tenant's = not found,
    naming ``field``). Through the account cache (an account never changes tenant)."""
    found = owned_account_ids(ctx.tenant_id, set(account_ids))
    for account_id in sorted(set(account_ids) - found):
        raise NotFoundError(field, account_id)


OPEN_BATCH = (BatchStatus.CREATED, BatchStatus.RUNNING, BatchStatus.PAUSED)


def require_references(session: Transaction, ctx: ServiceContext,
                       rows: list[dict]) -> None:
    """Resolve every id a row refers to inside the acting tenant: accounts, templates and
    batches (a batch must still be open to take messages). Issue 16 item 1: a caller-given
    id of another tenant is not found (NotFoundError naming the field), never stored."""
    require_accounts(session, ctx, {r["account_id"] for r in rows}, "account_id")
    template_ids = {r["template_id"] for r in rows if r["template_id"] is not None}
    if template_ids:
        for missing in sorted(template_ids - owned_template_ids(ctx.tenant_id, template_ids)):
            raise NotFoundError("template_id", missing)
    batch_ids = {r["batch_id"] for r in rows if r["batch_id"] is not None}
    if not batch_ids:
        return
    status_of = dict(session.execute(
        select(BatchSendTask.id, BatchSendTask.status).where(
            BatchSendTask.tenant_id == ctx.tenant_id, BatchSendTask.id.in_(batch_ids))).all())
    for batch_id in sorted(batch_ids):
        if batch_id not in status_of:
            raise NotFoundError("batch_id", batch_id)
        if status_of[batch_id] not in OPEN_BATCH:
            raise ValidationError("batch_id", f"batch {batch_id} is "
                                  f"{status_of[batch_id].value}; it takes no more messages")


def start_of_utc_day(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def sending_limit(tenant_id: str) -> int:
    """The tenant's daily limit, after refusing unless it is active (status and limit
    through the tenant cache)."""
    tenant = tenant_settings(tenant_id)
    if tenant.status != TenantStatus.ACTIVE:
        raise ValidationError("tenant.status", f"tenant is {tenant.status.value}; sending is off")
    return tenant.max_daily_messages


def check_quota(session: Session, tenant_id: str, adding: int, now: datetime) -> None:
    """Refuse unless the tenant is active and today's (UTC) messages plus ``adding`` stay
    within ``max_daily_messages``; counts them in the caller's transaction (the exact
    step, :func:`wework.services.quota.reserve`)."""
    quota.reserve(session, tenant_id, adding, sending_limit(tenant_id), now)


def prepare_row(
    ctx: ServiceContext, row: Mapping[str, Any], now: datetime, *, at: str = ""
) -> dict[str, Any]:
    """Validate one message row (:class:`~wework.services.inputs.MessageRow`, its content
    for its type) and return the dict inserted into ``messages``; errors name the field
    under ``at``."""
    given = parse(MessageRow, row, at=at)
    validate_content(given.message_type, row["content"], at=at)
    return {
        "id": new_id(),
        "tenant_id": ctx.tenant_id,
        "account_id": given.account_id,
        "conversation_id": given.conversation_id,
        "message_type": given.message_type,
        "content": row["content"],  # stored as given (validation copies it)
        "template_id": given.template_id,
        "status": S.PENDING,
        "retry_count": 0,
        "batch_id": given.batch_id,
        "priority": given.priority,
        "scheduled_time": given.scheduled_time,
        "created_at": now,
        "updated_at": now,
    }


# ---------------------------------------------------------------- enqueue

INSERT_MESSAGE = insert(Message.__table__)  # built once: every send and batch runs it


def send_message(
    ctx: ServiceContext,
    *,
    account_id: str,
    conversation_id: str,
    message_type: str,
    content: dict[str, Any],
    priority: int = DEFAULT_PRIORITY,
    scheduled_time: datetime | None = None,
    template_id: str | None = None,
) -> Message:
    """Validate and enqueue one message (status ``pending``); the dispatcher sends it
    when due. Checks permission ``message:send``, the account and the daily quota."""
    ctx.require(MESSAGE_SEND)
    now = utcnow()
    row = prepare_row(
        ctx,
        {
            "account_id": account_id,
            "conversation_id": conversation_id,
            "message_type": message_type,
            "content": content,
            "priority": priority,
            "scheduled_time": scheduled_time,
            "template_id": template_id,
        },
        now,
    )

    def enqueue(exact: bool) -> None:
        # A Core connection, not a Session: only Core statements run (uow.tenant_connection).
        with quota.stripe_for(ctx.tenant_id) as stripe, tenant_connection(ctx) as s:
            require_references(s, ctx, [row])
            limit = sending_limit(ctx.tenant_id)
            if exact:  # before the INSERT: a day's first stripes count today's messages
                quota.reserve(s, ctx.tenant_id, 1, limit, now)
            s.execute(INSERT_MESSAGE, row)
            # The fast path after the row: its stripe is locked only until the COMMIT.
            if not exact and not quota.take(s, ctx.tenant_id, 1, now.date(), stripe):
                raise _StripeFull  # rolls the INSERT back; sent again below

    try:
        retry_on_deadlock(lambda: enqueue(exact=False))
    except _StripeFull:
        retry_on_deadlock(lambda: enqueue(exact=True))
    return Message(**row)


class _StripeFull(Exception):
    """The fast path's stripe had no room (or the day none yet): the send runs again in a
    new transaction through the exact step (see :mod:`wework.services.quota`)."""


def enqueue_many(
    ctx: ServiceContext,
    rows: Iterable[Mapping[str, Any]],
    *,
    batch_id: str | None = None,
    session: Session | None = None,
) -> list[str]:
    """The batch path: validate every row, then insert them all with Core executemany
    (multi-row INSERTs) in one transaction, or in ``session``'s if given. Returns the new
    ids in input order. All or nothing: one bad row refuses the whole call, naming it as
    ``rows[i].<field>``."""
    ctx.require(MESSAGE_SEND)
    now = utcnow()
    prepared = []
    for i, row in enumerate(rows):
        values = prepare_row(ctx, row, now, at=f"rows[{i}]")
        if batch_id is not None:
            values["batch_id"] = batch_id
        prepared.append(values)
    if not prepared:
        return []

    def enqueue() -> None:
        with tenant_transaction(ctx, session) as s:
            _insert_rows(s, ctx, prepared, now)

    if session is None:
        retry_on_deadlock(enqueue)
    else:  # the caller's transaction: it decides about running it again
        enqueue()
    return [r["id"] for r in prepared]


def _insert_rows(session: Session, ctx: ServiceContext, rows: list[dict], now: datetime) -> None:
    require_references(session, ctx, rows)
    check_quota(session, ctx.tenant_id, len(rows), now)
    for start in range(0, len(rows), INSERT_CHUNK):
        session.execute(INSERT_MESSAGE, rows[start : start + INSERT_CHUNK])
    # The new pending messages count in their batch's total (a batch's counters are only
    # ever moved by the messages in it).
    per_batch: dict[str, int] = {}
    for r in rows:
        if r["batch_id"] is not None:
            per_batch[r["batch_id"]] = per_batch.get(r["batch_id"], 0) + 1
    for batch_id in sorted(per_batch):
        apply_batch_delta(session, batch_id, counter_delta(None, S.PENDING, per_batch[batch_id]),
                          now, tenant_id=ctx.tenant_id)


# ---------------------------------------------------------------- status changes


def counter_delta(old: MessageStatus | None, new: MessageStatus, n: int = 1):
    before = COUNTER_WEIGHTS[old] if old is not None else (0, 0, 0, 0)
    after = COUNTER_WEIGHTS[new]
    return tuple(n * (a - b) for a, b in zip(after, before, strict=True))


def apply_batch_delta(
    session: Session, batch_id: str | None, delta: tuple[int, int, int, int], now: datetime,
    *, tenant_id: str | None = None,
) -> None:
    """Add ``delta`` to the batch's counters, recompute its progress and, when the change
    may have finished it, complete it. MySQL/MariaDB evaluate single-table UPDATE
    assignments left to right, each seeing the values assigned before it, hence
    ``ordered_values``. ``tenant_id`` (the message's) is matched too, so a batch id can
    only ever move its own tenant's counters; only the set-based dispatcher path, whose
    message rows were enqueued with tenant-checked batch ids, still leaves it out."""
    if batch_id is None or not any(delta):
        return
    b = BatchSendTask
    d_total, d_sent, d_success, d_failed = delta
    done = b.sent_count + b.failed_count
    session.execute(
        update(b)
        .where(b.id == batch_id, *_tenant_match(b, tenant_id))
        .ordered_values(
            (b.total_count, b.total_count + d_total),
            (b.sent_count, b.sent_count + d_sent),
            (b.success_count, b.success_count + d_success),
            (b.failed_count, b.failed_count + d_failed),
            (
                b.progress_percent,
                case((b.total_count > 0, func.round(100 * done / b.total_count, 2)), else_=0),
            ),
        )
        .execution_options(synchronize_session=False)
    )
    # Only more sent/failed or fewer messages can finish a batch (a delivery receipt
    # moves sent -> delivered and cannot): skip the check on the receipt path.
    if d_sent + d_failed > 0 or d_total < 0:
        complete_if_finished(session, batch_id, now, tenant_id=tenant_id)


def _tenant_match(model: type, tenant_id: str | None) -> tuple:
    return () if tenant_id is None else (model.tenant_id == tenant_id,)


def complete_if_finished(session: Session, batch_id: str, now: datetime,
                         *, tenant_id: str | None = None) -> bool:
    """Complete a running batch with nothing left to send (sent + failed = total) and
    write its ``batch.completed`` webhook event; True if this call completed it."""
    b = BatchSendTask
    completed = session.execute(
        update(b)
        .where(b.id == batch_id, *_tenant_match(b, tenant_id), b.status == BatchStatus.RUNNING,
               b.sent_count + b.failed_count >= b.total_count)
        .values(status=BatchStatus.COMPLETED, end_time=func.coalesce(b.end_time, now))
        .execution_options(synchronize_session=False)
    ).rowcount
    if not completed:
        return False
    row = session.execute(
        select(b.tenant_id, b.task_name, b.total_count, b.sent_count, b.success_count,
               b.failed_count, b.start_time, b.end_time).where(b.id == batch_id)
    ).one()
    record_event(session, row.tenant_id, WebhookEvent.BATCH_COMPLETED, {
        "batch_id": batch_id, "task_name": row.task_name, "total_count": row.total_count,
        "sent_count": row.sent_count, "success_count": row.success_count,
        "failed_count": row.failed_count,
        "start_time": iso(row.start_time) if row.start_time else None,
        "end_time": iso(row.end_time) if row.end_time else None,
    }, now)
    return True


def failed_event(message: Message | Any, now: datetime) -> Event:
    """The ``message.failed`` webhook event of a message that just failed for good."""
    return Event(message.tenant_id, WebhookEvent.MESSAGE_FAILED, {
        "message_id": message.id, "account_id": message.account_id,
        "conversation_id": message.conversation_id, "batch_id": message.batch_id,
        "error_code": message.error_code, "error_message": message.error_message,
        "retry_count": message.retry_count, "failed_at": iso(now),
    })


def change_status(
    session: Session, message: Message, new: MessageStatus, now: datetime, **fields: Any
) -> None:
    """Move a (locked) message to ``new``, refusing transitions ALLOWED does not list, and
    keep its batch's counters in step in the same transaction."""
    old = message.status
    if new not in ALLOWED[old]:
        raise InvalidTransitionError(
            "status", old.value, new.value, sorted(s.value for s in ALLOWED[old])
        )
    message.status = new
    message.updated_at = now
    for key, value in fields.items():
        setattr(message, key, value)
    session.flush()
    apply_batch_delta(session, message.batch_id, counter_delta(old, new), now,
                      tenant_id=message.tenant_id)
    if new is S.FAILED:
        record_events(session, [failed_event(message, now)], now)


def lock_message(session: Session, message_id: str, tenant_id: str | None = None) -> Message:
    """The message, locked for update; NotFoundError unless it exists (in ``tenant_id``).
    Locks only the row under READ COMMITTED (the cancel's CANCEL_ISOLATION); under
    REPEATABLE READ a locking read by ``id``, a prefix of the primary key, also locks the
    gap after the row."""
    stmt = select(Message).where(Message.id == message_id).with_for_update()
    if tenant_id is not None:
        stmt = stmt.where(Message.tenant_id == tenant_id)
    message = session.scalar(stmt)
    if message is None:
        raise NotFoundError("message", message_id)
    return message


def retry_delay(retry_count: int) -> timedelta:
    return timedelta(seconds=RETRY_BASE_SECONDS * 2 ** max(retry_count - 1, 0))


def send_transition(
    retry_count: int, outcome: SendOutcome, now: datetime
) -> tuple[MessageStatus, dict[str, Any]]:
    """Where a ``sending`` message goes after the gateway answered, and the fields that
    change with it: sent; pending again (a retry, backoff from the retry count); or
    failed for good. The one rule for the per-message and the set-based paths."""
    if outcome.ok:
        return S.SENT, {
            "wework_msg_id": outcome.wework_msg_id, "error_code": None, "error_message": None
        }
    errors = {"error_code": outcome.error_code, "error_message": outcome.error_message}
    if outcome.retryable and retry_count < MAX_RETRIES:
        retries = retry_count + 1
        return S.PENDING, {
            "retry_count": retries, "scheduled_time": now + retry_delay(retries), **errors
        }
    return S.FAILED, errors


def record_send_outcome(
    session: Session, message: Message, outcome: SendOutcome, now: datetime
) -> MessageStatus:
    """After the gateway answered for a ``sending`` message: sent, retry, or failed."""
    new, fields = send_transition(message.retry_count, outcome, now)
    change_status(session, message, new, now, **fields)
    return message.status


@dataclass(frozen=True)
class Receipt:
    """A delivery receipt for one message, as the gateway's callback reports it."""

    message_id: str
    tenant_id: str
    account_id: str  # the account whose instance reported it: the message must be its own
    delivered: bool
    at: datetime
    wework_msg_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None


# What became of one receipt (apply_receipts): None = applied; a MessageStatus = the
# message already had that final outcome, nothing changed; an error = refused.
ReceiptResult = MessageStatus | ValidationError | None

# One statement moves every receipted message to its final state (JSON_TABLE, as the
# dispatcher records sends). The value columns are wide on purpose: a value too long for
# its message column makes the server refuse the statement (ERROR 1406), never truncate.
_RECEIPTS_SQL = text("""
UPDATE messages m JOIN JSON_TABLE(:changes, '$[*]' COLUMNS (
    id VARCHAR(36) PATH '$.id',
    status VARCHAR(20) PATH '$.status',
    callback_time DATETIME PATH '$.callback_time',
    wework_msg_id TEXT PATH '$.wework_msg_id',
    set_error INT PATH '$.set_error',
    error_code TEXT PATH '$.error_code',
    error_message LONGTEXT PATH '$.error_message'
)) AS r ON m.id = r.id
SET m.status = r.status,
    m.callback_time = r.callback_time,
    m.wework_msg_id = COALESCE(r.wework_msg_id, m.wework_msg_id),
    m.error_code = IF(r.set_error = 1, r.error_code, m.error_code),
    m.error_message = IF(r.set_error = 1, r.error_message, m.error_message),
    m.updated_at = :now
""")


# Reads and locks of messages by id: the primary key, named. With a list of a few hundred
# ids the optimizer weighed idx_scheduled_pending too (it holds id since migration 0014)
# and spent 75-120 ms choosing PRIMARY anyway; 4 ms with the hint (250 ids, 2M messages).
BY_PRIMARY_KEY = "FORCE INDEX (PRIMARY)"


def apply_receipts(
    session: Session, receipts: Sequence[Receipt], now: datetime
) -> list[ReceiptResult]:
    """Apply delivery receipts set-based, in the caller's transaction, in order (a later
    receipt for the same message sees the earlier one's outcome): one locking read of the
    messages, one ``UPDATE … JOIN JSON_TABLE``, one counter delta per batch (batch id
    order), the ``message.failed`` webhook events in one INSERT.

    Per receipt, as the state machine says: a message already delivered/failed changes
    nothing (its status is returned); a message never handed to the gateway (pending
    without a ``send_time``, cancelled) refuses it (InvalidTransitionError); a pending
    message *with* a ``send_time`` is the retry of an attempt whose answer was lost — the
    gateway did send it, so the receipt applies (else the retry would be answered from the
    gateway's idempotency memory and the message would stay "sent" for ever). A message
    of another tenant, or of another account, is not found (ValidationError on
    ``message_id``)."""
    if not receipts:
        return []
    m = Message
    rows = {
        row.id: row
        for row in session.execute(
            select(m.id, m.tenant_id, m.account_id, m.status, m.send_time, m.batch_id,
                   m.conversation_id, m.retry_count, m.error_code, m.error_message)
            .where(m.id.in_({r.message_id for r in receipts}),
                   m.tenant_id.in_({r.tenant_id for r in receipts}))
            .with_hint(m, BY_PRIMARY_KEY, "mysql")
            .order_by(m.id)
            .with_for_update()
        )
    }
    changed: dict[str, dict[str, Any]] = {}  # message id -> its fields after the receipts
    results: list[ReceiptResult] = []
    for r in receipts:
        row = rows.get(r.message_id)
        if row is None or row.tenant_id != r.tenant_id:
            results.append(ValidationError("message_id", f"no message {r.message_id!r}"))
            continue
        if row.account_id != r.account_id:
            results.append(ValidationError(
                "message_id", f"no message {r.message_id!r} of this account"))
            continue
        state = changed.get(r.message_id) or dict(row._mapping)
        old = state["status"]
        if old in (S.DELIVERED, S.FAILED):
            results.append(old)
            continue
        via = S.SENDING if old is S.PENDING and state["send_time"] is not None else old
        new = S.DELIVERED if r.delivered else S.FAILED
        if new not in ALLOWED[via]:
            results.append(InvalidTransitionError(
                "status", via.value, new.value, sorted(s.value for s in ALLOWED[via])))
            continue
        state = {**state, "status": new, "callback_time": r.at, "set_error": 0}
        if r.wework_msg_id:
            state["wework_msg_id"] = r.wework_msg_id
        if not r.delivered:
            state.update(set_error=1, error_code=r.error_code or "delivery_failed",
                         error_message=r.error_message)
        changed[r.message_id] = state
        results.append(None)
    if changed:
        _record_receipts(session, rows, changed, now)
    return results


def _record_receipts(
    session: Session, rows: Mapping[str, Any], changed: Mapping[str, dict[str, Any]],
    now: datetime,
) -> None:
    changes, failed = [], []
    deltas: dict[tuple[str, str], list[int]] = {}  # (tenant, batch) -> counter change
    for message_id, state in changed.items():
        changes.append({
            "id": message_id, "status": state["status"].value,
            "callback_time": state["callback_time"].isoformat(sep=" "),
            "wework_msg_id": state.get("wework_msg_id"), "set_error": state["set_error"],
            "error_code": state.get("error_code"), "error_message": state.get("error_message"),
        })
        if state["batch_id"]:
            total = deltas.setdefault((rows[message_id].tenant_id, state["batch_id"]),
                                      [0, 0, 0, 0])
            for i, d in enumerate(counter_delta(rows[message_id].status, state["status"])):
                total[i] += d
        if state["status"] is S.FAILED:
            failed.append(failed_event(SimpleNamespace(**state), state["callback_time"]))
    # A key left out is NULL in JSON_TABLE (rather than relying on how JSON null maps).
    changes = [{k: v for k, v in c.items() if v is not None} for c in changes]
    # updated_at is when the row changed (now), not when the receipt's event happened:
    # the warehouse extracts by updated_at, and a receipt applied hours after its event
    # (a gateway retrying, a replay) stamped with the event's time fell outside it.
    session.execute(_RECEIPTS_SQL, {"changes": json.dumps(changes, ensure_ascii=False),
                                    "now": now})
    for tenant_id, batch_id in sorted(deltas):
        apply_batch_delta(session, batch_id, tuple(deltas[tenant_id, batch_id]), now,
                          tenant_id=tenant_id)
    record_events(session, failed, now)


# ---------------------------------------------------------------- user operations


def get_message(ctx: ServiceContext, message_id: str) -> Message:
    """Read-your-writes: from the primary."""
    _require_read(ctx)
    with read_session(ctx.tenant_id, fresh=True) as s:
        message = s.scalar(
            select(Message).where(Message.id == message_id, Message.tenant_id == ctx.tenant_id)
        )
    if message is None:
        raise NotFoundError("message", message_id)
    return message


# A cancel runs under READ COMMITTED (uow.READ_COMMITTED): under REPEATABLE READ its
# locking read by id locked the gap after the message, and its ORM UPDATE of the row, by
# the whole key, was planned on idx_created_at on a small table, a next-key lock at the
# end of that index; either way sends waited for the cancel to commit
# (test_a_send_commits_while_a_cancel_is_open).
CANCEL_ISOLATION = READ_COMMITTED


def cancel_message(ctx: ServiceContext, message_id: str) -> Message:
    """Cancel a message that has not been picked up yet (pending, incl. scheduled)."""
    ctx.require(MESSAGE_SEND)
    now = utcnow()
    with tenant_transaction(ctx, isolation_level=CANCEL_ISOLATION) as s:
        message = lock_message(s, message_id, ctx.tenant_id)
        change_status(s, message, S.CANCELLED, now)
    return message


def list_messages(
    ctx: ServiceContext,
    *,
    status: str | None = None,
    account_id: str | None = None,
    batch_id: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
    fresh: bool = False,
) -> Page[Message]:
    """Newest first, cursor-paged; from the replica unless ``fresh``."""
    _require_read(ctx)
    stmt = select(Message).where(Message.tenant_id == ctx.tenant_id)
    if status is not None:
        try:
            stmt = stmt.where(Message.status == MessageStatus(status))
        except ValueError:
            raise ValidationError("status", f"unknown message status {status!r}") from None
    if account_id is not None:
        stmt = stmt.where(Message.account_id == account_id)
    if batch_id is not None:
        stmt = stmt.where(Message.batch_id == batch_id)
    with read_session(ctx.tenant_id, fresh=fresh) as s:
        # A filter naming another tenant's object is refused like any foreign id.
        require_owned(s, ctx, WeworkAccount, {account_id}, "account_id")
        require_owned(s, ctx, BatchSendTask, {batch_id}, "batch_id")
        return paginate(s, stmt, Message.created_at, Message.id, limit=limit, cursor=cursor)


def _require_read(ctx: ServiceContext) -> None:
    if not (ctx.can(MESSAGE_SEND) or ctx.can(REPORT_VIEW)):
        raise PermissionDeniedError(REPORT_VIEW)

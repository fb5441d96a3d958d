"""Batch send tasks: targets, expansion into messages, progress, pause/resume/cancel.

Targets (``target_type`` → ``target_config``):

- ``manual``: ``{"conversation_ids": ["c1", "c2", ...]}``
- ``import``: ``{"rows": [{"conversation_id": "c1", "variables": {"name": "Li"}}, ...]}``
  (per-row template variables, over the task's ``template_values``)
- ``group``:  ``{}`` — every active group conversation of the account
- ``filter``: ``{"tags": ["vip"], "conversation_type": "private"}`` — active
  conversations of the account having any of the tags and/or of that type

``send_strategy`` (optional, honoured by the dispatcher)::

    {"rate_per_minute": 60, "windows": [["09:00", "21:00"]], "timezone": "Asia/Shanghai"}

rate_per_minute limits this task's sends per account and minute; windows are local
times in ``timezone`` (a window whose end is before its start runs over midnight).

Counters: ``total_count`` = messages not cancelled, ``sent_count`` = sent or delivered,
``success_count`` = delivered, ``failed_count`` = failed for good, ``progress_percent`` =
(sent + failed) / total. They are updated in the same transaction as every message
status change (wework.services.messages.apply_batch_delta), and
:func:`counts_from_messages` recomputes them from the messages so the invariant can be
checked at any time. The task completes when every message is sent or failed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from wework.db.sharding import all_shards
from wework.enums import BatchStatus, ConversationType, MessageStatus, MessageType
from wework.errors import (
    InvalidTransitionError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from wework.models import BatchSendTask, Conversation, Message, utcnow
from wework.services import audit, templates
from wework.services import messages as msgs
from wework.services.content import validate_content
from wework.services.context import ServiceContext
from wework.services.fields import Input, parse
from wework.services.inputs import (
    TARGETS,
    GroupTargets,
    ImportTargets,
    ManualTargets,
    NewBatch,
    SendStrategy,
)
from wework.services.pagination import Page, paginate
from wework.services.permissions import BATCH_MANAGE, REPORT_VIEW
from wework.services.uow import (
    READ_COMMITTED,
    read_session,
    shard_transaction,
    tenant_transaction,
)

# ---------------------------------------------------------------- send strategy


def parse_strategy(strategy: Any) -> dict[str, Any] | None:
    """Validate a send_strategy (:class:`~wework.services.inputs.SendStrategy`); returns
    it normalised (timezone defaults to UTC)."""
    if strategy is None:
        return None
    return _strategy_dict(parse(SendStrategy, strategy, at="send_strategy"))


def _strategy_dict(strategy: SendStrategy | None) -> dict[str, Any] | None:
    return None if strategy is None else strategy.model_dump(exclude_none=True)


def in_send_window(strategy: Mapping[str, Any] | None, now_utc: datetime) -> bool:
    """True when ``now_utc`` (naive UTC) falls in one of the strategy's local windows."""
    if not strategy or not strategy.get("windows"):
        return True
    local = now_utc.replace(tzinfo=ZoneInfo("UTC")).astimezone(
        ZoneInfo(strategy.get("timezone", "UTC"))
    )
    t = local.time().replace(tzinfo=None)
    for start_s, end_s in strategy["windows"]:
        start, end = time.fromisoformat(start_s), time.fromisoformat(end_s)
        if (start <= t < end) if start < end else (t >= start or t < end):
            return True
    return False


# ---------------------------------------------------------------- targets


def resolve_targets(
    session: Session, account_id: str, targets_of: Input
) -> list[tuple[str, dict[str, Any]]]:
    """(conversation_id, per-target variables) for every target of ``targets_of`` (the
    target_config checked for its type: ``inputs.TARGETS``), first occurrence wins."""
    targets: list[tuple[str, dict[str, Any]]] = []
    if isinstance(targets_of, ManualTargets):
        targets = [(c, {}) for c in targets_of.conversation_ids]
    elif isinstance(targets_of, ImportTargets):
        targets = [(row.conversation_id, dict(row.variables or {})) for row in targets_of.rows]
    else:
        stmt = select(Conversation.conversation_id).where(
            Conversation.account_id == account_id, Conversation.is_active.is_(True)
        )
        if isinstance(targets_of, GroupTargets):
            stmt = stmt.where(Conversation.conversation_type == ConversationType.GROUP)
        else:  # FilterTargets
            if targets_of.tags is not None:
                stmt = stmt.where(func.json_overlaps(Conversation.tags,
                                                     json.dumps(targets_of.tags)) == 1)
            if targets_of.conversation_type is not None:
                stmt = stmt.where(Conversation.conversation_type == targets_of.conversation_type)
        targets = [(c, {}) for c in session.scalars(stmt.order_by(Conversation.conversation_id))]
    seen: set[str] = set()
    unique = []
    for conv, variables in targets:
        if conv not in seen:
            seen.add(conv)
            unique.append((conv, variables))
    if not unique:
        raise ValidationError("target_config", "matches no conversations")
    return unique


# ---------------------------------------------------------------- create


def create_batch(
    ctx: ServiceContext,
    *,
    task_name: str,
    account_id: str,
    target_type: str,
    target_config: dict[str, Any],
    template_id: str | None = None,
    template_values: dict[str, Any] | None = None,
    message_type: str | None = None,
    content: dict[str, Any] | None = None,
    send_strategy: dict[str, Any] | None = None,
    priority: int = msgs.DEFAULT_PRIORITY,
    scheduled_time: datetime | None = None,
) -> BatchSendTask:
    """Create a task and expand it into one pending message per target, all in one
    transaction (quota checked for the whole batch). The task starts ``running``."""
    ctx.require(BATCH_MANAGE)
    batch = parse(NewBatch, dict(
        task_name=task_name, account_id=account_id, target_type=target_type,
        target_config=target_config, template_id=template_id,
        template_values=template_values, message_type=message_type, content=content,
        send_strategy=send_strategy, priority=priority, scheduled_time=scheduled_time))
    if batch.content is not None:
        mtype = batch.message_type
        validate_content(mtype, content)
    ttype, strategy = batch.target_type, _strategy_dict(batch.send_strategy)
    targets_of = parse(TARGETS[ttype], target_config, at="target_config")
    task_name, scheduled_time = batch.task_name, batch.scheduled_time
    now = utcnow()
    with tenant_transaction(ctx) as s:
        msgs.require_accounts(s, ctx, {account_id})
        targets = resolve_targets(s, account_id, targets_of)
        if template_id is not None:
            template = templates.use_template(s, ctx, template_id, uses=len(targets))
            mtype = MessageType(template.template_type)
            base = dict(template_values or {})
            rendered = []
            for i, (_, variables) in enumerate(targets):
                try:
                    rendered.append(templates.render_content(template, {**base, **variables}))
                except ValidationError as exc:
                    raise ValidationError(f"targets[{i}].{exc.field}", exc.reason) from None
            stored = {"message_type": mtype.value, "template_values": base}
        else:
            rendered = [content] * len(targets)
            stored = {"message_type": mtype.value, "content": content}
        rate = (strategy or {}).get("rate_per_minute")
        task = BatchSendTask(
            tenant_id=ctx.tenant_id,
            creator_id=ctx.actor.user_id,
            task_name=task_name,
            account_id=account_id,
            template_id=template_id,
            message_content=stored,
            target_type=ttype,
            target_config=target_config,
            send_strategy=strategy,
            status=BatchStatus.RUNNING,
            total_count=0,  # enqueue_many counts the messages in
            sent_count=0,
            success_count=0,
            failed_count=0,
            progress_percent=Decimal("0.00"),
            start_time=now,
            estimated_duration=int(len(targets) * 60 / rate) if rate else None,
            created_at=now,
            updated_at=now,
        )
        s.add(task)
        s.flush()
        msgs.enqueue_many(
            ctx,
            (
                {
                    "account_id": account_id,
                    "conversation_id": conv,
                    "message_type": mtype,
                    "content": body,
                    "template_id": template_id,
                    "priority": priority,
                    "scheduled_time": scheduled_time,
                }
                for (conv, _), body in zip(targets, rendered, strict=True)
            ),
            batch_id=task.id,
            session=s,
        )
        s.refresh(task)  # the counters enqueue_many moved
        audit.record(s, ctx, "batch.create", task.__tablename__, task.id,
                     detail={"task_name": task_name, "total_count": task.total_count})
    return task


# ---------------------------------------------------------------- control


def _lock(session: Session, ctx: ServiceContext, batch_id: str) -> BatchSendTask:
    task = session.scalar(
        select(BatchSendTask)
        .where(BatchSendTask.id == batch_id, BatchSendTask.tenant_id == ctx.tenant_id)
        .with_for_update()
    )
    if task is None:
        raise NotFoundError("batch", batch_id)
    return task


def _move(task: BatchSendTask, allowed_from: set[BatchStatus], new: BatchStatus) -> None:
    if task.status not in allowed_from:
        raise InvalidTransitionError(
            "status", task.status.value, new.value, sorted(s.value for s in allowed_from)
        )
    task.status = new
    task.updated_at = utcnow()


def pause_batch(ctx: ServiceContext, batch_id: str) -> BatchSendTask:
    """The dispatcher sends nothing of a paused task (messages already sending finish)."""
    ctx.require(BATCH_MANAGE)
    with tenant_transaction(ctx) as s:
        task = _lock(s, ctx, batch_id)
        with audit.change(s, ctx, "batch.pause", task):
            _move(task, {BatchStatus.CREATED, BatchStatus.RUNNING}, BatchStatus.PAUSED)
    return task


def resume_batch(ctx: ServiceContext, batch_id: str) -> BatchSendTask:
    ctx.require(BATCH_MANAGE)
    with tenant_transaction(ctx) as s:
        task = _lock(s, ctx, batch_id)
        with audit.change(s, ctx, "batch.resume", task):
            _move(task, {BatchStatus.PAUSED}, BatchStatus.RUNNING)
        s.flush()
        # Everything may have finished while paused (e.g. failures of in-flight sends).
        msgs.complete_if_finished(s, batch_id, task.updated_at, tenant_id=ctx.tenant_id)
    return get_batch(ctx, batch_id)


def cancel_batch(ctx: ServiceContext, batch_id: str) -> BatchSendTask:
    """Cancel the task and every message of it still pending; messages already handed
    to the gateway keep their outcome."""
    ctx.require(BATCH_MANAGE)
    now = utcnow()
    with tenant_transaction(ctx) as s:
        task = _lock(s, ctx, batch_id)
        audit.record(s, ctx, "batch.cancel", task.__tablename__, task.id,
                     before={"status": task.status.value}, after={"status": "cancelled"})
        _move(
            task,
            {BatchStatus.CREATED, BatchStatus.RUNNING, BatchStatus.PAUSED},
            BatchStatus.CANCELLED,
        )
        task.end_time = now
        s.flush()
        cancelled = s.execute(
            update(Message)
            .where(Message.tenant_id == ctx.tenant_id, Message.batch_id == batch_id,
                   Message.status == MessageStatus.PENDING)
            .values(status=MessageStatus.CANCELLED, updated_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        msgs.apply_batch_delta(
            s,
            batch_id,
            msgs.counter_delta(MessageStatus.PENDING, MessageStatus.CANCELLED, cancelled),
            now,
            tenant_id=ctx.tenant_id,
        )
    return get_batch(ctx, batch_id)


def complete_finished_batches(now: datetime | None = None) -> list[str]:
    """Complete every running batch with nothing left to send, on every shard (the
    worker's safety net: message changes complete their batch themselves). Returns the
    ids completed."""
    now = now or utcnow()
    b = BatchSendTask
    completed = []
    for shard in all_shards():
        # A sweep: no gap lock where the next batch goes (uow.READ_COMMITTED).
        with shard_transaction(shard, isolation_level=READ_COMMITTED) as s:
            finished = s.scalars(
                select(b.id)
                .where(b.status == BatchStatus.RUNNING,
                       b.sent_count + b.failed_count >= b.total_count)
                .with_for_update(skip_locked=True)
            ).all()
            completed += [i for i in finished if msgs.complete_if_finished(s, i, now)]
    return completed


# ---------------------------------------------------------------- reads


def get_batch(ctx: ServiceContext, batch_id: str) -> BatchSendTask:
    _require_read(ctx)
    with read_session(ctx.tenant_id, fresh=True) as s:
        task = s.scalar(
            select(BatchSendTask).where(
                BatchSendTask.id == batch_id, BatchSendTask.tenant_id == ctx.tenant_id
            )
        )
    if task is None:
        raise NotFoundError("batch", batch_id)
    return task


def list_batches(
    ctx: ServiceContext, *, limit: int = 50, cursor: str | None = None, fresh: bool = False
) -> Page[BatchSendTask]:
    _require_read(ctx)
    stmt = select(BatchSendTask).where(BatchSendTask.tenant_id == ctx.tenant_id)
    with read_session(ctx.tenant_id, fresh=fresh) as s:
        return paginate(
            s, stmt, BatchSendTask.created_at, BatchSendTask.id, limit=limit, cursor=cursor
        )


def counts_from_messages(session: Session, batch_id: str) -> dict[str, Any]:
    """The counters as they must be, recomputed from the batch's messages."""
    by_status = dict(
        session.execute(
            select(Message.status, func.count())
            .where(Message.batch_id == batch_id)
            .group_by(Message.status)
        ).all()
    )
    totals = [0, 0, 0, 0]
    for status, n in by_status.items():
        for i, w in enumerate(msgs.COUNTER_WEIGHTS[MessageStatus(status)]):
            totals[i] += w * n
    total, sent, success, failed = totals
    progress = Decimal(0) if total == 0 else round(Decimal(100 * (sent + failed)) / total, 2)
    return {
        "total_count": total,
        "sent_count": sent,
        "success_count": success,
        "failed_count": failed,
        "progress_percent": progress.quantize(Decimal("0.01")),
    }


def stored_counts(task: BatchSendTask) -> dict[str, Any]:
    return {
        "total_count": task.total_count,
        "sent_count": task.sent_count,
        "success_count": task.success_count,
        "failed_count": task.failed_count,
        "progress_percent": Decimal(task.progress_percent).quantize(Decimal("0.01")),
    }


def _require_read(ctx: ServiceContext) -> None:
    if not (ctx.can(BATCH_MANAGE) or ctx.can(REPORT_VIEW)):
        raise PermissionDeniedError(REPORT_VIEW)

"""A small, coherent data set written straight into the primary with SQL (seeded random)."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert

from wework.models import (
    AccountStatusHistory,
    AlertNotice,
    BatchSendTask,
    CallbackEvent,
    Message,
    Tenant,
    WeworkAccount,
    new_id,
)

MESSAGE_TYPES = ["text", "image", "file", "link"]
MESSAGE_STATUSES = ["pending", "sending", "sent", "delivered", "failed", "cancelled"]
STATUS_WEIGHTS = [1, 1, 3, 5, 2, 1]
EVENT_TYPES = ["message_status", "login", "contact_change"]


@dataclass
class Dataset:
    now: datetime
    tenants: list[dict] = field(default_factory=list)
    accounts: list[dict] = field(default_factory=list)
    history: list[dict] = field(default_factory=list)
    messages: list[dict] = field(default_factory=list)
    tasks: list[dict] = field(default_factory=list)
    callbacks: list[dict] = field(default_factory=list)
    notices: list[dict] = field(default_factory=list)


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def _id() -> str:
    return str(uuid.uuid4())


def build_dataset(now: datetime, seed: int = 7, n_messages: int = 400) -> Dataset:
    rng = random.Random(seed)
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(days=3)
    ds = Dataset(now=now)
    for i, (max_acc, max_daily) in enumerate([(3, 40), (10, 1000)]):
        ds.tenants.append(
            dict(
                id=_id(),
                tenant_code=f"t{i}-{uuid.uuid4().hex[:6]}",
                tenant_name=f"Tenant {i}",
                max_accounts=max_acc,
                max_daily_messages=max_daily,
                status="active",
                created_at=start - timedelta(days=1),
                updated_at=start - timedelta(days=1),
            )
        )
    for i in range(4):
        created = start + timedelta(hours=30 if i == 3 else i, minutes=17 * i)
        ds.accounts.append(
            dict(
                id=_id(),
                tenant_id=ds.tenants[i % 2]["id"],
                account_name=f"acct {i}",
                status="created",
                created_at=created,
                updated_at=created,
            )
        )
    # Status history: a random walk through login, online, drops and recoveries.
    moves = {
        "created": ["logging_in"],
        "logging_in": ["online", "online", "error"],
        "online": ["offline", "error", "online_stay"],
        "offline": ["logging_in", "online"],
        "error": ["recovering", "online"],
        "recovering": ["online", "error"],
    }
    for acct in ds.accounts:
        t, status = acct["created_at"] + timedelta(minutes=5), "created"
        while t < now - timedelta(hours=1):
            nxt = rng.choice(moves[status])
            if nxt != "online_stay":
                ds.history.append(
                    dict(
                        account_id=acct["id"],
                        old_status=status,
                        new_status=nxt,
                        operator_type="system",
                        created_at=t,
                    )
                )
                status = nxt
            t += timedelta(minutes=rng.randint(20, 400))
        acct["status"] = status
    for i in range(3):
        acct = ds.accounts[i]
        st = acct["created_at"] + timedelta(hours=2)
        ds.tasks.append(
            dict(
                id=_id(),
                tenant_id=acct["tenant_id"],
                creator_id=_id(),
                task_name=f"task {i}",
                account_id=acct["id"],
                message_content={"text": "批量"},
                target_type="manual",
                target_config={"ids": []},
                send_strategy={"rate_per_minute": 60 * (i + 1)} if i < 2 else None,
                status="completed",
                total_count=0,
                sent_count=0,
                success_count=0,
                failed_count=0,
                start_time=st,
                end_time=st + timedelta(minutes=7 + i),
                created_at=st,
                updated_at=st,
            )
        )
    for _ in range(n_messages):
        acct = rng.choice(ds.accounts)
        span = (now - timedelta(minutes=10) - acct["created_at"]).total_seconds()
        created = acct["created_at"] + timedelta(seconds=rng.randint(0, int(span)))
        status = rng.choices(MESSAGE_STATUSES, STATUS_WEIGHTS)[0]
        send = cb = None
        if status in ("sending", "sent", "delivered", "failed"):
            send = created + timedelta(seconds=rng.randint(0, 60))
        if status == "delivered" or (status == "sent" and rng.random() < 0.3):
            cb = send + timedelta(seconds=rng.randint(1, 600))
        task = next((t for t in ds.tasks if t["account_id"] == acct["id"]), None)
        batch_id = task["id"] if task and rng.random() < 0.4 else None
        if task and batch_id:  # the batch service's counters (wework.services.batches)
            task["total_count"] += status != "cancelled"
            task["sent_count"] += status in ("sent", "delivered")
            task["success_count"] += status == "delivered"
            task["failed_count"] += status == "failed"
        ds.messages.append(
            dict(
                id=_id(),
                tenant_id=acct["tenant_id"],
                account_id=acct["id"],
                conversation_id=f"conv-{rng.randint(1, 9)}",
                message_type=rng.choice(MESSAGE_TYPES),
                content={"text": f"你好 {rng.randint(1, 99)}"},
                status=status,
                send_time=send,
                callback_time=cb,
                retry_count=rng.randint(0, 3),
                batch_id=batch_id,
                priority=5,
                created_at=created,
                updated_at=max(x for x in (created, send, cb) if x),
            )
        )
    ds.tasks[1]["success_count"] += 1  # a task whose counters disagree with its messages
    for _ in range(60):
        received = start + timedelta(seconds=rng.randint(0, int((now - start).total_seconds())))
        status = rng.choice(["processed", "processed", "failed", "ignored", "received"])
        processed = (
            None if status == "received" else received + timedelta(seconds=rng.randint(0, 90))
        )
        ds.callbacks.append(
            dict(
                id=_id(),
                guid=f"g{rng.randint(1, 4)}",
                notify_type=rng.randint(1, 3),
                event_type=rng.choice(EVENT_TYPES),
                raw_data="{}",
                status=status,
                process_time=processed,
                received_time=received,
            )
        )
    _alert_notices(ds, start, now)
    return ds


def _alert_notices(ds: Dataset, start: datetime, now: datetime) -> None:
    """Operator alert notices (wework.alerts): a platform alert that fired twice (once
    with a repeat), a tenant's alert still firing at ``now`` whose resolved notice comes
    after it (a check whose clock ran ahead), and one that fired and resolved in the same
    second."""
    tenant = ds.tenants[0]["id"]
    alerts = {
        "lag": (str(uuid.uuid4()), "replica_lag", "replica", None, "critical"),
        "accounts": (str(uuid.uuid4()), "tenant_accounts_unhealthy", tenant, tenant, "warning"),
        "disk": (str(uuid.uuid4()), "disk_free", "/data", None, "warning"),
    }
    timeline = [
        ("lag", "firing", 0, start + timedelta(hours=1), 3.5),
        ("lag", "firing", 1, start + timedelta(hours=2), 2.0),
        ("lag", "resolved", 0, start + timedelta(hours=2, minutes=30), 0.2),
        ("lag", "firing", 0, start + timedelta(days=1, minutes=7), 9.0),
        ("lag", "resolved", 0, start + timedelta(days=1, minutes=12), 0.0),
        ("accounts", "firing", 0, now - timedelta(hours=2), 0.5),
        ("accounts", "firing", 1, now - timedelta(hours=1), 0.6),
        ("accounts", "resolved", 0, now + timedelta(hours=1), 0.0),
        ("disk", "firing", 0, start + timedelta(hours=5), 0.05),
        ("disk", "resolved", 0, start + timedelta(hours=5), 0.2),
    ]
    for name, kind, repeat, at, value in timeline:
        alert_id, rule, subject, tenant_id, severity = alerts[name]
        ds.notices.append(
            dict(
                id=new_id(),  # UUIDv7: orders notices of the same second
                alert_id=alert_id,
                rule=rule,
                subject=subject,
                tenant_id=tenant_id,
                severity=severity,
                kind=kind,
                repeat=repeat,
                value=value,
                summary=f"{rule} {subject}: {value}",
                at=at,
                payload={"type": f"alert.{kind}"},
                delivery="unsent",
            )
        )


def write_dataset(engine: Engine, ds: Dataset) -> None:
    with engine.begin() as conn:
        for model, rows in (
            (Tenant, ds.tenants),
            (WeworkAccount, ds.accounts),
            (AccountStatusHistory, ds.history),
            (BatchSendTask, ds.tasks),
            (Message, ds.messages),
            (CallbackEvent, ds.callbacks),
            (AlertNotice, ds.notices),
        ):
            if rows:
                conn.execute(insert(model.__table__), rows)

"""`wework db seed`: coherent, realistic multi-tenant sample data at scale.

What "coherent" means here, and what the tests check:
- every account's status history is a legal path of the account state machine that
  starts at ``created`` and ends in the account's current status;
- messages are sent only by accounts that have been online, on their own tenant's
  conversations, with send/callback times that follow creation;
- batch task counters equal the counts of their messages (computed from the loaded
  messages in SQL, so they cannot drift);
- tenant quotas are sized from the generated traffic (a few tenants close to the limit).

Small tables go in through SQLAlchemy Core (encrypted columns are encrypted by their
column type); messages and callback events are generated in numpy/polars chunks and
streamed through ``LOAD DATA LOCAL INFILE`` while the next chunk is being generated.
"""

from __future__ import annotations

import json
import math
import os
import queue
import random
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
from faker import Faker
from sqlalchemy import insert, text, update
from sqlalchemy.orm import Session

from wework.config import Settings, get_settings
from wework.db import generation
from wework.db.engines import DbUser, Role, get_engine
from wework.db.sharding import shard_for_tenant
from wework.gateway.base import EventType, NotifyType
from wework.models import (
    AccountStatusHistory,
    Base,
    BatchSendTask,
    CallbackEvent,
    Conversation,
    Message,
    MessageTemplate,
    Tenant,
    User,
    UserRole,
    WeworkAccount,
)
from wework.models import (
    Role as RoleModel,
)
from wework.models.callback_dedup import CallbackEventKey
from wework.security.crypto import lookup_hash
from wework.security.passwords import hash_password, salt_hex
from wework.seed import bulk
from wework.seed.entities import TenantPlan, det_uuid, gateway_uuid, plan_tenants
from wework.seed.messages import (
    MESSAGE_COLUMNS,
    AccountArrays,
    BatchSpec,
    MessageGenerator,
    callbacks_for,
)
from wework.services.batches import counts_from_messages

# Every table of the schema (wipe and counts run with foreign key checks off).
# Every table but the data generation, which the seed rotates when it is done.
SEED_TABLES = tuple(t.name for t in Base.metadata.sorted_tables if t.name != generation.TABLE)
CONVERSATIONS_PER_ACCOUNT = 30
GROUPS_PER_ACCOUNT = 8
BATCH_STATUSES = {"completed": 55, "running": 12, "paused": 10, "cancelled": 10,
                  "failed": 5, "created": 8}


@dataclass
class SeedConfig:
    tenants: int = 20
    accounts: int = 400
    days: int = 90
    messages: int = 2_000_000
    seed: int = 42
    now: datetime | None = None
    batch_share: float = 0.15  # of messages that belong to batch tasks
    callback_share: float = 0.1  # of finished messages that get a stored receipt event
    chunk_size: int = 200_000


@dataclass
class SeedSummary:
    counts: dict[str, int]
    seconds: dict[str, float]
    demo_password: str
    demo_users: dict[str, dict[str, str]] = field(default_factory=dict)  # tenant -> role -> user

    @property
    def messages_per_second(self) -> float:
        return self.counts.get("messages", 0) / max(self.seconds.get("messages", 1e-9), 1e-9)


class SeedError(RuntimeError):
    pass


def _primary(shard: int, settings: Settings):
    """The seed bulk-loads (dropping and rebuilding indexes, TRUNCATE): DDL, so it runs as
    the migrator, not as the app's DML-only user."""
    return get_engine(Role.PRIMARY, shard, settings, user=DbUser.MIGRATOR)


def table_counts(settings: Settings) -> dict[str, int]:
    counts = dict.fromkeys(SEED_TABLES, 0)
    for shard in range(settings.shard_count):
        with _primary(shard, settings).connect() as conn:
            for t in SEED_TABLES:
                counts[t] += conn.execute(text(f"SELECT COUNT(*) FROM `{t}`")).scalar_one()
    return counts


def wipe(settings: Settings) -> None:
    for shard in range(settings.shard_count):
        with _primary(shard, settings).begin() as conn:
            conn.execute(text("SET FOREIGN_KEY_CHECKS = 0"))
            for t in SEED_TABLES:
                conn.execute(text(f"TRUNCATE TABLE `{t}`"))
            conn.execute(text("SET FOREIGN_KEY_CHECKS = 1"))


def seed(
    cfg: SeedConfig,
    settings: Settings | None = None,
    replace: bool = False,
    progress: Callable[[str], None] = lambda _msg: None,
) -> SeedSummary:
    s = settings or get_settings()
    _validate(cfg)
    existing = table_counts(s)
    if any(existing.values()):
        if not replace:
            raise SeedError(
                f"the database already holds data ({existing['tenants']} tenants, "
                f"{existing['messages']} messages): pass --replace to wipe it and seed anew"
            )
        wipe(s)
    now = (cfg.now or datetime.now(UTC)).replace(tzinfo=None, microsecond=0)
    rng = random.Random(cfg.seed)
    faker = Faker("zh_CN")
    faker.seed_instance(cfg.seed)
    password = secrets.token_urlsafe(12)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    plans = plan_tenants(
        rng, faker, cfg.tenants, cfg.accounts, now, cfg.days,
        CONVERSATIONS_PER_ACCOUNT, GROUPS_PER_ACCOUNT,
    )
    _hash_passwords([u for p in plans for u in p.users], password)
    counts = _insert_entities(plans, s)
    timings["entities"] = time.perf_counter() - t0
    progress(f"tenants, users, accounts, history, conversations: {timings['entities']:.1f}s")

    accounts, positions = _account_arrays(plans, rng)
    gen = MessageGenerator(cfg.seed + 1, accounts, now, cfg.days, GROUPS_PER_ACCOUNT,
                           CONVERSATIONS_PER_ACCOUNT)
    batch_total = int(cfg.messages * cfg.batch_share) if len(accounts.ids) else 0
    free_total = cfg.messages - batch_total if len(accounts.ids) else 0
    batches, specs = _plan_batches(plans, positions, rng, now, batch_total)

    t0 = time.perf_counter()
    frames = _batch_frames(gen, specs)
    loaded, aggregates = _stream_messages(gen, free_total, cfg, frames, s, progress)
    counts.update(loaded)
    timings["messages"] = time.perf_counter() - t0
    progress(f"{counts['messages']:,} messages, {counts['callback_events']:,} callbacks in "
             f"{timings['messages']:.1f}s ({counts['messages'] / timings['messages']:,.0f} rows/s)")

    t0 = time.perf_counter()
    counts["batch_send_tasks"] = _insert_batches(batches, s)
    counts["callback_events"] += _status_callbacks(plans, s, cfg.seed)
    _finalise(plans, s, rng, aggregates)
    # Last, once every row is in: a pipeline run during the seed read part of it under the
    # old generation, and this tells the next run to read every shard whole.
    for shard in range(s.shard_count):
        with _primary(shard, s).begin() as conn:
            generation.rotate(conn, f"seeded by wework db seed (seed {cfg.seed}"
                              f"{', replacing the data' if replace else ''})")
    timings["finalise"] = time.perf_counter() - t0
    demo = {p.row["tenant_code"]: dict(p.demo_users) for p in plans
            if p.row["status"] == "active"}
    return SeedSummary(counts=counts, seconds=timings, demo_password=password, demo_users=demo)


def _validate(cfg: SeedConfig) -> None:
    for name in ("tenants", "accounts", "days"):
        if getattr(cfg, name) < 1:
            raise SeedError(f"{name}: must be at least 1")
    if cfg.messages < 0:
        raise SeedError("messages: must not be negative")
    if cfg.accounts < cfg.tenants:
        raise SeedError("accounts: must be at least the number of tenants")
    if not 0 <= cfg.batch_share < 1:
        raise SeedError("batch_share: must be in [0, 1)")


def _hash_passwords(users: list[dict], password: str) -> None:
    """argon2id on every core: it releases the GIL, and a hash costs ~50 ms or more."""
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        hashes = list(pool.map(lambda _u: hash_password(password), users))
    for user, hashed in zip(users, hashes, strict=True):
        user["password_hash"], user["salt"] = hashed, salt_hex(hashed)


def _by_shard(plans: list[TenantPlan], settings: Settings) -> dict[int, list[TenantPlan]]:
    out: dict[int, list[TenantPlan]] = {}
    for p in plans:
        out.setdefault(shard_for_tenant(p.row["id"], settings.shard_count), []).append(p)
    return out


def _insert_entities(plans: list[TenantPlan], settings: Settings) -> dict[str, int]:
    counts: dict[str, int] = {}

    def add(model, rows: list[dict], conn) -> None:
        if rows:
            conn.execute(insert(model), rows)
        counts[model.__tablename__] = counts.get(model.__tablename__, 0) + len(rows)

    for shard, shard_plans in _by_shard(plans, settings).items():
        with _primary(shard, settings).begin() as conn:
            add(Tenant, [p.row for p in shard_plans], conn)
            add(RoleModel, [r for p in shard_plans for r in p.roles], conn)
            add(User, [u for p in shard_plans for u in p.users], conn)
            add(UserRole, [r for p in shard_plans for r in p.user_roles], conn)
            accounts = [
                {**a.row, "phone_hash": lookup_hash(a.row["phone"]),
                 "email_hash": lookup_hash(a.row["email"])}
                for p in shard_plans for a in p.accounts
            ]
            add(WeworkAccount, accounts, conn)
            add(AccountStatusHistory, [h for p in shard_plans for a in p.accounts
                                       for h in a.history], conn)
            add(Conversation, [c for p in shard_plans for c in p.conversations], conn)
            add(MessageTemplate, [t for p in shard_plans for t in p.templates], conn)
    return counts


def _account_arrays(plans: list[TenantPlan], rng: random.Random):
    """Arrays of the accounts that have been online (the only ones that send)."""
    ids, tenants, tidx, numbers, fail, scale, weight = [], [], [], [], [], [], []
    positions: dict[str, int] = {}
    for ti, p in enumerate(plans):
        for a in p.accounts:
            if not a.online_ever:
                continue
            positions[a.row["id"]] = len(ids)
            ids.append(a.row["id"])
            tenants.append(p.row["id"])
            tidx.append(ti)
            numbers.append(a.number)
            fail.append(rng.uniform(0.08, 0.2) if a.flappy else rng.uniform(0.01, 0.05))
            scale.append(2.5 if a.flappy else rng.uniform(0.7, 1.3))
            weight.append(rng.paretovariate(2.0))
    templates = np.array([[t["id"] for t in p.templates] for p in plans], dtype=object)
    arrays = AccountArrays(
        ids=np.array(ids, dtype=object), tenant_ids=np.array(tenants, dtype=object),
        tenant_index=np.array(tidx, dtype=int), numbers=np.array(numbers, dtype=int),
        fail_rate=np.array(fail), latency_scale=np.array(scale), weight=np.array(weight),
        template_ids=templates,
    )
    return arrays, positions


def _plan_batches(plans, positions, rng: random.Random, now: datetime, total: int):
    tasks, specs = [], []
    owners = [p for p in plans if any(a.online_ever for a in p.accounts)]
    if total <= 0 or not owners:
        return tasks, specs
    n_tasks = max(1, min(len(owners) * 3, total // 200))
    sizes = [max(1, total // n_tasks)] * n_tasks
    sizes[-1] += total - sum(sizes)
    statuses = list(BATCH_STATUSES)
    for i, size in enumerate(sizes):
        plan = owners[i % len(owners)]
        account = rng.choice([a for a in plan.accounts if a.online_ever])
        kind = rng.randrange(len(plan.templates))
        template = plan.templates[kind]
        status = rng.choices(statuses, weights=list(BATCH_STATUSES.values()))[0]
        rate = rng.choice((60, 120, 300, 600))
        duration = math.ceil(size * 60 / rate)
        if status in ("running", "paused"):
            done = int(size * rng.uniform(0.2, 0.8))
            start = now - timedelta(seconds=math.ceil(done * 60 / rate) + rng.randint(60, 600))
        elif status == "created":
            done, start = 0, None
        else:
            done = {"completed": size, "cancelled": int(size * rng.uniform(0.1, 0.7)),
                    "failed": int(size * rng.uniform(0.05, 0.3))}[status]
            latest = now - timedelta(seconds=duration + 3_600)
            start = latest - timedelta(seconds=rng.randint(0, 80 * 86_400))
        created = (start or now - timedelta(seconds=rng.randint(60, 3_600))) - timedelta(
            seconds=rng.randint(5, 120))
        batch_id = det_uuid(rng, created)
        target_type = rng.choice(("manual", "import", "group", "filter"))
        target_config = {
            "manual": {"conversation_ids": ["(see messages)"], "count": size},
            "import": {"file": f"targets-{i}.csv", "rows": size},
            "group": {"conversation_type": "group"},
            "filter": {"tags": ["vip"], "conversation_type": "private"},
        }[target_type]
        tasks.append({
            "id": batch_id,
            "tenant_id": plan.row["id"],
            "creator_id": plan.users[1]["id"],
            "task_name": f"{template['category']} campaign {i + 1}",
            "account_id": account.row["id"],
            "template_id": template["id"],
            "message_content": template["template_content"],
            "target_type": target_type,
            "target_config": target_config,
            "send_strategy": {"rate_per_minute": rate, "windows": [["00:00", "23:59"]],
                              "timezone": "UTC"},
            "status": status,
            "start_time": start,
            "estimated_duration": duration,
            "error_message": "stopped: failure rate above 50%" if status == "failed" else None,
            "created_at": created,
            "updated_at": created,
        })
        specs.append(BatchSpec(
            batch_id=batch_id, account_pos=positions[account.row["id"]], template_kind=kind,
            created=created, start=start, total=size, done=done,
            rest_status="pending" if status in ("running", "paused", "created") else "cancelled",
            rate_per_minute=rate, fail_boost=0.5 if status == "failed" else 0.0,
        ))
    return tasks, specs


def _batch_frames(gen: MessageGenerator, specs: list[BatchSpec]):
    for spec in specs:
        yield gen.batch(spec)


def _stream_messages(gen, free_total, cfg: SeedConfig, batch_frames, settings, progress):
    """Generate chunks in a background thread while the main thread loads the last one.

    Returns the row counts and the aggregates the finishing step needs (last message per
    conversation, messages per tenant and day), gathered from the frames on the way so
    that no query has to scan the loaded table again."""
    frames: queue.Queue = queue.Queue(maxsize=2)
    failure: list[BaseException] = []

    def produce() -> None:
        try:
            seq = 0
            pending: list[pl.DataFrame] = []
            for df in gen.chunks(free_total, cfg.chunk_size):
                frames.put((df, callbacks_for(df, cfg.seed + 1000 + seq, cfg.callback_share)))
                seq += 1
            for df in batch_frames:  # batch messages, gathered into chunk-sized frames
                pending.append(df)
                if sum(d.height for d in pending) >= cfg.chunk_size:
                    merged = pl.concat(pending)
                    frames.put((merged, callbacks_for(merged, cfg.seed + 1000 + seq,
                                                      cfg.callback_share)))
                    seq += 1
                    pending = []
            if pending:
                merged = pl.concat(pending)
                frames.put((merged, callbacks_for(merged, cfg.seed + 1000 + seq,
                                                  cfg.callback_share)))
        except BaseException as exc:  # surfaced in the loading thread
            failure.append(exc)
        finally:
            frames.put(None)

    counts = {"messages": 0, "callback_events": 0, "callback_event_keys": 0}
    conv_last: list[pl.DataFrame] = []
    daily: list[pl.DataFrame] = []
    loaders = {i: bulk.loader_engine(_primary(i, settings))
               for i in range(settings.shard_count)}
    raw = {i: e.raw_connection() for i, e in loaders.items()}
    producer = threading.Thread(target=produce, name="seed-generator", daemon=True)
    try:
        with ExitStack() as deferred:
            for conn in raw.values():
                deferred.enter_context(bulk.indexes_deferred(conn, Message.__table__))
                deferred.enter_context(bulk.indexes_deferred(conn, CallbackEvent.__table__))
            producer.start()
            while (item := frames.get()) is not None:
                messages, (callbacks, keys) = item
                for shard, part in _split_by_shard(messages, settings).items():
                    counts["messages"] += bulk.load_frame(raw[shard], "messages",
                                                          part.select(MESSAGE_COLUMNS))
                for shard, part in _split_callbacks(callbacks, messages, settings).items():
                    counts["callback_events"] += bulk.load_frame(raw[shard], "callback_events",
                                                                 part)
                for shard, part in _split_callbacks(keys, messages, settings).items():
                    counts["callback_event_keys"] += bulk.load_frame(
                        raw[shard], "callback_event_keys", part)
                conv_last.append(messages.group_by("account_id", "conversation_id").agg(
                    pl.col("created_at").max().alias("last_at")))
                daily.append(messages.group_by("tenant_id", pl.col("created_at").dt.date()
                                               .alias("day")).len())
                progress(f"  loaded {counts['messages']:,} messages")
            progress("  building the secondary indexes of messages and callback_events")
    finally:
        if producer.is_alive() or producer.ident is not None:
            producer.join()
        for c in raw.values():
            c.close()
        for e in loaders.values():
            e.dispose()
    if failure:
        raise failure[0]
    aggregates = {
        "conversations": pl.concat(conv_last).group_by("account_id", "conversation_id").agg(
            pl.col("last_at").max()) if conv_last else None,
        "peak_daily": dict(pl.concat(daily).group_by("tenant_id", "day").agg(pl.col("len").sum())
                           .group_by("tenant_id").agg(pl.col("len").max()).iter_rows())
        if daily else {},
    }
    return counts, aggregates


def _split_by_shard(df: pl.DataFrame, settings: Settings) -> dict[int, pl.DataFrame]:
    if settings.shard_count == 1:
        return {0: df}
    shard = df["tenant_id"].map_elements(
        lambda t: shard_for_tenant(t, settings.shard_count), return_dtype=pl.Int64)
    df = df.with_columns(shard.alias("_shard"))
    return {k[0]: g.drop("_shard") for k, g in df.group_by("_shard")}


def _split_callbacks(callbacks, messages, settings) -> dict[int, pl.DataFrame]:
    """Callback events live in the shard of the account (guid) that sent them."""
    if settings.shard_count == 1:
        return {0: callbacks}
    tenant_of = messages.select(
        pl.concat_str(pl.lit("guid-"), pl.col("account_id")).alias("guid"), "tenant_id"
    ).unique()
    joined = callbacks.join(tenant_of, on="guid", how="left")
    return {s: g.drop("tenant_id") for s, g in _split_by_shard(joined, settings).items()}


def _insert_batches(tasks: list[dict], settings: Settings) -> int:
    by_shard: dict[int, list[dict]] = {}
    for t in tasks:
        by_shard.setdefault(shard_for_tenant(t["tenant_id"], settings.shard_count), []).append(t)
    for shard, rows in by_shard.items():
        with _primary(shard, settings).begin() as conn:
            conn.execute(insert(BatchSendTask), rows)
    return len(tasks)


def _status_callbacks(plans: list[TenantPlan], settings: Settings, seed: int) -> int:
    """One processed status-notification event per account status change."""
    rng = random.Random(seed + 7)
    total = 0
    for shard, shard_plans in _by_shard(plans, settings).items():
        rows, keys = [], []
        for p in shard_plans:
            for a in p.accounts:
                for h in a.history[1:]:
                    event_id, event_row = gateway_uuid(rng), det_uuid(rng, h["created_at"])
                    data = {"status": h["new_status"], "reason": h["reason"]}
                    keys.append({"guid": a.row["guid"], "event_id": event_id,
                                 "callback_event_id": event_row, "created_at": h["created_at"]})
                    raw = {"event_id": event_id, "guid": a.row["guid"],
                           "notify_type": int(NotifyType.ACCOUNT_STATUS),
                           "event_type": EventType.ACCOUNT_STATUS.value,
                           "timestamp": h["created_at"].strftime("%Y-%m-%dT%H:%M:%SZ"),
                           "data": data}
                    rows.append({
                        "id": event_row, "guid": a.row["guid"],
                        "notify_type": int(NotifyType.ACCOUNT_STATUS),
                        "event_type": EventType.ACCOUNT_STATUS.value,
                        "raw_data": json.dumps(raw, ensure_ascii=False), "parsed_data": data,
                        "status": "processed", "retry_count": 0,
                        "process_time": h["created_at"], "received_time": h["created_at"],
                        "source_ip": "10.8.0.12", "user_agent": "WeWorkInstance/3.1",
                    })
        if rows:
            with _primary(shard, settings).begin() as conn:
                conn.execute(insert(CallbackEvent), rows)
                conn.execute(insert(CallbackEventKey), keys)
        total += len(rows)
    return total


def _finalise(plans: list[TenantPlan], settings: Settings, rng: random.Random,
              aggregates: dict) -> None:
    """Derived values: batch counters, conversation activity, quotas sized to traffic."""
    conversations = aggregates["conversations"]
    peak = aggregates["peak_daily"]
    for shard, shard_plans in _by_shard(plans, settings).items():
        engine = _primary(shard, settings)
        with Session(engine) as session, session.begin():
            # The batch service's own recount, so the seeded counters mean what its do.
            for (batch_id,) in session.execute(text("SELECT id FROM batch_send_tasks")):
                session.execute(
                    update(BatchSendTask).where(BatchSendTask.id == batch_id)
                    .values(**counts_from_messages(session, batch_id))
                )
            session.execute(text(
                "UPDATE batch_send_tasks b SET b.end_time = ("
                "  SELECT MAX(COALESCE(m.callback_time, m.send_time)) FROM messages m"
                "  WHERE m.batch_id = b.id) WHERE b.status IN ('completed','cancelled','failed')"
            ))
            if conversations is not None:
                accounts = [a.row["id"] for p in shard_plans for a in p.accounts]
                rows = conversations.filter(pl.col("account_id").is_in(accounts)).iter_rows()
                session.execute(
                    text("UPDATE conversations SET last_msg_time = :last_at, "
                         "last_msg_content = '[消息]', updated_at = GREATEST(updated_at, :last_at)"
                         " WHERE account_id = :account_id AND conversation_id = :conversation_id"),
                    [{"account_id": a, "conversation_id": c, "last_at": t} for a, c, t in rows],
                )
            for i, p in enumerate(shard_plans):
                factor = 1.02 if i % 7 == 3 else rng.uniform(1.2, 2.5)
                quota = max(100, math.ceil(peak.get(p.row["id"], 0) * factor))
                session.execute(
                    update(Tenant).where(Tenant.id == p.row["id"])
                    .values(max_daily_messages=quota)
                )

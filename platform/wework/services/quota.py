"""The daily message quota (``tenants.max_daily_messages``, per UTC day) without a global
queue: the day's allowance is counted in :data:`STRIPES` rows of ``tenant_daily_quota``
(:mod:`wework.models.quota`); stripe ``i`` may reach :func:`stripe_cap`, and the caps add
up to the limit, so the sum of the stripes — the messages admitted today — never exceeds
it, whatever runs concurrently.

:func:`reserve` takes ``n`` messages' worth in the caller's transaction (released by its
rollback, kept by its commit):

1. a plain read of the day's stripes picks, in random order, those that look like they
   have room for all ``n``; each is tried with a point ``SELECT … FOR UPDATE SKIP LOCKED``
   (a stripe another send holds is passed over, never waited for) and taken with an
   ``UPDATE`` when it really has room. Concurrent sends of one tenant so spread over the
   stripes instead of queueing on one row;
2. only if that finds nothing (near the limit, or ``n`` larger than one stripe's room)
   (or when a stripe is over its cap: the limit was lowered today) every stripe of the
   day is locked in stripe order and the exact remainder decides:
   ``n`` is taken from the stripes with room, or the call is refused with
   QuotaExceededError. Two sends in this step at once can deadlock (each may hold a
   stripe from step 1); InnoDB then rolls one back and `uow.retry_on_deadlock` runs
   that send again (:func:`wework.services.uow.retry_on_deadlock`).

A day's stripes are created by the first send of the day, starting from the messages
the tenant already has that day (created before this table existed, or by a bulk load).
"""

from __future__ import annotations

import random
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.orm import Session

from wework.errors import QuotaExceededError
from wework.models import Message, TenantDailyQuota

STRIPES = 16
Q = TenantDailyQuota


def stripe_cap(limit: int, stripe: int) -> int:
    """How many of the day's ``limit`` messages stripe ``stripe`` may count."""
    return limit // STRIPES + (1 if stripe < limit % STRIPES else 0)


def reserve(session: Session, tenant_id: str, n: int, limit: int, now: datetime) -> None:
    """Count ``n`` more messages of ``tenant_id`` today against ``limit``, in the caller's
    transaction; QuotaExceededError (naming ``max_daily_messages``) when they do not fit."""
    if n <= 0:
        return
    day = now.date()
    key = (Q.tenant_id == tenant_id, Q.day == day)
    used = dict(session.execute(select(Q.stripe, Q.used).where(*key)).all())
    if len(used) < STRIPES:
        _create_day(session, tenant_id, now, limit)
        used = dict(session.execute(select(Q.stripe, Q.used).where(*key)).all())
    # A stripe over its cap (the limit was lowered today): only the exact step is safe.
    within = all(u <= stripe_cap(limit, i) for i, u in used.items())
    candidates = [i for i, u in used.items() if within and u + n <= stripe_cap(limit, i)]
    random.shuffle(candidates)
    for stripe in candidates:
        current = session.scalar(
            select(Q.used).where(*key, Q.stripe == stripe).with_for_update(skip_locked=True))
        if current is not None and current + n <= stripe_cap(limit, stripe):
            _add(session, tenant_id, day, stripe, n)
            return
    # Near the limit: the exact remainder, every stripe locked in one order.
    locked = session.execute(
        select(Q.stripe, Q.used).where(*key).order_by(Q.stripe).with_for_update()
    ).all()
    today = sum(u for _, u in locked)
    # The stripes with room always hold the total's remainder (over-cap stripes only
    # make the total larger), so taking from them never goes past a cap.
    room = {i: stripe_cap(limit, i) - u for i, u in locked if stripe_cap(limit, i) > u}
    if today + n > limit:
        raise QuotaExceededError(
            "max_daily_messages",
            f"{today} messages today + {n} would exceed the daily limit of {limit}",
        )
    left = n
    for stripe, free in room.items():
        take = min(free, left)
        _add(session, tenant_id, day, stripe, take)
        left -= take
        if not left:
            return


def _add(session: Session, tenant_id: str, day, stripe: int, n: int) -> None:
    session.execute(
        update(Q)
        .where(Q.tenant_id == tenant_id, Q.day == day, Q.stripe == stripe)
        .values(used=Q.used + n)
        .execution_options(synchronize_session=False)
    )


def _create_day(session: Session, tenant_id: str, now: datetime, limit: int) -> None:
    """The day's stripes, holding the messages the tenant already has today (each stripe
    filled up to its cap in turn; any excess in the last). Concurrent first sends insert
    the same rows: the first wins, the others' rows are ignored."""
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    already = session.scalar(
        select(func.count()).select_from(Message)
        .where(Message.tenant_id == tenant_id, Message.created_at >= start)
    ) or 0
    rows = []
    for stripe in range(STRIPES):
        take = min(already, stripe_cap(limit, stripe))
        if stripe == STRIPES - 1:
            take = already
        already -= take
        rows.append({"tenant_id": tenant_id, "day": now.date(), "stripe": stripe,
                     "used": take})
    session.execute(mysql_insert(Q).prefix_with("IGNORE").values(rows))

"""The daily message quota (``tenants.max_daily_messages``, per UTC day) without a global
queue: the day's allowance is counted in :data:`STRIPES` rows of ``tenant_daily_quota``
(:mod:`wework.models.quota`), each with its own ``cap``. The caps add up to the limit
(or, once the limit was lowered below the day's count, to that count), and no stripe's
``used`` ever passes its ``cap``, so the sum of the stripes — the messages admitted
today — never exceeds the limit, whatever runs concurrently.

Two ways to take quota, both in the caller's transaction (released by its rollback, kept
by its commit):

- :func:`take`, the fast path of a single send: one ``UPDATE … SET used = used + n WHERE
  … AND stripe = k AND used + n <= cap`` on one stripe, chosen by :func:`stripe_for`
  among those no other send of this process holds right now. It takes one row lock and
  waits for nothing but another process's send of the same tenant that picked the same
  stripe (until that send's COMMIT). It fails (False) when the stripe is full or the day
  has no stripes yet; the caller then rolls its transaction back and sends again through
  :func:`reserve`, so a transaction never holds one stripe while it waits for the others.
- :func:`reserve`, the exact step (batches, and a single send the fast path refused): every
  stripe of the day locked in stripe order, the day created if missing, ``n`` taken from
  the stripes with room or the call refused with QuotaExceededError. Transactions that
  lock stripes in the same order cannot deadlock with each other, nor with a fast path
  (which holds one stripe and waits for nothing after it).

A day's stripes are created by the first send of the day, starting from the messages the
tenant already has that day (created before this table existed, or by a bulk load), with
the caps of the tenant's limit read in that transaction. :func:`set_limit` rewrites
today's caps when the limit changes (``tenants.update_tenant``, in its transaction).

Why not three statements as before (read the stripes, ``SELECT … FOR UPDATE SKIP
LOCKED`` one, UPDATE it): each statement is a round trip, and round trips are most of a
send's cost (``bench/send_bench.py``).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects.mysql import insert as mysql_insert

from wework.errors import QuotaExceededError
from wework.models import Message, Tenant, TenantDailyQuota
from wework.services.uow import Transaction

STRIPES = 16
Q = TenantDailyQuota
_q = Q.__table__


def stripe_cap(limit: int, stripe: int) -> int:
    """Stripe ``stripe``'s share of ``limit`` (the shares add up to ``limit`` exactly)."""
    return limit // STRIPES + (1 if stripe < limit % STRIPES else 0)


# -------------------------------------------------------------- the fast path

_TAKE = (
    update(_q)
    .where(_q.c.tenant_id == bindparam("t"), _q.c.day == bindparam("d"),
           _q.c.stripe == bindparam("k"), _q.c.used + bindparam("n") <= _q.c.cap)
    .values(used=_q.c.used + bindparam("n"))
)  # built once: it runs on every send

_held: dict[str, list[int]] = {}  # tenant -> stripes this process's sends hold right now
_held_lock = threading.Lock()


@contextmanager
def stripe_for(tenant_id: str) -> Iterator[int]:
    """A stripe for one send of ``tenant_id``, picked at random among those no other send
    of this process holds; hold the context until the send's transaction has ended."""
    with _held_lock:
        held = _held.setdefault(tenant_id, [])
        free = [k for k in range(STRIPES) if k not in held] or list(range(STRIPES))
        stripe = random.choice(free)
        held.append(stripe)
    try:
        yield stripe
    finally:
        with _held_lock:
            held.remove(stripe)
            if not held:
                _held.pop(tenant_id, None)


def take(session: Transaction, tenant_id: str, n: int, day: date, stripe: int) -> bool:
    """Count ``n`` messages on ``stripe`` of ``day`` if it has room (one UPDATE)."""
    result = session.execute(_TAKE, {"t": tenant_id, "d": day, "k": stripe, "n": n})
    return result.rowcount == 1


# -------------------------------------------------------------- the exact step


def reserve(session: Transaction, tenant_id: str, n: int, limit: int, now: datetime) -> None:
    """Count ``n`` more messages of ``tenant_id`` today, in the caller's transaction;
    QuotaExceededError (naming ``max_daily_messages``; ``limit`` is the limit it quotes)
    when they do not fit. The caller must not hold a stripe of the day already."""
    if n <= 0:
        return
    day = now.date()
    # A plain read first: a locking read of a day without rows would take a gap lock, and
    # two first sends of the day would then deadlock on each other's INSERT.
    if session.scalar(select(func.count()).where(Q.tenant_id == tenant_id,
                                                 Q.day == day)) < STRIPES:
        _create_day(session, tenant_id, now)
    locked = _lock_day(session, tenant_id, day)
    today = sum(used for _, used, _ in locked)
    room = {k: cap - used for k, used, cap in locked if cap > used}
    if sum(room.values()) < n:
        raise QuotaExceededError(
            "max_daily_messages",
            f"{today} messages today + {n} would exceed the daily limit of {limit}",
        )
    left = n
    for stripe, free in room.items():
        taken = min(free, left)
        session.execute(_TAKE, {"t": tenant_id, "d": day, "k": stripe, "n": taken})
        left -= taken
        if not left:
            return


def set_limit(session: Transaction, tenant_id: str, limit: int, now: datetime) -> None:
    """Spread today's room under a new ``limit`` over the day's stripes (each keeps what
    it counted; ``cap = used + share of (limit - today)``, none when today is already at
    or past it). In the caller's transaction, which changes the limit."""
    locked = _lock_day(session, tenant_id, now.date())
    room = max(0, limit - sum(used for _, used, _ in locked))
    for stripe, used, _ in locked:
        session.execute(
            update(_q).where(_q.c.tenant_id == tenant_id, _q.c.day == now.date(),
                             _q.c.stripe == stripe)
            .values(cap=used + stripe_cap(room, stripe)))


def _lock_day(session: Transaction, tenant_id: str, day: date) -> list[tuple[int, int, int]]:
    """(stripe, used, cap) of the day's stripes, locked in stripe order."""
    return [tuple(r) for r in session.execute(
        select(Q.stripe, Q.used, Q.cap).where(Q.tenant_id == tenant_id, Q.day == day)
        .order_by(Q.stripe).with_for_update())]


def _create_day(session: Transaction, tenant_id: str, now: datetime) -> None:
    """The day's stripes, holding the messages the tenant already has today (each stripe
    filled up to its cap in turn; any excess in the last), with the caps of the limit
    read here under a shared lock (a concurrent limit change waits, then rewrites them).
    Concurrent first sends insert the same rows: the first wins, the others' are ignored."""
    limit = session.scalar(
        select(Tenant.max_daily_messages).where(Tenant.id == tenant_id).with_for_update(
            read=True)) or 0
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    already = session.scalar(
        select(func.count()).select_from(Message)
        .where(Message.tenant_id == tenant_id, Message.created_at >= start)
    ) or 0
    rows = []
    for stripe in range(STRIPES):
        cap = stripe_cap(limit, stripe)
        used = already if stripe == STRIPES - 1 else min(already, cap)
        already -= used
        rows.append({"tenant_id": tenant_id, "day": now.date(), "stripe": stripe,
                     "used": used, "cap": max(cap, used)})
    session.execute(mysql_insert(Q).prefix_with("IGNORE").values(rows))

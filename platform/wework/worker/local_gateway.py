"""The in-process gateway simulator's side of a worker (no ``WEWORK_GATEWAY_URL``).

A real gateway posts its callbacks to the HTTP intake. The in-process simulator keeps
them in memory, so the worker that drives it ingests them itself
(:func:`wework.services.callbacks.ingest_many`, the same path as every callback) and
lets time pass for it: heartbeats of online instances, so the heartbeat sweep keeps them
online. The simulator follows the account statuses in the database (it never changes
an account on its own), read again every ``FOLLOW_EVERY`` seconds.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy import select

from wework.db.sharding import all_shards
from wework.gateway.base import CallbackSource
from wework.gateway.simulator import WeComGatewaySimulator
from wework.models import WeworkAccount
from wework.services import callbacks
from wework.services.uow import shard_transaction

log = logging.getLogger("wework.worker")

FOLLOW_EVERY = 10.0  # seconds between reads of the account statuses
TICK_EVERY = 15.0  # seconds between heartbeats (the sweep's default timeout is 90 s)
CHUNK = 200  # events per ingest transaction: short locks on the batch rows they update
# The dispatcher holds off while this many callbacks wait: it must not outrun their
# ingestion, and a stopping worker must be able to store what is left in a few seconds.
BACKPRESSURE = 500


def account_statuses() -> dict[str, str]:
    """guid -> status of every account with a guid, on every shard."""
    out: dict[str, str] = {}
    for shard in all_shards():
        with shard_transaction(shard) as s:
            for guid, status in s.execute(
                select(WeworkAccount.guid, WeworkAccount.status).where(
                    WeworkAccount.guid.is_not(None)
                )
            ):
                out[guid] = status.value
    return out


class LocalGatewayPump:
    """Call :meth:`step` often (every ~0.2 s), from one thread: it ingests what the
    simulator produced and, when due, follows the database and ticks the simulator."""

    def __init__(self, gateway: CallbackSource):
        self.gateway = gateway
        self.simulator = gateway if isinstance(gateway, WeComGatewaySimulator) else None
        self._next_follow = 0.0
        self._next_tick = 0.0
        self._backlog: list[str] = []

    def step(self) -> int:
        now = time.monotonic()
        if self.simulator is not None and now >= self._next_follow:
            self.simulator.follow(account_statuses())
            self._next_follow = now + FOLLOW_EVERY
        if self.simulator is not None and now >= self._next_tick:
            self.simulator.tick()
            self._next_tick = now + TICK_EVERY
        return self.ingest()

    def waiting(self) -> int:
        """Callback events not stored yet."""
        pending = self.simulator.pending_events() if self.simulator is not None else 0
        return pending + len(self._backlog)

    def ingest(self) -> int:
        """Store (and process) every event produced so far, CHUNK per transaction. Events
        drained but not stored (the database was unreachable) are kept and stored first
        next time: the simulator holds them nowhere else. One thread only."""
        self._backlog += self.gateway.drain_events()
        stored = 0
        while self._backlog:
            chunk = self._backlog[:CHUNK]
            callbacks.ingest_many(chunk, source_ip="127.0.0.1",
                                  user_agent="wecom-gateway-simulator (in-process)")
            del self._backlog[:CHUNK]
            stored += len(chunk)
        return stored

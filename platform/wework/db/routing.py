"""Choose where reads go: the replica while it is fresh enough, else what the settings say.

The lag is the replica's ``UTC_TIMESTAMP(6)`` minus the heartbeat ``ts`` it has applied
(``wework_meta.heartbeat``, written every second by an EVENT on the primary, see
:mod:`wework.db.replication`). When the lag exceeds ``Settings.replica_max_lag_seconds``
(or the replica or its heartbeat cannot be read) ``Settings.replica_fallback`` decides:

- ``primary``: read from the primary instead (fresh, but puts load on it);
- ``wait``: poll until the replica catches up, then read from it; raise after a timeout;
- ``fail``: raise :class:`ReplicaLagError`.

Every decision is logged; callers that report (the pipelines) put :class:`ReadDecision`
in their metadata so a fallback is visible, never silent.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass

from sqlalchemy import Engine

from wework.config import Settings, get_settings
from wework.db.engines import DbUser, Role, get_engine
from wework.db.replication import HEARTBEAT_DB

log = logging.getLogger(__name__)

HEARTBEAT_TABLE = f"{HEARTBEAT_DB}.heartbeat"
DEFAULT_WAIT_TIMEOUT = 60.0
_POLL_SECONDS = 0.5


class ReplicaLagError(RuntimeError):
    """The replica is too far behind (or unreadable) and the policy forbids falling over."""


@dataclass(frozen=True)
class ReadDecision:
    shard: int
    role: Role  # where the reads go
    lag_seconds: float | None  # measured replica lag; None when it could not be measured
    max_lag_seconds: float
    policy: str  # Settings.replica_fallback
    reason: str  # one line, for logs and asset metadata

    @property
    def fell_back(self) -> bool:
        return self.role is Role.PRIMARY

    def as_metadata(self) -> dict[str, object]:
        d = asdict(self)
        d["role"] = self.role.value
        return d


def replica_lag_seconds(
    shard: int,
    settings: Settings,
    heartbeat_table: str = HEARTBEAT_TABLE,
    user: DbUser = DbUser.APP,
) -> tuple[float | None, str | None]:
    """(lag, error): the replica's heartbeat lag in seconds, or None and why not."""
    try:
        with get_engine(Role.REPLICA, shard, settings, user=user).connect() as conn:
            lag = conn.exec_driver_sql(
                "SELECT TIMESTAMPDIFF(MICROSECOND, ts, UTC_TIMESTAMP(6)) / 1e6 "
                f"FROM {heartbeat_table} WHERE id = 1"
            ).scalar()
    except Exception as e:  # replica down, table missing: both mean "unknown lag"
        return None, str(getattr(e, "orig", None) or e).splitlines()[0]
    if lag is None:
        return None, f"no heartbeat row in {heartbeat_table}"
    return float(lag), None


def choose_read_source(
    shard: int = 0,
    settings: Settings | None = None,
    *,
    heartbeat_table: str = HEARTBEAT_TABLE,
    wait_timeout: float = DEFAULT_WAIT_TIMEOUT,
    user: DbUser = DbUser.APP,
) -> ReadDecision:
    """Decide where shard ``shard``'s reads go now, applying ``replica_fallback``
    (the lag is read as ``user``, the one that will do the reads)."""
    s = settings or get_settings()
    max_lag, policy = s.replica_max_lag_seconds, s.replica_fallback
    deadline = time.monotonic() + wait_timeout
    while True:
        lag, error = replica_lag_seconds(shard, s, heartbeat_table, user)
        if lag is not None and lag <= max_lag:
            decision = ReadDecision(
                shard, Role.REPLICA, lag, max_lag, policy, f"replica lag {lag:.3f}s <= {max_lag}s"
            )
            log.info("shard %s reads from the replica: %s", shard, decision.reason)
            return decision
        problem = (
            f"replica lag {lag:.3f}s > {max_lag}s"
            if lag is not None
            else f"replica lag unknown ({error})"
        )
        if policy == "primary":
            decision = ReadDecision(
                shard, Role.PRIMARY, lag, max_lag, policy, f"{problem}: fell back to the primary"
            )
            log.warning("shard %s reads from the PRIMARY: %s", shard, decision.reason)
            return decision
        if policy == "fail" or time.monotonic() >= deadline:
            suffix = "" if policy == "fail" else f" after waiting {wait_timeout}s"
            log.error("shard %s: %s%s (replica_fallback=%s)", shard, problem, suffix, policy)
            raise ReplicaLagError(
                f"shard {shard}: {problem}{suffix}; replica_fallback={policy} refuses to read "
                "from the primary (set WEWORK_REPLICA_FALLBACK=primary to allow it)"
            )
        log.info("shard %s: %s; waiting for the replica", shard, problem)
        time.sleep(_POLL_SECONDS)


def read_engine(shard: int = 0, settings: Settings | None = None) -> Engine:
    """Engine for reads on ``shard``: the replica, or what the fallback policy chose."""
    s = settings or get_settings()
    return get_engine(choose_read_source(shard, s).role, shard, s)

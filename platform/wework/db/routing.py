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

Every replica read goes through this policy. Services read through
:func:`read_decision`, which remembers each shard's decision for
``DECISION_TTL_SECONDS``, so a burst of reads costs one heartbeat query a second rather
than one per read (a read may then use a decision up to that old). The pipelines decide
afresh per asset with :func:`choose_read_source` and record the decision.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from threading import Lock

from cachetools import TTLCache
from sqlalchemy import Engine

from wework.config import Settings, get_settings
from wework.db.engines import DbUser, Role, get_engine
from wework.db.replication import HEARTBEAT_DB
from wework.errors import ReplicaLagError

log = logging.getLogger(__name__)

HEARTBEAT_TABLE = f"{HEARTBEAT_DB}.heartbeat"
DEFAULT_WAIT_TIMEOUT = 60.0
_POLL_SECONDS = 0.5
DECISION_TTL_SECONDS = 1.0


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
    io_timeout: int | None = None,
) -> tuple[float | None, str | None]:
    """(lag, error): the replica's heartbeat lag in seconds, or None and why not.
    ``io_timeout`` bounds the read (a probe must answer even when the replica hangs)."""
    try:
        engine = get_engine(Role.REPLICA, shard, settings, io_timeout=io_timeout, user=user)
        with engine.connect() as conn:
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


_decisions: TTLCache = TTLCache(maxsize=1024, ttl=DECISION_TTL_SECONDS)
_decisions_lock = Lock()


def read_decision(shard: int = 0, settings: Settings | None = None) -> ReadDecision:
    """:func:`choose_read_source` for ``shard``, remembered for DECISION_TTL_SECONDS per
    shard and servers. A refusal (ReplicaLagError) is not remembered: the next read asks
    again."""
    s = settings or get_settings()
    key = (shard, s.shard_database(shard), s.primary_url, s.replica_url, s.replica_port,
           s.replica_max_lag_seconds, s.replica_fallback)
    with _decisions_lock:
        decision = _decisions.get(key)
    if decision is None:
        decision = choose_read_source(shard, s, wait_timeout=s.replica_wait_timeout_seconds)
        with _decisions_lock:
            _decisions[key] = decision
    return decision


def forget_read_decisions() -> None:
    """Drop the remembered decisions (after a failover, and in tests)."""
    with _decisions_lock:
        _decisions.clear()


def read_engine(shard: int = 0, settings: Settings | None = None,
                user: DbUser = DbUser.APP) -> Engine:
    """Engine for reads on ``shard`` as ``user``: the replica, or what the fallback policy
    chose (the decision is the shard's, whoever reads)."""
    s = settings or get_settings()
    return get_engine(read_decision(shard, s).role, shard, s, user=user)

"""Transactions and reads routed to the tenant's shard.

Routing is explicit (tenant → ``crc32 % N`` → that shard's engine) rather than through
SQLAlchemy's ShardedSession: every service operation is tenant-scoped, so explicit
routing is simpler and can never silently fan a write out to every shard. Cross-tenant
reads (super-admin lists) loop over :func:`wework.db.sharding.all_shards`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from wework.db.engines import OLTP_IO_TIMEOUT_SECONDS, Role, get_engine, unavailable_as_error
from wework.db.sharding import shard_for_tenant


@contextmanager
def transaction(tenant_id: str) -> Iterator[Session]:
    """One transaction on the primary: commit on success, roll back on any error.
    A primary that is down or stops answering raises PrimaryUnavailable (fast)."""
    engine = get_engine(Role.PRIMARY, shard_for_tenant(tenant_id),
                        io_timeout=OLTP_IO_TIMEOUT_SECONDS)
    with unavailable_as_error(engine), Session(engine, expire_on_commit=False) as s, s.begin():
        yield s


@contextmanager
def read_session(tenant_id: str, fresh: bool = False) -> Iterator[Session]:
    """A read-only session: the replica for lists and reports, the primary when the
    caller needs to read its own writes (``fresh=True``)."""
    role = Role.PRIMARY if fresh else Role.REPLICA
    with Session(get_engine(role, shard_for_tenant(tenant_id))) as s:
        yield s


@contextmanager
def shard_transaction(shard: int) -> Iterator[Session]:
    """A primary transaction on one shard, for work not tied to one tenant (sweeps)."""
    engine = get_engine(Role.PRIMARY, shard, io_timeout=OLTP_IO_TIMEOUT_SECONDS)
    with unavailable_as_error(engine), Session(engine, expire_on_commit=False) as s, s.begin():
        yield s

"""Transactions and reads routed to the tenant's shard: the services' only way to a
database (``tests/test_layers.py`` checks that no service opens an engine itself).

Routing is explicit (tenant → ``crc32 % N`` → that shard's engine) rather than through
SQLAlchemy's ShardedSession: every service operation is tenant-scoped, so explicit
routing is simpler and can never silently fan a write out to every shard. Cross-tenant
reads (super-admin lists, lookups by username or guid) loop over
:func:`wework.db.sharding.all_shards` with :func:`shard_read_session`.

**Writes** run in :func:`transaction` on the primary; a service operation acting for a
caller opens :func:`tenant_transaction`, which first checks that the caller's context is
still true (user and tenant active, permissions still held). The single send, which runs
only Core statements and is the hottest write, opens :func:`tenant_connection` instead:
the same, on a Core connection. An operation that another one may
call inside its own transaction takes ``session: Session | None = None`` and opens
``transaction(ctx.tenant_id, session)``: with a session it joins the caller's transaction
(on the same shard, checked), without one it runs its own. That is the only way services
join a caller's transaction.

**Reads** go where their freshness needs them:

- ``fresh=True`` reads the primary (read-your-writes). The services use it where the
  caller acts on the answer or must see its own write: ``get_*`` of one object, login and
  permission lookups, lookups by tenant code or account guid, and the lists of the admin
  pages, which show the row just saved (they pass ``fresh=True``).
- Otherwise the replica, through the lag policy of :mod:`wework.db.routing`: within
  WEWORK_REPLICA_MAX_LAG_SECONDS the replica, past it whatever WEWORK_REPLICA_FALLBACK says
  (primary, wait, fail). The decision is remembered per shard for about a second.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import Connection, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from wework.db.engines import (
    OLTP_IO_TIMEOUT_SECONDS,
    UNAVAILABLE_CODES,
    Role,
    error_code,
    get_engine,
    unavailable_as_error,
)
from wework.db.routing import read_engine
from wework.db.sharding import shard_for_tenant
from wework.enums import TenantStatus, UserStatus
from wework.errors import (
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from wework.models import Tenant, User
from wework.services.context import ServiceContext

# A caller's transaction that runs only Core statements: a Session, or the Core
# Connection of tenant_connection (quota, messages.require_references).
Transaction = Session | Connection

_SHARD = "wework_shard"  # Session.info key: the shard whose primary a transaction is on


# Errors after which the whole transaction is gone (InnoDB rolled it back on a deadlock or
# lock wait timeout, or the connection is lost): the work in it must be redone, unlike an
# error that belongs to the one statement that caused it.
DEADLOCK, LOCK_WAIT_TIMEOUT = 1213, 1205
# ROLLBACK TO SAVEPOINT finding no savepoint: a deadlock inside the savepoint already
# rolled the whole transaction back, and this error (raised while leaving the savepoint)
# is what the caller sees instead of the deadlock's.
SAVEPOINT_GONE = 1305
TRANSACTION_LOST = frozenset({DEADLOCK, LOCK_WAIT_TIMEOUT, SAVEPOINT_GONE,
                              *UNAVAILABLE_CODES})


def transaction_lost(error: BaseException) -> bool:
    """Whether ``error`` ended the whole transaction (see TRANSACTION_LOST)."""
    return error_code(error) in TRANSACTION_LOST


def is_deadlock(error: BaseException) -> bool:
    """Whether ``error`` is InnoDB's deadlock (the transaction was rolled back; running it
    again is safe)."""
    return error_code(error) == DEADLOCK


DEADLOCK_ATTEMPTS = 5
T = TypeVar("T")


def retry_on_deadlock(operation: Callable[[], T]) -> T:
    """Run ``operation`` (a whole transaction) again when InnoDB chose it as a deadlock's
    victim (it was rolled back: nothing of it is kept)."""
    for attempt in range(DEADLOCK_ATTEMPTS):
        try:
            return operation()
        except OperationalError as exc:
            if not is_deadlock(exc) or attempt == DEADLOCK_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


# The isolation level for transactions whose locking reads or updates must not take gap
# locks: under the server's REPEATABLE READ a lock on or after the newest row also locks
# the gap where every new row goes (ids are UUIDv7, so new rows sort last), and every
# insert there waits for the transaction to commit. Two kinds use it:
# - writes to messages by id (callbacks.APPLY_ISOLATION, messages.CANCEL_ISOLATION): a
#   lock on the newest message held back every send of the shard;
# - the worker's sweeps, which find their rows with a locking read by status (expired
#   send claims, stranded callback events, finished batches, stale heartbeats, due
#   webhook deliveries): the read locked the gap after the last row of that status,
#   where the next send, callback intake, batch or webhook event goes, and every row it
#   looked at, matching or not (tests/services/test_sweep_locks.py).
# Under READ COMMITTED a statement locks only the rows it finds; a locking read reads the
# latest committed rows at either level, so a sweep takes the same rows. The binary log
# must not be statement-based (InnoDB refuses to log READ COMMITTED writes as
# statements; the local stack logs rows, MIXED works too).
READ_COMMITTED = "READ COMMITTED"


@contextmanager
def shard_transaction(
    shard: int, session: Session | None = None, *, isolation_level: str | None = None
) -> Iterator[Session]:
    """One transaction on shard ``shard``'s primary: commit on success, roll back on any
    error. A primary that is down or stops answering raises PrimaryUnavailable (fast).
    With ``session``, join that transaction instead (it must be on the same shard); the
    caller commits or rolls it back. ``isolation_level`` (e.g. :data:`READ_COMMITTED`;
    None: the server's REPEATABLE READ) takes the connection from a pool whose
    connections are at that level (:func:`wework.db.engines.get_engine`)."""
    if session is not None:
        joined = session.info.get(_SHARD)
        if joined != shard or not session.in_transaction():
            raise ValueError(
                f"cannot join a transaction on shard {joined} from an operation on shard "
                f"{shard}" if joined is not None else "session is not a service transaction"
            )
        yield session
        return
    engine = get_engine(Role.PRIMARY, shard, io_timeout=OLTP_IO_TIMEOUT_SECONDS,
                        isolation_level=isolation_level)
    with (
        unavailable_as_error(engine),
        Session(engine, expire_on_commit=False, info={_SHARD: shard}) as s,
        s.begin(),
    ):
        yield s


@contextmanager
def transaction(
    tenant_id: str, session: Session | None = None, *, isolation_level: str | None = None
) -> Iterator[Session]:
    """A transaction on the primary of the tenant's shard (see :func:`shard_transaction`),
    or the caller's ``session`` joined."""
    with shard_transaction(shard_for_tenant(tenant_id), session,
                           isolation_level=isolation_level) as s:
        yield s


@contextmanager
def tenant_transaction(
    ctx: ServiceContext, session: Session | None = None, *, isolation_level: str | None = None
) -> Iterator[Session]:
    """The transaction of a service operation acting as ``ctx`` (``transaction(ctx.tenant_id,
    session)``), first refused when the context is no longer true (issue 16 item 10): a
    context may have been built before its user was deactivated or lost a role, or before
    its tenant was suspended, and must not write after that. A joined ``session`` was
    checked by the operation that opened it. ``isolation_level``: see
    :func:`shard_transaction`."""
    if session is None:
        _refuse_stale_context(ctx)
    with transaction(ctx.tenant_id, session, isolation_level=isolation_level) as s:
        yield s


@contextmanager
def tenant_connection(ctx: ServiceContext) -> Iterator[Connection]:
    """:func:`tenant_transaction` on a Core ``Connection`` instead of an ORM ``Session``:
    the same checks, shard, pool and errors, for an operation that runs only Core
    statements and is hot enough for the Session's cost to show. A single send (INSERT,
    quota UPDATE, COMMIT) spends 0.51-0.66 ms of client CPU this way against 0.73-0.90 ms
    in a Session (measured alternately, one thread, 3,000 sends each): the Session's
    unit of work, ORM compile checks and transaction bookkeeping around three Core
    statements. It cannot be joined: operations that compose take a Session."""
    _refuse_stale_context(ctx)
    engine = get_engine(Role.PRIMARY, shard_for_tenant(ctx.tenant_id),
                        io_timeout=OLTP_IO_TIMEOUT_SECONDS)
    with unavailable_as_error(engine), engine.begin() as conn:
        yield conn


def _refuse_stale_context(ctx: ServiceContext) -> None:
    if not ctx.actor.is_system:
        # In a session of its own: a consistent read inside the transaction would fix its
        # REPEATABLE READ snapshot before the operation's first locking read (a quota
        # count after ``FOR UPDATE`` of the tenant must see the latest rows).
        with read_session(ctx.tenant_id, fresh=True) as check:
            check_context_current(check, ctx)


def check_context_current(s: Session, ctx: ServiceContext) -> None:
    """Refuse a non-system context whose acting user is no longer active, whose own tenant
    is no longer active, or who no longer holds a permission the context carries; refuse
    writes to a tenant that is not active unless a platform admin makes them (the one who
    can suspend and reactivate it). Reads the primary through ``s`` (a fresh read session
    on the tenant's shard) and the actor's own shard."""
    if ctx.actor.is_system:
        return
    acted_on = s.scalar(select(Tenant.status).where(Tenant.id == ctx.tenant_id))
    if acted_on is None:
        raise NotFoundError("tenant", ctx.tenant_id)
    if acted_on != TenantStatus.ACTIVE and not ctx.actor.is_super_admin:
        raise ValidationError("tenant.status", f"the tenant is {acted_on.value}: its data "
                              "cannot be changed")
    if ctx.actor.tenant_id == ctx.tenant_id:
        _check_actor(s, ctx)
    else:
        with shard_read_session(shard_for_tenant(ctx.actor.tenant_id), fresh=True) as own:
            _check_actor(own, ctx)


def _check_actor(s: Session, ctx: ServiceContext) -> None:
    from wework.services.roles import effective_permissions  # roles uses this module

    row = s.execute(select(User.status, Tenant.status.label("tenant_status"))
                    .join(Tenant, Tenant.id == User.tenant_id)
                    .where(User.id == ctx.actor.user_id)).one_or_none()
    if (row is None or row.status != UserStatus.ACTIVE
            or row.tenant_status != TenantStatus.ACTIVE):
        raise AuthenticationError("your session has ended (your user or tenant is no longer "
                                  "active); sign in again")
    missing = ctx.actor.permissions - effective_permissions(ctx.actor.user_id, session=s)
    if missing:
        raise PermissionDeniedError(sorted(missing)[0])


@contextmanager
def shard_read_session(shard: int, fresh: bool = False) -> Iterator[Session]:
    """A read-only session on shard ``shard``: the primary when ``fresh``, else the
    replica as the lag policy allows (module docstring)."""
    engine = get_engine(Role.PRIMARY, shard) if fresh else read_engine(shard)
    with Session(engine) as s:
        yield s


@contextmanager
def read_session(tenant_id: str, fresh: bool = False) -> Iterator[Session]:
    """A read-only session on the tenant's shard (see :func:`shard_read_session`)."""
    with shard_read_session(shard_for_tenant(tenant_id), fresh) as s:
        yield s

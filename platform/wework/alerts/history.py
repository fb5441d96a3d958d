"""Reading alerts back: the ones firing or pending now, and the notice history.

Callers with a :class:`ServiceContext` see what they may: a super-admin every alert, a
tenant user with ``report:view`` only the tenant-scoped alerts of their own tenant
(never the platform's servers, backups or other tenants). Without a context (the CLI, an
operator tool) everything is returned. Notebook 05 reads the history from the warehouse
(``marts.alert_history``), not from here.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, select

from wework.enums import AlertState
from wework.models import Alert, AlertNotice
from wework.services.context import ServiceContext
from wework.services.permissions import REPORT_VIEW
from wework.services.uow import shard_read_session

CONTROL_SHARD = 0


def _scoped(query: Select, model, ctx: ServiceContext | None) -> Select:
    if ctx is None or ctx.actor.is_super_admin:
        return query
    ctx.require(REPORT_VIEW)
    return query.where(model.tenant_id == ctx.actor.tenant_id)


def active_alerts(ctx: ServiceContext | None = None) -> list[Alert]:
    """Alerts firing or pending, firing first, then by rule and subject."""
    query = _scoped(select(Alert).where(Alert.state != AlertState.OK), Alert, ctx)
    # Fresh: an operator acting on an alert must not see a lagging replica's old state.
    with shard_read_session(CONTROL_SHARD, fresh=True) as s:
        rows = list(s.scalars(query))
    rows.sort(key=lambda a: (a.state is not AlertState.FIRING, a.rule, a.subject))
    return rows


def recent_notices(ctx: ServiceContext | None = None, limit: int = 100,
                   since: datetime | None = None) -> list[AlertNotice]:
    """The latest notices (fired, repeated, resolved), newest first."""
    query = select(AlertNotice).order_by(AlertNotice.at.desc(), AlertNotice.id.desc())
    if since is not None:
        query = query.where(AlertNotice.at >= since)
    query = _scoped(query, AlertNotice, ctx).limit(limit)
    with shard_read_session(CONTROL_SHARD, fresh=True) as s:
        return list(s.scalars(query))

"""Steps every service repeats on a tenant's rows: load one by id inside the caller's
tenant, and keep a unique key with an error that names the field.

Steps run inside an open transaction or read session (their first argument) and check
no permission: the service operation that calls them has done that.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session

from wework.errors import ConflictError, NotFoundError
from wework.services.context import ServiceContext

Row = TypeVar("Row")


def load_owned(s: Session, ctx: ServiceContext, model: type[Row], row_id: str, entity: str,
               *, lock: bool = False) -> Row:
    """The ``model`` row ``row_id`` of the context's tenant (``SELECT ... FOR UPDATE`` with
    ``lock``). Missing, or another tenant's, raises the same NotFoundError: a caller
    cannot tell them apart."""
    stmt = select(model).where(model.id == row_id, model.tenant_id == ctx.tenant_id)
    if lock:  # and refresh what the session may have read before the lock
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    row = s.scalar(stmt)
    if row is None:
        raise NotFoundError(entity, row_id)
    return row


def require_owned(s: Session, ctx: ServiceContext, model: type, ids: Iterable[str | None],
                  field: str) -> None:
    """Every id of ``ids`` (None skipped) must be a ``model`` row of the context's tenant;
    the first that is not (missing or another tenant's: the same answer) raises
    NotFoundError naming the field the caller passed it in. One query for all of them."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return
    found = set(s.scalars(
        select(model.id).where(model.tenant_id == ctx.tenant_id, model.id.in_(wanted))))
    for missing in sorted(wanted - found):
        raise NotFoundError(field, missing)


def check_unique(s: Session, column: InstrumentedAttribute, value: Any, *,
                 tenant_id: str | None = None, exclude_id: str | None = None,
                 message: str = "is already used") -> None:
    """ConflictError on the column's field when another row holds ``value`` (within
    ``tenant_id`` when given: keys unique per tenant). Checked before writing so the
    error names the field; :func:`flush_unique` catches a concurrent insert."""
    model = column.class_
    stmt = select(model.id).where(column == value)
    if tenant_id is not None:
        stmt = stmt.where(model.tenant_id == tenant_id)
    if exclude_id is not None:
        stmt = stmt.where(model.id != exclude_id)
    if s.scalar(stmt.limit(1)) is not None:
        raise ConflictError(column.key, f"{value!r} {message}")


def flush_unique(s: Session, fields_by_key: dict[str, str],
                 message: str = "is already used") -> None:
    """Flush; a unique key violated meanwhile (a concurrent insert won the race) becomes a
    ConflictError naming its field. ``fields_by_key`` maps each unique index's name to the
    field it guards; any other integrity error is raised as it is."""
    try:
        s.flush()
    except IntegrityError as exc:
        text = str(exc.orig)
        field = next((f for key, f in fields_by_key.items() if key in text), None)
        if field is None:
            raise
        raise ConflictError(field, message) from exc

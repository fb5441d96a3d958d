"""Keyset ("cursor") pagination, as the spec's §分页查询优化 prescribes: newest first by
``(created_at, id)``, ``LIMIT n + 1`` to learn whether a next page exists, never OFFSET.

The cursor is opaque to callers: a url-safe string encoding the last row's
``(created_at, id)``. ``id`` breaks ties between rows created in the same second.

    page = paginate(session, select(User).where(User.tenant_id == t),
                    User.created_at, User.id, limit=20, cursor=request_cursor)
    page.items, page.next_cursor   # next_cursor is None on the last page
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute, Session

from wework.errors import ValidationError

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


@dataclass
class Page(Generic[T]):
    items: list[T] = field(default_factory=list)
    next_cursor: str | None = None

    @property
    def has_next(self) -> bool:
        return self.next_cursor is not None


def encode_cursor(created_at: datetime, row_id: Any) -> str:
    raw = json.dumps([created_at.isoformat(), row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, row_id = json.loads(raw)
        return datetime.fromisoformat(created), row_id
    except (ValueError, TypeError) as exc:
        raise ValidationError("cursor", "not a cursor returned by a previous page") from exc


def check_limit(limit: int) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise ValidationError("limit", f"must be an integer from 1 to {MAX_LIMIT}")
    return limit


def keyset(
    stmt: Select,
    created_col: InstrumentedAttribute,
    id_col: InstrumentedAttribute,
    limit: int,
    cursor: str | None,
) -> Select:
    """The statement restricted to rows after ``cursor``, newest first, ``limit + 1`` rows."""
    check_limit(limit)
    if cursor:
        created, row_id = decode_cursor(cursor)
        stmt = stmt.where(
            or_(created_col < created, and_(created_col == created, id_col < row_id))
        )
    return stmt.order_by(created_col.desc(), id_col.desc()).limit(limit + 1)


def make_page(
    rows: list[T], limit: int, key: Callable[[T], tuple[datetime, Any]]
) -> Page[T]:
    """Cut the ``limit + 1`` rows to a page; the extra row only says a next page exists."""
    if len(rows) > limit:
        rows = rows[:limit]
        return Page(rows, encode_cursor(*key(rows[-1])))
    return Page(rows, None)


def paginate(
    session: Session,
    stmt: Select,
    created_col: InstrumentedAttribute,
    id_col: InstrumentedAttribute,
    *,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[Any]:
    """One page of ORM objects selected by ``stmt`` (a ``select(Model)``)."""
    rows = list(session.scalars(keyset(stmt, created_col, id_col, limit, cursor)))
    return make_page(
        rows, limit, lambda r: (getattr(r, created_col.key), getattr(r, id_col.key))
    )


def merge_pages(
    per_shard: Iterable[list[T]], limit: int, key: Callable[[T], tuple[datetime, Any]]
) -> Page[T]:
    """Merge the ``limit + 1``-row pages of several shards into one page (newest first).

    Each shard ran the same keyset query with the same cursor, so the newest ``limit``
    rows of the union are exactly the next page of the union."""
    rows = sorted((r for rows in per_shard for r in rows), key=key, reverse=True)
    return make_page(rows, limit, key)

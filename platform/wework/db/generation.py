"""Rotate a shard database's data generation (:class:`wework.models.DataGeneration`).

Every operation that replaces a database's data calls :func:`rotate` once it is done (the
seed, the restore, the tests' emptying of tables), so the warehouse's next run re-reads
that shard whole instead of trusting its high-water marks.
"""

from __future__ import annotations

import uuid

from sqlalchemy import Connection, text

from wework.models import DataGeneration

TABLE = DataGeneration.__tablename__


def rotate(conn: Connection, reason: str, database: str | None = None) -> str:
    """Write a new generation (in the caller's transaction) and return it. ``database``
    names the schema when the connection is not on it (the restore's server-wide one)."""
    generation = str(uuid.uuid4())
    table = f"`{database}`.`{TABLE}`" if database else f"`{TABLE}`"
    conn.execute(
        text(
            f"INSERT INTO {table} (id, generation, reason, changed_at) "
            "VALUES (1, :g, :r, UTC_TIMESTAMP()) ON DUPLICATE KEY UPDATE "
            "generation = VALUES(generation), reason = VALUES(reason), "
            "changed_at = VALUES(changed_at)"
        ),
        {"g": generation, "r": reason[:200]},
    )
    return generation

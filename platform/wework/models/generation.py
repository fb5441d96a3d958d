"""Which generation of data a shard database holds.

Not in the spec. The warehouse reads each source table incrementally, from a high-water
mark (``pipelines.extract``). That cannot see data that was *replaced* underneath it: a
re-seed, a restore from backup (PITR), or tables emptied. Such rows carry times older than
the marks, and rows that vanished leave no trace, so the marts would stay wrong until
someone ran ``wework etl run --full``. Every operation that replaces data writes a new
generation here (:func:`wework.db.generation.rotate`); the pipeline compares it with the
one it last read and re-reads that shard whole when it changed. It replicates like any
row, so the replica and the primary agree.

One row (``id = 1``) per shard database, created by migration 0015.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import SmallInteger, String
from sqlalchemy.dialects.mysql import TIMESTAMP
from sqlalchemy.orm import Mapped, mapped_column

from wework.models.base import Base, table_args


class DataGeneration(Base):
    __tablename__ = "data_generation"
    # Bookkeeping of the data's origin, not data: not extracted, not seeded, not counted
    # as "the database holds data" by the seed or the restore.
    __table_args__ = table_args("数据代次(重置/恢复时更换)")

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False,
                                    comment="固定为1")
    generation: Mapped[str] = mapped_column(String(36), nullable=False, comment="代次ID")
    reason: Mapped[str] = mapped_column(String(200), nullable=False, comment="更换原因")
    changed_at: Mapped[datetime] = mapped_column(TIMESTAMP, nullable=False, comment="更换时间")

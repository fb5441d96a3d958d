"""The worker's cluster-wide job schedule.

Not in the spec. Jobs that must run once at a time across every ``wework worker`` (the
heartbeat sweep, partitions, gauges…) take a database-wide named lock (``GET_LOCK``)
and, holding it, read their row here to see whether their interval has passed since the
last run by *any* worker; so N workers run each job as often as one would. The row also
shows when a job last ran, how long it took, by whom and with which result or error
(``wework worker status``). Only shard 0's table is used (the named locks live on its
server); migrations create it on every shard like every other table.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from wework.models.base import Base, count_column, nullable_timestamp, table_args


class WorkerJob(Base):
    __tablename__ = "worker_jobs"
    # Operational state, not analytics: not extracted into the warehouse.
    __table_args__ = table_args("Worker定时任务状态")

    name: Mapped[str] = mapped_column(String(64), primary_key=True, comment="任务名")
    last_started_at: Mapped[datetime | None] = nullable_timestamp("最后开始时间")
    last_finished_at: Mapped[datetime | None] = nullable_timestamp("最后结束时间")
    last_duration_ms: Mapped[int | None] = mapped_column(Integer, comment="最后耗时(毫秒)")
    last_result: Mapped[str | None] = mapped_column(String(500), comment="最后结果")
    last_error: Mapped[str | None] = mapped_column(Text, comment="最后错误")
    run_by: Mapped[str | None] = mapped_column(String(100), comment="执行者(主机:进程)")
    runs: Mapped[int] = count_column("运行次数")

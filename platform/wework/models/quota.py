"""The daily message quota, counted in stripes.

Not in the spec. ``tenants.max_daily_messages`` is enforced on a counter instead of a
count of today's messages under the tenant-row lock (which queued every send of a tenant
behind one lock): the day's allowance is split over ``STRIPES`` rows, each with its own
``cap``; the caps add up to the limit exactly (or, after the limit was lowered below the
day's count, to that count), so a send takes one row's room with one UPDATE and
concurrent sends of one tenant take different rows (:mod:`wework.services.quota`).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Date, Index, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from wework.models.base import Base, count_column, table_args


class TenantDailyQuota(Base):
    __tablename__ = "tenant_daily_quota"
    __table_args__ = table_args("租户每日消息配额计数", Index("idx_day", "day"))

    tenant_id: Mapped[str] = mapped_column(String(36), primary_key=True, comment="租户ID")
    day: Mapped[date] = mapped_column(Date, primary_key=True, comment="日期(UTC)")
    stripe: Mapped[int] = mapped_column(SmallInteger, primary_key=True, comment="分片号")
    used: Mapped[int] = count_column("已用条数")
    cap: Mapped[int] = count_column("本分片上限")

"""tenant_daily_quota: the daily message quota counted in stripes (wework.models.quota),
so concurrent sends of one tenant no longer queue on the tenant row.

Revision ID: 0008_write_path
Revises: 0007_audit_log
Create Date: 2026-11-29 23:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008_write_path'
down_revision: str | None = '0007_audit_log'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('tenant_daily_quota',
    sa.Column('tenant_id', sa.String(length=36), nullable=False, comment='租户ID'),
    sa.Column('day', sa.Date(), nullable=False, comment='日期(UTC)'),
    sa.Column('stripe', sa.SmallInteger(), nullable=False, comment='分片号'),
    sa.Column('used', sa.Integer(), server_default='0', nullable=False, comment='已用条数'),
    sa.PrimaryKeyConstraint('tenant_id', 'day', 'stripe'),
    comment='租户每日消息配额计数',
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_unicode_ci',
    mysql_engine='InnoDB'
    )
    op.create_index('idx_day', 'tenant_daily_quota', ['day'], unique=False)


def downgrade() -> None:
    op.drop_index('idx_day', table_name='tenant_daily_quota')
    op.drop_table('tenant_daily_quota')

"""callback_event_keys: global de-duplication of callback events (see
wework.models.callback_dedup for why the partitioned callback_events cannot hold it).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 17:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('callback_event_keys',
    sa.Column('guid', sa.String(length=100), nullable=False, comment='实例GUID'),
    sa.Column('event_id', sa.String(length=100), nullable=False, comment='事件唯一ID'),
    sa.Column('callback_event_id', sa.String(length=36), nullable=False, comment='首次应用的回调事件ID'),
    sa.Column('created_at', mysql.TIMESTAMP(), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False, comment='创建时间'),
    sa.PrimaryKeyConstraint('guid', 'event_id'),
    comment='回调事件去重键表',
    mysql_collate='utf8mb4_unicode_ci',
    mysql_comment='回调事件去重键表',
    mysql_default_charset='utf8mb4',
    mysql_engine='InnoDB'
    )
    op.create_index('idx_created_at', 'callback_event_keys', ['created_at'], unique=False)


def downgrade() -> None:
    op.drop_index('idx_created_at', table_name='callback_event_keys')
    op.drop_table('callback_event_keys')

"""data_generation: which generation of data a shard database holds.

The warehouse extracts incrementally from high-water marks, which cannot see data
replaced underneath them (a re-seed, a restore): the marts stayed wrong until someone ran
``wework etl run --full``. The seed and the restore now write a new generation here, and
the pipeline re-reads a shard whole when its generation changed (see
wework.models.generation).

Revision ID: 0015_data_generation
Revises: 0014_dispatch_order_index
Create Date: 2026-11-30 15:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = '0015_data_generation'
down_revision: str | None = '0014_dispatch_order_index'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('data_generation',
    sa.Column('id', sa.SmallInteger(), autoincrement=False, nullable=False, comment='固定为1'),
    sa.Column('generation', sa.String(length=36), nullable=False, comment='代次ID'),
    sa.Column('reason', sa.String(length=200), nullable=False, comment='更换原因'),
    sa.Column('changed_at', mysql.TIMESTAMP(), nullable=False, comment='更换时间'),
    sa.PrimaryKeyConstraint('id'),
    comment='数据代次(重置/恢复时更换)',
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_unicode_ci',
    mysql_engine='InnoDB',
    )
    # A database migrated from nothing is a generation of its own (a warehouse that read
    # a database of the same name before sees the change).
    op.execute(
        "INSERT INTO data_generation (id, generation, reason, changed_at) "
        "VALUES (1, UUID(), 'created by migration 0015', UTC_TIMESTAMP())"
    )


def downgrade() -> None:
    op.drop_table('data_generation')

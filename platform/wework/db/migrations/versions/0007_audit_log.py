"""audit_log: every administrative write, who/what/when/where, fields before and after.

Revision ID: 0007_audit_log
Revises: 0005_pii_view_permission
Create Date: 2026-11-29 23:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = '0007_audit_log'
down_revision: str | None = '0005_pii_view_permission'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('audit_log',
    sa.Column('id', sa.String(length=36), nullable=False, comment='日志ID'),
    sa.Column('tenant_id', sa.String(length=36), nullable=False, comment='被操作的租户ID'),
    sa.Column('actor_id', sa.String(length=36), nullable=False, comment='操作人ID'),
    sa.Column('actor_tenant_id', sa.String(length=36), nullable=False, comment='操作人所属租户ID'),
    sa.Column('actor_name', sa.String(length=50), nullable=False, comment='操作人用户名'),
    sa.Column('action', sa.String(length=50), nullable=False, comment='操作'),
    sa.Column('object_type', sa.String(length=50), nullable=False, comment='对象类型'),
    sa.Column('object_id', sa.String(length=64), nullable=True, comment='对象ID'),
    sa.Column('client_ip', sa.String(length=45), nullable=True, comment='客户端IP'),
    sa.Column('changes', sa.JSON(), nullable=True, comment='变更字段(前/后)'),
    sa.Column('created_at', mysql.TIMESTAMP(), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False, comment='创建时间'),
    sa.PrimaryKeyConstraint('id'),
    comment='审计日志表',
    mysql_collate='utf8mb4_unicode_ci',
    mysql_comment='审计日志表',
    mysql_default_charset='utf8mb4',
    mysql_engine='InnoDB'
    )
    op.create_index('idx_created_at', 'audit_log', ['created_at'], unique=False)
    op.create_index('idx_object', 'audit_log', ['object_type', 'object_id'], unique=False)
    op.create_index('idx_tenant_created', 'audit_log', ['tenant_id', 'created_at'], unique=False)


def downgrade() -> None:
    op.drop_index('idx_tenant_created', table_name='audit_log')
    op.drop_index('idx_object', table_name='audit_log')
    op.drop_index('idx_created_at', table_name='audit_log')
    op.drop_table('audit_log')

"""webhook_outbox (tenant webhook events, written with the change they report),
tenant_webhook_secrets (signing secrets, encrypted) and worker_jobs (the worker's
cluster-wide job schedule). See wework.models.webhook and wework.models.worker.

Revision ID: 0003_outbox
Revises: 0002
Create Date: 2026-11-29 19:10:50.484958
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = '0003_outbox'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('tenant_webhook_secrets',
    sa.Column('tenant_id', sa.String(length=36), nullable=False, comment='租户ID'),
    sa.Column('secret', sa.String(length=255), nullable=False, comment='签名密钥(加密存储)'),
    sa.Column('previous_secret', sa.String(length=255), nullable=True, comment='上一密钥(加密存储)'),
    sa.Column('previous_valid_until', mysql.TIMESTAMP(), nullable=True, comment='上一密钥有效期'),
    sa.Column('created_at', mysql.TIMESTAMP(), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False, comment='创建时间'),
    sa.Column('updated_at', mysql.TIMESTAMP(), server_default=sa.text('CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP'), nullable=False, comment='更新时间'),
    sa.PrimaryKeyConstraint('tenant_id'),
    comment='租户Webhook签名密钥',
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_unicode_ci',
    mysql_engine='InnoDB'
    )
    op.create_table('webhook_outbox',
    sa.Column('id', sa.String(length=36), nullable=False, comment='事件ID'),
    sa.Column('tenant_id', sa.String(length=36), nullable=False, comment='租户ID'),
    sa.Column('event_type', sa.String(length=50), nullable=False, comment='事件类型'),
    sa.Column('payload', sa.JSON(), nullable=False, comment='事件内容'),
    sa.Column('status', sa.Enum('pending', 'delivering', 'delivered', 'failed', name='outboxstatus', length=None), server_default='pending', nullable=False, comment='投递状态'),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False, comment='投递次数'),
    sa.Column('next_attempt_at', mysql.TIMESTAMP(), nullable=False, comment='下次投递时间'),
    sa.Column('expires_at', mysql.TIMESTAMP(), nullable=False, comment='放弃时间'),
    sa.Column('last_attempt_at', mysql.TIMESTAMP(), nullable=True, comment='最后投递时间'),
    sa.Column('last_status_code', sa.Integer(), nullable=True, comment='最后HTTP状态码'),
    sa.Column('last_error', sa.String(length=1000), nullable=True, comment='最后错误'),
    sa.Column('delivered_at', mysql.TIMESTAMP(), nullable=True, comment='送达时间'),
    sa.Column('created_at', mysql.TIMESTAMP(), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False, comment='创建时间'),
    sa.Column('updated_at', mysql.TIMESTAMP(), server_default=sa.text('CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP'), nullable=False, comment='更新时间'),
    sa.PrimaryKeyConstraint('id'),
    comment='租户Webhook发件箱',
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_unicode_ci',
    mysql_engine='InnoDB'
    )
    op.create_index('idx_created_at', 'webhook_outbox', ['created_at'], unique=False)
    op.create_index('idx_status_next_attempt', 'webhook_outbox', ['status', 'next_attempt_at'], unique=False)
    op.create_index('idx_tenant_created', 'webhook_outbox', ['tenant_id', 'created_at'], unique=False)
    op.create_table('worker_jobs',
    sa.Column('name', sa.String(length=64), nullable=False, comment='任务名'),
    sa.Column('last_started_at', mysql.TIMESTAMP(), nullable=True, comment='最后开始时间'),
    sa.Column('last_finished_at', mysql.TIMESTAMP(), nullable=True, comment='最后结束时间'),
    sa.Column('last_duration_ms', sa.Integer(), nullable=True, comment='最后耗时(毫秒)'),
    sa.Column('last_result', sa.String(length=500), nullable=True, comment='最后结果'),
    sa.Column('last_error', sa.Text(), nullable=True, comment='最后错误'),
    sa.Column('run_by', sa.String(length=100), nullable=True, comment='执行者(主机:进程)'),
    sa.Column('runs', sa.Integer(), server_default='0', nullable=False, comment='运行次数'),
    sa.PrimaryKeyConstraint('name'),
    comment='Worker定时任务状态',
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_unicode_ci',
    mysql_engine='InnoDB'
    )


def downgrade() -> None:
    op.drop_table('worker_jobs')
    op.drop_index('idx_tenant_created', table_name='webhook_outbox')
    op.drop_index('idx_status_next_attempt', table_name='webhook_outbox')
    op.drop_index('idx_created_at', table_name='webhook_outbox')
    op.drop_table('webhook_outbox')
    op.drop_table('tenant_webhook_secrets')

"""alerts (each operator alert's current state) and alert_notices (their history and the
outbox of the alert webhook). See wework.models.alert and wework.alerts.

Revision ID: 0009_alerts
Revises: 0008_write_path
Create Date: 2026-11-29 23:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = '0009_alerts'
down_revision: str | None = '0008_write_path'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = {
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
    "mysql_engine": "InnoDB",
}


def upgrade() -> None:
    op.create_table('alerts',
    sa.Column('id', sa.String(length=36), nullable=False, comment='告警ID'),
    sa.Column('rule', sa.String(length=64), nullable=False, comment='规则名'),
    sa.Column('subject', sa.String(length=191), nullable=False, comment='对象'),
    sa.Column('tenant_id', sa.String(length=36), nullable=True, comment='租户ID(租户级规则)'),
    sa.Column('severity', sa.String(length=16), nullable=False, comment='级别'),
    sa.Column('state', sa.Enum('ok', 'pending', 'firing', name='alertstate', length=None), server_default='ok', nullable=False, comment='状态'),
    sa.Column('value', mysql.DOUBLE(), nullable=True, comment='最近取值'),
    sa.Column('summary', sa.String(length=500), nullable=False, comment='摘要'),
    sa.Column('pending_since', mysql.TIMESTAMP(), nullable=True, comment='条件成立起始时间'),
    sa.Column('fired_at', mysql.TIMESTAMP(), nullable=True, comment='触发时间'),
    sa.Column('resolved_at', mysql.TIMESTAMP(), nullable=True, comment='恢复时间'),
    sa.Column('last_notified_at', mysql.TIMESTAMP(), nullable=True, comment='最后通知时间'),
    sa.Column('evaluated_at', mysql.TIMESTAMP(), nullable=False, comment='最后评估时间'),
    sa.Column('created_at', mysql.TIMESTAMP(), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False, comment='创建时间'),
    sa.Column('updated_at', mysql.TIMESTAMP(), server_default=sa.text('CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP'), nullable=False, comment='更新时间'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('rule', 'subject', name='uk_rule_subject'),
    comment='运维告警状态',
    **TABLE,
    )
    op.create_index('idx_state', 'alerts', ['state'], unique=False)
    op.create_index('idx_tenant_state', 'alerts', ['tenant_id', 'state'], unique=False)
    op.create_table('alert_notices',
    sa.Column('id', sa.String(length=36), nullable=False, comment='通知ID'),
    sa.Column('alert_id', sa.String(length=36), nullable=False, comment='告警ID'),
    sa.Column('rule', sa.String(length=64), nullable=False, comment='规则名'),
    sa.Column('subject', sa.String(length=191), nullable=False, comment='对象'),
    sa.Column('tenant_id', sa.String(length=36), nullable=True, comment='租户ID(租户级规则)'),
    sa.Column('severity', sa.String(length=16), nullable=False, comment='级别'),
    sa.Column('kind', sa.Enum('firing', 'resolved', name='noticekind', length=None), nullable=False, comment='通知类型'),
    sa.Column('repeat', sa.Integer(), server_default='0', nullable=False, comment='重复通知序号(0=首次)'),
    sa.Column('value', mysql.DOUBLE(), nullable=True, comment='取值'),
    sa.Column('summary', sa.String(length=500), nullable=False, comment='摘要'),
    sa.Column('at', mysql.TIMESTAMP(), nullable=False, comment='发生时间'),
    sa.Column('payload', sa.JSON(), nullable=False, comment='通知内容'),
    sa.Column('delivery', sa.Enum('pending', 'delivered', 'failed', 'unsent', name='noticedelivery', length=None), server_default='pending', nullable=False, comment='投递状态'),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False, comment='投递次数'),
    sa.Column('next_attempt_at', mysql.TIMESTAMP(), nullable=True, comment='下次投递时间'),
    sa.Column('last_error', sa.String(length=1000), nullable=True, comment='最后错误'),
    sa.Column('delivered_at', mysql.TIMESTAMP(), nullable=True, comment='送达时间'),
    sa.Column('last_status_code', sa.Integer(), nullable=True, comment='最后HTTP状态码'),
    sa.Column('created_at', mysql.TIMESTAMP(), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False, comment='创建时间'),
    sa.PrimaryKeyConstraint('id'),
    comment='运维告警通知历史',
    **TABLE,
    )
    op.create_index('idx_alert_at', 'alert_notices', ['alert_id', 'at'], unique=False)
    op.create_index('idx_at', 'alert_notices', ['at'], unique=False)
    op.create_index('idx_delivery_next', 'alert_notices', ['delivery', 'next_attempt_at'], unique=False)
    op.create_index('idx_tenant_at', 'alert_notices', ['tenant_id', 'at'], unique=False)


def downgrade() -> None:
    op.drop_table('alert_notices')
    op.drop_table('alerts')

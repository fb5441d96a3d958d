"""gateway_secrets (the gateways' Standard Webhooks signing secrets, encrypted) and
callback_webhook_ids (the webhook-id of every signed HTTP delivery: a repeat is ignored).

Revision ID: 0004_gateway_secrets
Revises: 0003_outbox
Create Date: 2026-11-29 20:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = '0004_gateway_secrets'
down_revision: str | None = '0003_outbox'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('gateway_secrets',
    sa.Column('id', sa.String(length=36), nullable=False, comment='密钥ID'),
    sa.Column('gateway_name', sa.String(length=100), nullable=False, comment='网关名称'),
    sa.Column('secret', sa.String(length=255), nullable=False, comment='签名密钥(加密存储)'),
    sa.Column('fingerprint', sa.String(length=16), nullable=False, comment='密钥指纹'),
    sa.Column('created_by', sa.String(length=100), nullable=False, comment='创建人'),
    sa.Column('created_at', mysql.TIMESTAMP(), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False, comment='创建时间'),
    sa.Column('expires_at', mysql.TIMESTAMP(), nullable=True, comment='过期时间(轮换后)'),
    sa.Column('revoked_at', mysql.TIMESTAMP(), nullable=True, comment='吊销时间'),
    sa.PrimaryKeyConstraint('id'),
    comment='网关签名密钥表',
    mysql_collate='utf8mb4_unicode_ci',
    mysql_comment='网关签名密钥表',
    mysql_default_charset='utf8mb4',
    mysql_engine='InnoDB'
    )
    op.create_index('idx_gateway_name', 'gateway_secrets', ['gateway_name'], unique=False)
    op.create_table('callback_webhook_ids',
    sa.Column('webhook_id', sa.String(length=255), nullable=False, comment='投递ID (webhook-id)'),
    sa.Column('event_count', sa.Integer(), nullable=False, comment='事件数'),
    sa.Column('received_at', mysql.TIMESTAMP(), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False, comment='接收时间'),
    sa.PrimaryKeyConstraint('webhook_id'),
    comment='回调投递ID表',
    mysql_collate='utf8mb4_unicode_ci',
    mysql_comment='回调投递ID表',
    mysql_default_charset='utf8mb4',
    mysql_engine='InnoDB'
    )
    op.create_index('idx_received_at', 'callback_webhook_ids', ['received_at'], unique=False)


def downgrade() -> None:
    op.drop_index('idx_received_at', table_name='callback_webhook_ids')
    op.drop_table('callback_webhook_ids')
    op.drop_index('idx_gateway_name', table_name='gateway_secrets')
    op.drop_table('gateway_secrets')

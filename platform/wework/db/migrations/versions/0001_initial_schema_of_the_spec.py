"""Initial schema: every table, column and index of the spec, fixed to load on MySQL 8 /
MariaDB (see the model docstrings for each deviation and why).

Revision ID: 0001
Revises:
Create Date: 2026-11-28 17:33:04.684401
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('account_status_history',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False, comment='主键ID'),
    sa.Column('account_id', sa.String(length=36), nullable=False, comment='账号ID'),
    sa.Column('old_status', sa.String(length=20), nullable=True, comment='原状态'),
    sa.Column('new_status', sa.String(length=20), nullable=False, comment='新状态'),
    sa.Column('reason', sa.String(length=500), nullable=True, comment='变更原因'),
    sa.Column('error_message', sa.Text(), nullable=True, comment='错误信息'),
    sa.Column('extra_data', sa.JSON(), nullable=True, comment='扩展数据'),
    sa.Column('operator_id', sa.String(length=36), nullable=True, comment='操作者ID'),
    sa.Column('operator_type', sa.Enum('user', 'system', 'auto', name='operatortype', length=None), server_default='system', nullable=False, comment='操作类型'),
    sa.Column('created_at', mysql.TIMESTAMP(), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False, comment='创建时间'),
    sa.PrimaryKeyConstraint('id', 'created_at'),
    comment='账号状态历史表',
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_unicode_ci',
    mysql_engine='InnoDB',
    mysql_partition_by='RANGE (UNIX_TIMESTAMP(created_at)) (\n  PARTITION p2025 VALUES LESS THAN (1767225600),\n  PARTITION p2026 VALUES LESS THAN (1798761600),\n  PARTITION p2027 VALUES LESS THAN (1830297600),\n  PARTITION p_future VALUES LESS THAN MAXVALUE\n)'
    )
    op.create_index('idx_account_id', 'account_status_history', ['account_id'], unique=False)
    op.create_index('idx_account_time', 'account_status_history', ['account_id', 'created_at'], unique=False)
    op.create_index('idx_created_at', 'account_status_history', ['created_at'], unique=False)
    op.create_index('idx_new_status', 'account_status_history', ['new_status'], unique=False)
    op.create_table('batch_send_tasks',
    sa.Column('id', sa.String(length=36), nullable=False, comment='任务ID'),
    sa.Column('tenant_id', sa.String(length=36), nullable=False, comment='租户ID'),
    sa.Column('creator_id', sa.String(length=36), nullable=False, comment='创建者ID'),
    sa.Column('task_name', sa.String(length=100), nullable=False, comment='任务名称'),
    sa.Column('account_id', sa.String(length=36), nullable=False, comment='发送账号ID'),
    sa.Column('template_id', sa.String(length=36), nullable=True, comment='模板ID'),
    sa.Column('message_content', sa.JSON(), nullable=False, comment='消息内容'),
    sa.Column('target_type', sa.Enum('manual', 'import', 'group', 'filter', name='targettype', length=None), nullable=False, comment='目标类型'),
    sa.Column('target_config', sa.JSON(), nullable=False, comment='目标配置'),
    sa.Column('send_strategy', sa.JSON(), nullable=True, comment='发送策略'),
    sa.Column('status', sa.Enum('created', 'running', 'paused', 'completed', 'failed', 'cancelled', name='batchstatus', length=None), server_default='created', nullable=False, comment='状态'),
    sa.Column('total_count', sa.Integer(), server_default='0', nullable=False, comment='总数量'),
    sa.Column('sent_count', sa.Integer(), server_default='0', nullable=False, comment='已发送数量'),
    sa.Column('success_count', sa.Integer(), server_default='0', nullable=False, comment='成功数量'),
    sa.Column('failed_count', sa.Integer(), server_default='0', nullable=False, comment='失败数量'),
    sa.Column('progress_percent', sa.Numeric(precision=5, scale=2), server_default='0.00', nullable=False, comment='进度百分比'),
    sa.Column('start_time', mysql.TIMESTAMP(), nullable=True, comment='开始时间'),
    sa.Column('end_time', mysql.TIMESTAMP(), nullable=True, comment='结束时间'),
    sa.Column('estimated_duration', sa.Integer(), nullable=True, comment='预估时长(秒)'),
    sa.Column('error_message', sa.Text(), nullable=True, comment='错误信息'),
    sa.Column('created_at', mysql.TIMESTAMP(), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False, comment='创建时间'),
    sa.Column('updated_at', mysql.TIMESTAMP(), server_default=sa.text('CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP'), nullable=False, comment='更新时间'),
    sa.PrimaryKeyConstraint('id'),
    comment='批量发送任务表',
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_unicode_ci',
    mysql_engine='InnoDB'
    )
    op.create_index('idx_account_id', 'batch_send_tasks', ['account_id'], unique=False)
    op.create_index('idx_created_at', 'batch_send_tasks', ['created_at'], unique=False)
    op.create_index('idx_creator_id', 'batch_send_tasks', ['creator_id'], unique=False)
    op.create_index('idx_status', 'batch_send_tasks', ['status'], unique=False)
    op.create_index('idx_tenant_id', 'batch_send_tasks', ['tenant_id'], unique=False)
    op.create_table('callback_events',
    sa.Column('id', sa.String(length=36), nullable=False, comment='事件ID'),
    sa.Column('guid', sa.String(length=100), nullable=False, comment='实例GUID'),
    sa.Column('notify_type', sa.Integer(), nullable=False, comment='通知类型'),
    sa.Column('event_type', sa.String(length=50), nullable=False, comment='事件类型'),
    sa.Column('raw_data', mysql.LONGTEXT(), nullable=False, comment='原始数据'),
    sa.Column('parsed_data', sa.JSON(), nullable=True, comment='解析后数据'),
    sa.Column('status', sa.Enum('received', 'processing', 'processed', 'failed', 'ignored', name='callbackstatus', length=None), server_default='received', nullable=False, comment='处理状态'),
    sa.Column('error_message', sa.Text(), nullable=True, comment='错误信息'),
    sa.Column('retry_count', sa.Integer(), server_default='0', nullable=False, comment='重试次数'),
    sa.Column('process_time', mysql.TIMESTAMP(), nullable=True, comment='处理时间'),
    sa.Column('received_time', mysql.TIMESTAMP(), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False, comment='接收时间'),
    sa.Column('source_ip', sa.String(length=45), nullable=True, comment='来源IP'),
    sa.Column('user_agent', sa.Text(), nullable=True, comment='用户代理'),
    sa.PrimaryKeyConstraint('id', 'received_time'),
    comment='回调事件表',
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_unicode_ci',
    mysql_engine='InnoDB',
    mysql_partition_by='RANGE (UNIX_TIMESTAMP(received_time)) (\n  PARTITION p202501 VALUES LESS THAN (1738368000),\n  PARTITION p202502 VALUES LESS THAN (1740787200),\n  PARTITION p202503 VALUES LESS THAN (1743465600),\n  PARTITION p_future VALUES LESS THAN MAXVALUE\n)'
    )
    op.create_index('idx_event_type', 'callback_events', ['event_type'], unique=False)
    op.create_index('idx_guid', 'callback_events', ['guid'], unique=False)
    op.create_index('idx_notify_type', 'callback_events', ['notify_type'], unique=False)
    op.create_index('idx_process_time', 'callback_events', ['process_time'], unique=False)
    op.create_index('idx_received_time', 'callback_events', ['received_time'], unique=False)
    op.create_index('idx_status', 'callback_events', ['status'], unique=False)
    op.create_table('conversations',
    sa.Column('id', sa.String(length=36), nullable=False, comment='会话ID'),
    sa.Column('account_id', sa.String(length=36), nullable=False, comment='账号ID'),
    sa.Column('conversation_id', sa.String(length=100), nullable=False, comment='企微会话ID'),
    sa.Column('conversation_name', sa.String(length=200), nullable=True, comment='会话名称'),
    sa.Column('conversation_type', sa.Enum('private', 'group', name='conversationtype', length=None), nullable=False, comment='会话类型'),
    sa.Column('avatar_url', sa.String(length=500), nullable=True, comment='头像URL'),
    sa.Column('member_count', sa.Integer(), server_default='0', nullable=True, comment='成员数量'),
    sa.Column('last_msg_time', mysql.TIMESTAMP(), nullable=True, comment='最后消息时间'),
    sa.Column('last_msg_content', sa.Text(), nullable=True, comment='最后消息内容'),
    sa.Column('unread_count', sa.Integer(), server_default='0', nullable=True, comment='未读消息数'),
    sa.Column('is_active', sa.Boolean(), server_default='1', nullable=False, comment='是否活跃'),
    sa.Column('is_pinned', sa.Boolean(), server_default='0', nullable=False, comment='是否置顶'),
    sa.Column('tags', sa.JSON(), nullable=True, comment='标签'),
    sa.Column('extra_info', sa.JSON(), nullable=True, comment='扩展信息'),
    sa.Column('created_at', mysql.TIMESTAMP(), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False, comment='创建时间'),
    sa.Column('updated_at', mysql.TIMESTAMP(), server_default=sa.text('CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP'), nullable=False, comment='更新时间'),
    sa.PrimaryKeyConstraint('id'),
    comment='会话信息表',
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_unicode_ci',
    mysql_engine='InnoDB'
    )
    op.create_index('idx_account_id', 'conversations', ['account_id'], unique=False)
    op.create_index('idx_conversation_type', 'conversations', ['conversation_type'], unique=False)
    op.create_index('idx_is_active', 'conversations', ['is_active'], unique=False)
    op.create_index('idx_last_msg_time', 'conversations', ['last_msg_time'], unique=False)
    op.create_index('idx_updated_at', 'conversations', ['updated_at'], unique=False)
    op.create_index('uk_account_conversation', 'conversations', ['account_id', 'conversation_id'], unique=True)
    op.create_table('message_statistics',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.String(length=36), nullable=False),
    sa.Column('account_id', sa.String(length=36), nullable=False),
    sa.Column('stat_date', sa.Date(), nullable=False),
    sa.Column('stat_hour', mysql.TINYINT(), nullable=True),
    sa.Column('total_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('success_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('failed_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('avg_response_time', sa.Numeric(precision=10, scale=3), nullable=True),
    sa.Column('created_at', mysql.TIMESTAMP(), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False, comment='创建时间'),
    sa.Column('updated_at', mysql.TIMESTAMP(), server_default=sa.text('CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP'), nullable=False, comment='更新时间'),
    sa.PrimaryKeyConstraint('id'),
    comment='消息统计表',
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_unicode_ci',
    mysql_engine='InnoDB'
    )
    op.create_index('idx_stat_date', 'message_statistics', ['stat_date'], unique=False)
    op.create_index('idx_tenant_date', 'message_statistics', ['tenant_id', 'stat_date'], unique=False)
    op.create_index('uk_tenant_account_date_hour', 'message_statistics', ['tenant_id', 'account_id', 'stat_date', 'stat_hour'], unique=True)
    op.create_table('message_templates',
    sa.Column('id', sa.String(length=36), nullable=False, comment='模板ID'),
    sa.Column('tenant_id', sa.String(length=36), nullable=False, comment='租户ID'),
    sa.Column('creator_id', sa.String(length=36), nullable=False, comment='创建者ID'),
    sa.Column('template_name', sa.String(length=100), nullable=False, comment='模板名称'),
    sa.Column('template_type', sa.String(length=50), nullable=False, comment='模板类型'),
    sa.Column('category', sa.String(length=50), nullable=True, comment='模板分类'),
    sa.Column('description', sa.String(length=500), nullable=True, comment='模板描述'),
    sa.Column('template_content', sa.JSON(), nullable=False, comment='模板内容'),
    sa.Column('variables', sa.JSON(), nullable=True, comment='变量定义'),
    sa.Column('preview_data', sa.JSON(), nullable=True, comment='预览数据'),
    sa.Column('usage_count', sa.Integer(), server_default='0', nullable=False, comment='使用次数'),
    sa.Column('last_used_time', mysql.TIMESTAMP(), nullable=True, comment='最后使用时间'),
    sa.Column('is_public', sa.Boolean(), server_default='0', nullable=False, comment='是否公开'),
    sa.Column('is_active', sa.Boolean(), server_default='1', nullable=False, comment='是否激活'),
    sa.Column('tags', sa.JSON(), nullable=True, comment='标签'),
    sa.Column('created_at', mysql.TIMESTAMP(), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False, comment='创建时间'),
    sa.Column('updated_at', mysql.TIMESTAMP(), server_default=sa.text('CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP'), nullable=False, comment='更新时间'),
    sa.PrimaryKeyConstraint('id'),
    comment='消息模板表',
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_unicode_ci',
    mysql_engine='InnoDB'
    )
    op.create_index('idx_category', 'message_templates', ['category'], unique=False)
    op.create_index('idx_created_at', 'message_templates', ['created_at'], unique=False)
    op.create_index('idx_creator_id', 'message_templates', ['creator_id'], unique=False)
    op.create_index('idx_is_active', 'message_templates', ['is_active'], unique=False)
    op.create_index('idx_template_type', 'message_templates', ['template_type'], unique=False)
    op.create_index('idx_tenant_id', 'message_templates', ['tenant_id'], unique=False)
    op.create_index('idx_usage_count', 'message_templates', ['usage_count'], unique=False)
    op.create_index('uk_tenant_template_name', 'message_templates', ['tenant_id', 'template_name'], unique=True)
    op.create_table('messages',
    sa.Column('id', sa.String(length=36), nullable=False, comment='消息ID'),
    sa.Column('tenant_id', sa.String(length=36), nullable=False, comment='租户ID'),
    sa.Column('account_id', sa.String(length=36), nullable=False, comment='发送账号ID'),
    sa.Column('conversation_id', sa.String(length=100), nullable=False, comment='会话ID'),
    sa.Column('message_type', sa.Enum('text', 'image', 'file', 'link', 'miniprogram', 'at', name='messagetype', length=None), nullable=False, comment='消息类型'),
    sa.Column('content', sa.JSON(), nullable=False, comment='消息内容'),
    sa.Column('template_id', sa.String(length=36), nullable=True, comment='模板ID'),
    sa.Column('status', sa.Enum('pending', 'sending', 'sent', 'delivered', 'failed', 'cancelled', name='messagestatus', length=None), server_default='pending', nullable=False, comment='状态'),
    sa.Column('wework_msg_id', sa.String(length=100), nullable=True, comment='企微消息ID'),
    sa.Column('send_time', mysql.TIMESTAMP(), nullable=True, comment='发送时间'),
    sa.Column('callback_time', mysql.TIMESTAMP(), nullable=True, comment='回调时间'),
    sa.Column('error_code', sa.String(length=50), nullable=True, comment='错误码'),
    sa.Column('error_message', sa.Text(), nullable=True, comment='错误信息'),
    sa.Column('retry_count', sa.Integer(), server_default='0', nullable=False, comment='重试次数'),
    sa.Column('batch_id', sa.String(length=36), nullable=True, comment='批量任务ID'),
    sa.Column('priority', sa.Integer(), server_default='5', nullable=False, comment='优先级(1-10)'),
    sa.Column('scheduled_time', mysql.TIMESTAMP(), nullable=True, comment='计划发送时间'),
    sa.Column('created_at', mysql.TIMESTAMP(), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False, comment='创建时间'),
    sa.Column('updated_at', mysql.TIMESTAMP(), server_default=sa.text('CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP'), nullable=False, comment='更新时间'),
    sa.PrimaryKeyConstraint('id', 'created_at'),
    comment='消息记录表',
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_unicode_ci',
    mysql_engine='InnoDB',
    mysql_partition_by='RANGE (UNIX_TIMESTAMP(created_at)) (\n  PARTITION p2025 VALUES LESS THAN (1767225600),\n  PARTITION p2026 VALUES LESS THAN (1798761600),\n  PARTITION p2027 VALUES LESS THAN (1830297600),\n  PARTITION p_future VALUES LESS THAN MAXVALUE\n)'
    )
    op.create_index('idx_account_send_time', 'messages', ['account_id', sa.literal_column('send_time DESC')], unique=False)
    op.create_index('idx_batch_id', 'messages', ['batch_id'], unique=False)
    op.create_index('idx_batch_status', 'messages', ['batch_id', 'status'], unique=False)
    op.create_index('idx_conversation_id', 'messages', ['conversation_id'], unique=False)
    op.create_index('idx_conversation_time', 'messages', ['conversation_id', sa.literal_column('created_at DESC')], unique=False)
    op.create_index('idx_created_at', 'messages', ['created_at'], unique=False)
    op.create_index('idx_scheduled_pending', 'messages', ['status', 'scheduled_time'], unique=False)
    op.create_index('idx_scheduled_time', 'messages', ['scheduled_time'], unique=False)
    op.create_index('idx_send_time', 'messages', ['send_time'], unique=False)
    op.create_index('idx_status', 'messages', ['status'], unique=False)
    op.create_index('idx_template_id', 'messages', ['template_id'], unique=False)
    op.create_index('idx_tenant_account', 'messages', ['tenant_id', 'account_id'], unique=False)
    op.create_index('idx_tenant_time_status', 'messages', ['tenant_id', 'created_at', 'status'], unique=False)
    op.create_index('idx_updated_at', 'messages', ['updated_at'], unique=False)
    op.create_table('tenants',
    sa.Column('id', sa.String(length=36), nullable=False, comment='租户ID'),
    sa.Column('tenant_code', sa.String(length=50), nullable=False, comment='租户编码'),
    sa.Column('tenant_name', sa.String(length=100), nullable=False, comment='租户名称'),
    sa.Column('contact_person', sa.String(length=50), nullable=True, comment='联系人'),
    sa.Column('contact_phone', sa.String(length=255), nullable=True, comment='联系电话(加密存储)'),
    sa.Column('contact_email', sa.String(length=400), nullable=True, comment='联系邮箱(加密存储)'),
    sa.Column('max_accounts', sa.Integer(), server_default='10', nullable=False, comment='最大账号数'),
    sa.Column('max_daily_messages', sa.Integer(), server_default='10000', nullable=False, comment='日消息限额'),
    sa.Column('webhook_url', sa.String(length=500), nullable=True, comment='回调地址'),
    sa.Column('config', sa.JSON(), nullable=True, comment='租户配置'),
    sa.Column('status', sa.Enum('active', 'suspended', 'deleted', name='tenantstatus', length=None), server_default='active', nullable=False, comment='状态'),
    sa.Column('created_at', mysql.TIMESTAMP(), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False, comment='创建时间'),
    sa.Column('updated_at', mysql.TIMESTAMP(), server_default=sa.text('CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP'), nullable=False, comment='更新时间'),
    sa.PrimaryKeyConstraint('id'),
    comment='租户表',
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_unicode_ci',
    mysql_engine='InnoDB'
    )
    op.create_index('idx_created_at', 'tenants', ['created_at'], unique=False)
    op.create_index('idx_status', 'tenants', ['status'], unique=False)
    op.create_index('uk_tenant_code', 'tenants', ['tenant_code'], unique=True)
    op.create_table('wework_accounts',
    sa.Column('id', sa.String(length=36), nullable=False, comment='账号ID'),
    sa.Column('tenant_id', sa.String(length=36), nullable=False, comment='租户ID'),
    sa.Column('user_id', sa.String(length=36), nullable=True, comment='绑定用户ID'),
    sa.Column('account_name', sa.String(length=100), nullable=False, comment='账号名称'),
    sa.Column('phone', sa.String(length=255), nullable=True, comment='绑定手机号(加密存储)'),
    sa.Column('email', sa.String(length=400), nullable=True, comment='绑定邮箱(加密存储)'),
    sa.Column('phone_hash', sa.String(length=64), nullable=True, comment='手机号HMAC(查找用)'),
    sa.Column('email_hash', sa.String(length=64), nullable=True, comment='邮箱HMAC(查找用)'),
    sa.Column('guid', sa.String(length=100), nullable=True, comment='企微实例GUID'),
    sa.Column('guid_active', sa.String(length=100), sa.Computed("CASE WHEN `status` <> 'deleted' THEN `guid` END", persisted=False), nullable=True, comment='未删除账号的GUID(uk_guid_active用)'),
    sa.Column('qr_code_url', sa.String(length=500), nullable=True, comment='登录二维码URL'),
    sa.Column('login_token', sa.String(length=512), nullable=True, comment='登录令牌(加密存储)'),
    sa.Column('status', sa.Enum('created', 'logging_in', 'waiting_scan', 'waiting_confirm', 'need_verify', 'online', 'offline', 'error', 'recovering', name='accountstatus', length=None), server_default='created', nullable=False, comment='状态'),
    sa.Column('config', sa.JSON(), nullable=True, comment='账号配置'),
    sa.Column('user_info', sa.JSON(), nullable=True, comment='企微用户信息'),
    sa.Column('last_login_time', mysql.TIMESTAMP(), nullable=True, comment='最后登录时间'),
    sa.Column('last_heartbeat_time', mysql.TIMESTAMP(), nullable=True, comment='最后心跳时间'),
    sa.Column('login_retry_count', sa.Integer(), server_default='0', nullable=False, comment='登录重试次数'),
    sa.Column('error_message', sa.Text(), nullable=True, comment='错误信息'),
    sa.Column('created_at', mysql.TIMESTAMP(), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False, comment='创建时间'),
    sa.Column('updated_at', mysql.TIMESTAMP(), server_default=sa.text('CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP'), nullable=False, comment='更新时间'),
    sa.PrimaryKeyConstraint('id'),
    comment='企微账号表',
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_unicode_ci',
    mysql_engine='InnoDB'
    )
    op.create_index('idx_account_name_search', 'wework_accounts', ['tenant_id', 'account_name'], unique=False, mysql_length={'account_name': 20})
    op.create_index('idx_created_at', 'wework_accounts', ['created_at'], unique=False)
    op.create_index('idx_last_heartbeat', 'wework_accounts', ['last_heartbeat_time'], unique=False)
    op.create_index('idx_online_heartbeat', 'wework_accounts', ['status', 'last_heartbeat_time'], unique=False)
    op.create_index('idx_phone', 'wework_accounts', ['phone_hash'], unique=False)
    op.create_index('idx_status', 'wework_accounts', ['status'], unique=False)
    op.create_index('idx_tenant_id', 'wework_accounts', ['tenant_id'], unique=False)
    op.create_index('idx_tenant_status_heartbeat', 'wework_accounts', ['tenant_id', 'status', 'last_heartbeat_time'], unique=False)
    op.create_index('idx_user_id', 'wework_accounts', ['user_id'], unique=False)
    op.create_index('uk_guid', 'wework_accounts', ['guid'], unique=True)
    op.create_index('uk_guid_active', 'wework_accounts', ['guid_active'], unique=True)
    op.create_index('uk_tenant_account_name', 'wework_accounts', ['tenant_id', 'account_name'], unique=True)
    op.create_table('roles',
    sa.Column('id', sa.String(length=36), nullable=False, comment='角色ID'),
    sa.Column('tenant_id', sa.String(length=36), nullable=False, comment='租户ID'),
    sa.Column('role_code', sa.String(length=50), nullable=False, comment='角色编码'),
    sa.Column('role_name', sa.String(length=100), nullable=False, comment='角色名称'),
    sa.Column('description', sa.String(length=500), nullable=True, comment='角色描述'),
    sa.Column('permissions', sa.JSON(), nullable=False, comment='权限列表'),
    sa.Column('is_system', sa.Boolean(), server_default='0', nullable=False, comment='是否系统角色'),
    sa.Column('is_active', sa.Boolean(), server_default='1', nullable=False, comment='是否激活'),
    sa.Column('created_at', mysql.TIMESTAMP(), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False, comment='创建时间'),
    sa.Column('updated_at', mysql.TIMESTAMP(), server_default=sa.text('CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP'), nullable=False, comment='更新时间'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name='fk_roles_tenant'),
    sa.PrimaryKeyConstraint('id'),
    comment='角色表',
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_unicode_ci',
    mysql_engine='InnoDB'
    )
    op.create_index('idx_is_active', 'roles', ['is_active'], unique=False)
    op.create_index('idx_tenant_id', 'roles', ['tenant_id'], unique=False)
    op.create_index('uk_tenant_role_code', 'roles', ['tenant_id', 'role_code'], unique=True)
    op.create_table('users',
    sa.Column('id', sa.String(length=36), nullable=False, comment='用户ID'),
    sa.Column('tenant_id', sa.String(length=36), nullable=False, comment='租户ID'),
    sa.Column('username', sa.String(length=50), nullable=False, comment='用户名'),
    sa.Column('email', sa.String(length=100), nullable=False, comment='邮箱'),
    sa.Column('phone', sa.String(length=255), nullable=True, comment='手机号(加密存储)'),
    sa.Column('real_name', sa.String(length=50), nullable=True, comment='真实姓名'),
    sa.Column('avatar_url', sa.String(length=500), nullable=True, comment='头像URL'),
    sa.Column('password_hash', sa.String(length=255), nullable=False, comment='密码哈希'),
    sa.Column('salt', sa.String(length=32), nullable=False, comment='密码盐值'),
    sa.Column('status', sa.Enum('active', 'inactive', 'locked', 'deleted', name='userstatus', length=None), server_default='active', nullable=False, comment='状态'),
    sa.Column('last_login_time', mysql.TIMESTAMP(), nullable=True, comment='最后登录时间'),
    sa.Column('last_login_ip', sa.String(length=45), nullable=True, comment='最后登录IP'),
    sa.Column('failed_login_count', sa.Integer(), server_default='0', nullable=False, comment='失败登录次数'),
    sa.Column('locked_until', mysql.TIMESTAMP(), nullable=True, comment='锁定截止时间'),
    sa.Column('created_at', mysql.TIMESTAMP(), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False, comment='创建时间'),
    sa.Column('updated_at', mysql.TIMESTAMP(), server_default=sa.text('CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP'), nullable=False, comment='更新时间'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name='fk_users_tenant'),
    sa.PrimaryKeyConstraint('id'),
    comment='用户表',
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_unicode_ci',
    mysql_engine='InnoDB'
    )
    op.create_index('idx_active_users', 'users', ['status', 'last_login_time'], unique=False)
    op.create_index('idx_email', 'users', ['email'], unique=False)
    op.create_index('idx_last_login', 'users', ['last_login_time'], unique=False)
    op.create_index('idx_search_fields', 'users', ['tenant_id', 'username', 'email'], unique=False, mysql_length={'username': 10, 'email': 20})
    op.create_index('idx_status', 'users', ['status'], unique=False)
    op.create_index('idx_tenant_id', 'users', ['tenant_id'], unique=False)
    op.create_index('idx_tenant_status_login', 'users', ['tenant_id', 'status', 'last_login_time'], unique=False)
    op.create_index('uk_tenant_email', 'users', ['tenant_id', 'email'], unique=True)
    op.create_index('uk_tenant_username', 'users', ['tenant_id', 'username'], unique=True)
    op.create_table('user_roles',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False, comment='主键ID'),
    sa.Column('user_id', sa.String(length=36), nullable=False, comment='用户ID'),
    sa.Column('role_id', sa.String(length=36), nullable=False, comment='角色ID'),
    sa.Column('assigned_by', sa.String(length=36), nullable=False, comment='分配者ID'),
    sa.Column('assigned_at', mysql.TIMESTAMP(), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False, comment='分配时间'),
    sa.ForeignKeyConstraint(['role_id'], ['roles.id'], name='fk_user_roles_role'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name='fk_user_roles_user'),
    sa.PrimaryKeyConstraint('id'),
    comment='用户角色关联表',
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_unicode_ci',
    mysql_engine='InnoDB'
    )
    op.create_index('idx_assigned_at', 'user_roles', ['assigned_at'], unique=False)
    op.create_index('idx_role_id', 'user_roles', ['role_id'], unique=False)
    op.create_index('idx_user_id', 'user_roles', ['user_id'], unique=False)
    op.create_index('uk_user_role', 'user_roles', ['user_id', 'role_id'], unique=True)


def downgrade() -> None:
    # Dropping a table drops its indexes; children before the parents they reference.
    for table in (
        "user_roles",
        "users",
        "roles",
        "tenants",
        "wework_accounts",
        "account_status_history",
        "conversations",
        "messages",
        "message_templates",
        "batch_send_tasks",
        "message_statistics",
        "callback_events",
    ):
        op.drop_table(table)

-- WeWork Platform: MySQL 8 / MariaDB 10.11 schema of one shard database, as deployed.
-- GENERATED from the SQLAlchemy models (platform/wework/models) by `wework db ddl --write`;
-- do not edit by hand: tests/db/test_schema.py fails when this file and the models differ.
-- Deviations from the original design (spec) and why are commented in the models.

CREATE TABLE account_status_history (
	id BIGINT NOT NULL COMMENT '主键ID' AUTO_INCREMENT,
	account_id VARCHAR(36) NOT NULL COMMENT '账号ID',
	old_status VARCHAR(20) COMMENT '原状态',
	new_status VARCHAR(20) NOT NULL COMMENT '新状态',
	reason VARCHAR(500) COMMENT '变更原因',
	error_message TEXT COMMENT '错误信息',
	extra_data JSON COMMENT '扩展数据',
	operator_id VARCHAR(36) COMMENT '操作者ID',
	operator_type ENUM('user','system','auto') NOT NULL COMMENT '操作类型' DEFAULT 'system',
	created_at TIMESTAMP NOT NULL COMMENT '创建时间' DEFAULT CURRENT_TIMESTAMP,
	PRIMARY KEY (id, created_at)
)ENGINE=InnoDB CHARSET=utf8mb4 COMMENT='账号状态历史表' COLLATE utf8mb4_unicode_ci PARTITION BY RANGE (UNIX_TIMESTAMP(created_at)) (
  PARTITION p2025 VALUES LESS THAN (1767225600),
  PARTITION p2026 VALUES LESS THAN (1798761600),
  PARTITION p2027 VALUES LESS THAN (1830297600),
  PARTITION p_future VALUES LESS THAN MAXVALUE
);
CREATE INDEX idx_account_id ON account_status_history (account_id);
CREATE INDEX idx_account_time ON account_status_history (account_id, created_at);
CREATE INDEX idx_created_at ON account_status_history (created_at);
CREATE INDEX idx_new_status ON account_status_history (new_status);

CREATE TABLE alert_notices (
	id VARCHAR(36) NOT NULL COMMENT '通知ID',
	alert_id VARCHAR(36) NOT NULL COMMENT '告警ID',
	rule VARCHAR(64) NOT NULL COMMENT '规则名',
	subject VARCHAR(191) NOT NULL COMMENT '对象',
	tenant_id VARCHAR(36) COMMENT '租户ID(租户级规则)',
	severity VARCHAR(16) NOT NULL COMMENT '级别',
	kind ENUM('firing','resolved') NOT NULL COMMENT '通知类型',
	`repeat` INTEGER NOT NULL COMMENT '重复通知序号(0=首次)' DEFAULT '0',
	value DOUBLE COMMENT '取值',
	summary VARCHAR(500) NOT NULL COMMENT '摘要',
	at TIMESTAMP NOT NULL COMMENT '发生时间',
	payload JSON NOT NULL COMMENT '通知内容',
	delivery ENUM('pending','delivered','failed','unsent') NOT NULL COMMENT '投递状态' DEFAULT 'pending',
	attempts INTEGER NOT NULL COMMENT '投递次数' DEFAULT '0',
	next_attempt_at TIMESTAMP NULL COMMENT '下次投递时间',
	last_error VARCHAR(1000) COMMENT '最后错误',
	delivered_at TIMESTAMP NULL COMMENT '送达时间',
	last_status_code INTEGER COMMENT '最后HTTP状态码',
	created_at TIMESTAMP NOT NULL COMMENT '创建时间' DEFAULT CURRENT_TIMESTAMP,
	PRIMARY KEY (id)
)ENGINE=InnoDB CHARSET=utf8mb4 COMMENT='运维告警通知历史' COLLATE utf8mb4_unicode_ci;
CREATE INDEX idx_alert_at ON alert_notices (alert_id, at);
CREATE INDEX idx_at ON alert_notices (at);
CREATE INDEX idx_delivery_next ON alert_notices (delivery, next_attempt_at);
CREATE INDEX idx_tenant_at ON alert_notices (tenant_id, at);

CREATE TABLE alerts (
	id VARCHAR(36) NOT NULL COMMENT '告警ID',
	rule VARCHAR(64) NOT NULL COMMENT '规则名',
	subject VARCHAR(191) NOT NULL COMMENT '对象',
	tenant_id VARCHAR(36) COMMENT '租户ID(租户级规则)',
	severity VARCHAR(16) NOT NULL COMMENT '级别',
	state ENUM('ok','pending','firing') NOT NULL COMMENT '状态' DEFAULT 'ok',
	value DOUBLE COMMENT '最近取值',
	summary VARCHAR(500) NOT NULL COMMENT '摘要',
	pending_since TIMESTAMP NULL COMMENT '条件成立起始时间',
	fired_at TIMESTAMP NULL COMMENT '触发时间',
	resolved_at TIMESTAMP NULL COMMENT '恢复时间',
	last_notified_at TIMESTAMP NULL COMMENT '最后通知时间',
	evaluated_at TIMESTAMP NOT NULL COMMENT '最后评估时间',
	created_at TIMESTAMP NOT NULL COMMENT '创建时间' DEFAULT CURRENT_TIMESTAMP,
	updated_at TIMESTAMP NOT NULL COMMENT '更新时间' DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
	PRIMARY KEY (id),
	CONSTRAINT uk_rule_subject UNIQUE (rule, subject)
)ENGINE=InnoDB CHARSET=utf8mb4 COMMENT='运维告警状态' COLLATE utf8mb4_unicode_ci;
CREATE INDEX idx_state ON alerts (state);
CREATE INDEX idx_tenant_state ON alerts (tenant_id, state);

CREATE TABLE audit_log (
	id VARCHAR(36) NOT NULL COMMENT '日志ID',
	tenant_id VARCHAR(36) NOT NULL COMMENT '被操作的租户ID',
	actor_id VARCHAR(36) NOT NULL COMMENT '操作人ID',
	actor_tenant_id VARCHAR(36) NOT NULL COMMENT '操作人所属租户ID',
	actor_name VARCHAR(50) NOT NULL COMMENT '操作人用户名',
	action VARCHAR(50) NOT NULL COMMENT '操作',
	object_type VARCHAR(50) NOT NULL COMMENT '对象类型',
	object_id VARCHAR(64) COMMENT '对象ID',
	client_ip VARCHAR(45) COMMENT '客户端IP',
	changes JSON COMMENT '变更字段(前/后)',
	created_at TIMESTAMP NOT NULL COMMENT '创建时间' DEFAULT CURRENT_TIMESTAMP,
	PRIMARY KEY (id)
)ENGINE=InnoDB CHARSET=utf8mb4 COMMENT='审计日志表' COLLATE utf8mb4_unicode_ci;
CREATE INDEX idx_created_at ON audit_log (created_at);
CREATE INDEX idx_object ON audit_log (object_type, object_id);
CREATE INDEX idx_tenant_created ON audit_log (tenant_id, created_at);

CREATE TABLE batch_send_tasks (
	id VARCHAR(36) NOT NULL COMMENT '任务ID',
	tenant_id VARCHAR(36) NOT NULL COMMENT '租户ID',
	creator_id VARCHAR(36) NOT NULL COMMENT '创建者ID',
	task_name VARCHAR(100) NOT NULL COMMENT '任务名称',
	account_id VARCHAR(36) NOT NULL COMMENT '发送账号ID',
	template_id VARCHAR(36) COMMENT '模板ID',
	message_content JSON NOT NULL COMMENT '消息内容',
	target_type ENUM('manual','import','group','filter') NOT NULL COMMENT '目标类型',
	target_config JSON NOT NULL COMMENT '目标配置',
	send_strategy JSON COMMENT '发送策略',
	status ENUM('created','running','paused','completed','failed','cancelled') NOT NULL COMMENT '状态' DEFAULT 'created',
	total_count INTEGER NOT NULL COMMENT '总数量' DEFAULT '0',
	sent_count INTEGER NOT NULL COMMENT '已发送数量' DEFAULT '0',
	success_count INTEGER NOT NULL COMMENT '成功数量' DEFAULT '0',
	failed_count INTEGER NOT NULL COMMENT '失败数量' DEFAULT '0',
	progress_percent NUMERIC(5, 2) NOT NULL COMMENT '进度百分比' DEFAULT '0.00',
	start_time TIMESTAMP NULL COMMENT '开始时间',
	end_time TIMESTAMP NULL COMMENT '结束时间',
	estimated_duration INTEGER COMMENT '预估时长(秒)',
	error_message TEXT COMMENT '错误信息',
	created_at TIMESTAMP NOT NULL COMMENT '创建时间' DEFAULT CURRENT_TIMESTAMP,
	updated_at TIMESTAMP NOT NULL COMMENT '更新时间' DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
	PRIMARY KEY (id)
)ENGINE=InnoDB CHARSET=utf8mb4 COMMENT='批量发送任务表' COLLATE utf8mb4_unicode_ci;
CREATE INDEX idx_account_id ON batch_send_tasks (account_id);
CREATE INDEX idx_created_at ON batch_send_tasks (created_at);
CREATE INDEX idx_creator_id ON batch_send_tasks (creator_id);
CREATE INDEX idx_status ON batch_send_tasks (status);
CREATE INDEX idx_tenant_id ON batch_send_tasks (tenant_id);

CREATE TABLE callback_event_keys (
	guid VARCHAR(100) NOT NULL COMMENT '实例GUID',
	event_id VARCHAR(100) NOT NULL COMMENT '事件唯一ID',
	callback_event_id VARCHAR(36) NOT NULL COMMENT '首次应用的回调事件ID',
	created_at TIMESTAMP NOT NULL COMMENT '创建时间' DEFAULT CURRENT_TIMESTAMP,
	PRIMARY KEY (guid, event_id)
)ENGINE=InnoDB CHARSET=utf8mb4 COMMENT='回调事件去重键表' COLLATE utf8mb4_unicode_ci;
CREATE INDEX idx_created_at ON callback_event_keys (created_at);

CREATE TABLE callback_events (
	id VARCHAR(36) NOT NULL COMMENT '事件ID',
	guid VARCHAR(100) NOT NULL COMMENT '实例GUID',
	notify_type INTEGER NOT NULL COMMENT '通知类型',
	event_type VARCHAR(50) NOT NULL COMMENT '事件类型',
	raw_data LONGTEXT NOT NULL COMMENT '原始数据',
	parsed_data JSON COMMENT '解析后数据',
	status ENUM('received','processing','processed','failed','ignored') NOT NULL COMMENT '处理状态' DEFAULT 'received',
	error_message TEXT COMMENT '错误信息',
	retry_count INTEGER NOT NULL COMMENT '重试次数' DEFAULT '0',
	process_time TIMESTAMP NULL COMMENT '处理时间',
	received_time TIMESTAMP NOT NULL COMMENT '接收时间' DEFAULT CURRENT_TIMESTAMP,
	source_ip VARCHAR(45) COMMENT '来源IP',
	user_agent TEXT COMMENT '用户代理',
	PRIMARY KEY (id, received_time)
)ENGINE=InnoDB CHARSET=utf8mb4 COMMENT='回调事件表' COLLATE utf8mb4_unicode_ci PARTITION BY RANGE (UNIX_TIMESTAMP(received_time)) (
  PARTITION p202501 VALUES LESS THAN (1738368000),
  PARTITION p202502 VALUES LESS THAN (1740787200),
  PARTITION p202503 VALUES LESS THAN (1743465600),
  PARTITION p_future VALUES LESS THAN MAXVALUE
);
CREATE INDEX idx_event_type ON callback_events (event_type);
CREATE INDEX idx_guid ON callback_events (guid);
CREATE INDEX idx_notify_type ON callback_events (notify_type);
CREATE INDEX idx_process_time ON callback_events (process_time);
CREATE INDEX idx_received_time ON callback_events (received_time);
CREATE INDEX idx_status ON callback_events (status);

CREATE TABLE callback_webhook_ids (
	webhook_id VARCHAR(255) NOT NULL COMMENT '投递ID (webhook-id)',
	event_count INTEGER NOT NULL COMMENT '事件数',
	received_at TIMESTAMP NOT NULL COMMENT '接收时间' DEFAULT CURRENT_TIMESTAMP,
	PRIMARY KEY (webhook_id)
)ENGINE=InnoDB CHARSET=utf8mb4 COMMENT='回调投递ID表' COLLATE utf8mb4_unicode_ci;
CREATE INDEX idx_received_at ON callback_webhook_ids (received_at);

CREATE TABLE conversations (
	id VARCHAR(36) NOT NULL COMMENT '会话ID',
	account_id VARCHAR(36) NOT NULL COMMENT '账号ID',
	conversation_id VARCHAR(100) NOT NULL COMMENT '企微会话ID',
	conversation_name VARCHAR(200) COMMENT '会话名称',
	conversation_type ENUM('private','group') NOT NULL COMMENT '会话类型',
	avatar_url VARCHAR(500) COMMENT '头像URL',
	member_count INTEGER COMMENT '成员数量' DEFAULT '0',
	last_msg_time TIMESTAMP NULL COMMENT '最后消息时间',
	last_msg_content TEXT COMMENT '最后消息内容',
	unread_count INTEGER COMMENT '未读消息数' DEFAULT '0',
	is_active BOOL NOT NULL COMMENT '是否活跃' DEFAULT '1',
	is_pinned BOOL NOT NULL COMMENT '是否置顶' DEFAULT '0',
	tags JSON COMMENT '标签',
	extra_info JSON COMMENT '扩展信息',
	created_at TIMESTAMP NOT NULL COMMENT '创建时间' DEFAULT CURRENT_TIMESTAMP,
	updated_at TIMESTAMP NOT NULL COMMENT '更新时间' DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
	PRIMARY KEY (id)
)ENGINE=InnoDB CHARSET=utf8mb4 COMMENT='会话信息表' COLLATE utf8mb4_unicode_ci;
CREATE INDEX idx_account_id ON conversations (account_id);
CREATE INDEX idx_conversation_type ON conversations (conversation_type);
CREATE INDEX idx_is_active ON conversations (is_active);
CREATE INDEX idx_last_msg_time ON conversations (last_msg_time);
CREATE INDEX idx_updated_at ON conversations (updated_at);
CREATE UNIQUE INDEX uk_account_conversation ON conversations (account_id, conversation_id);

CREATE TABLE data_generation (
	id SMALLINT NOT NULL COMMENT '固定为1',
	generation VARCHAR(36) NOT NULL COMMENT '代次ID',
	reason VARCHAR(200) NOT NULL COMMENT '更换原因',
	changed_at TIMESTAMP NOT NULL COMMENT '更换时间',
	PRIMARY KEY (id)
)ENGINE=InnoDB CHARSET=utf8mb4 COMMENT='数据代次(重置/恢复时更换)' COLLATE utf8mb4_unicode_ci;

CREATE TABLE gateway_secrets (
	id VARCHAR(36) NOT NULL COMMENT '密钥ID',
	gateway_name VARCHAR(100) NOT NULL COMMENT '网关名称',
	secret VARCHAR(255) NOT NULL COMMENT '签名密钥(加密存储)',
	fingerprint VARCHAR(16) NOT NULL COMMENT '密钥指纹',
	created_by VARCHAR(100) NOT NULL COMMENT '创建人',
	created_at TIMESTAMP NOT NULL COMMENT '创建时间' DEFAULT CURRENT_TIMESTAMP,
	expires_at TIMESTAMP NULL COMMENT '过期时间(轮换后)',
	revoked_at TIMESTAMP NULL COMMENT '吊销时间',
	PRIMARY KEY (id)
)ENGINE=InnoDB CHARSET=utf8mb4 COMMENT='网关签名密钥表' COLLATE utf8mb4_unicode_ci;
CREATE INDEX idx_gateway_name ON gateway_secrets (gateway_name);

CREATE TABLE message_statistics (
	id BIGINT NOT NULL AUTO_INCREMENT,
	tenant_id VARCHAR(36) NOT NULL,
	account_id VARCHAR(36) NOT NULL,
	stat_date DATE NOT NULL,
	stat_hour TINYINT,
	total_count INTEGER NOT NULL DEFAULT '0',
	success_count INTEGER NOT NULL DEFAULT '0',
	failed_count INTEGER NOT NULL DEFAULT '0',
	avg_response_time NUMERIC(10, 3),
	created_at TIMESTAMP NOT NULL COMMENT '创建时间' DEFAULT CURRENT_TIMESTAMP,
	updated_at TIMESTAMP NOT NULL COMMENT '更新时间' DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
	PRIMARY KEY (id)
)ENGINE=InnoDB CHARSET=utf8mb4 COMMENT='消息统计表' COLLATE utf8mb4_unicode_ci;
CREATE INDEX idx_stat_date ON message_statistics (stat_date);
CREATE INDEX idx_tenant_date ON message_statistics (tenant_id, stat_date);
CREATE UNIQUE INDEX uk_tenant_account_date_hour ON message_statistics (tenant_id, account_id, stat_date, stat_hour);

CREATE TABLE message_templates (
	id VARCHAR(36) NOT NULL COMMENT '模板ID',
	tenant_id VARCHAR(36) NOT NULL COMMENT '租户ID',
	creator_id VARCHAR(36) NOT NULL COMMENT '创建者ID',
	template_name VARCHAR(100) NOT NULL COMMENT '模板名称',
	template_type VARCHAR(50) NOT NULL COMMENT '模板类型',
	category VARCHAR(50) COMMENT '模板分类',
	description VARCHAR(500) COMMENT '模板描述',
	template_content JSON NOT NULL COMMENT '模板内容',
	variables JSON COMMENT '变量定义',
	preview_data JSON COMMENT '预览数据',
	usage_count INTEGER NOT NULL COMMENT '使用次数' DEFAULT '0',
	last_used_time TIMESTAMP NULL COMMENT '最后使用时间',
	is_public BOOL NOT NULL COMMENT '是否公开' DEFAULT '0',
	is_active BOOL NOT NULL COMMENT '是否激活' DEFAULT '1',
	tags JSON COMMENT '标签',
	created_at TIMESTAMP NOT NULL COMMENT '创建时间' DEFAULT CURRENT_TIMESTAMP,
	updated_at TIMESTAMP NOT NULL COMMENT '更新时间' DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
	PRIMARY KEY (id)
)ENGINE=InnoDB CHARSET=utf8mb4 COMMENT='消息模板表' COLLATE utf8mb4_unicode_ci;
CREATE INDEX idx_category ON message_templates (category);
CREATE INDEX idx_created_at ON message_templates (created_at);
CREATE INDEX idx_creator_id ON message_templates (creator_id);
CREATE INDEX idx_is_active ON message_templates (is_active);
CREATE INDEX idx_template_type ON message_templates (template_type);
CREATE INDEX idx_tenant_id ON message_templates (tenant_id);
CREATE INDEX idx_usage_count ON message_templates (usage_count);
CREATE UNIQUE INDEX uk_tenant_template_name ON message_templates (tenant_id, template_name);

CREATE TABLE messages (
	id VARCHAR(36) NOT NULL COMMENT '消息ID',
	tenant_id VARCHAR(36) NOT NULL COMMENT '租户ID',
	account_id VARCHAR(36) NOT NULL COMMENT '发送账号ID',
	conversation_id VARCHAR(100) NOT NULL COMMENT '会话ID',
	message_type ENUM('text','image','file','link','miniprogram','at') NOT NULL COMMENT '消息类型',
	content JSON NOT NULL COMMENT '消息内容',
	template_id VARCHAR(36) COMMENT '模板ID',
	status ENUM('pending','sending','sent','delivered','failed','cancelled') NOT NULL COMMENT '状态' DEFAULT 'pending',
	wework_msg_id VARCHAR(100) COMMENT '企微消息ID',
	send_time TIMESTAMP NULL COMMENT '发送时间',
	callback_time TIMESTAMP NULL COMMENT '回调时间',
	error_code VARCHAR(50) COMMENT '错误码',
	error_message TEXT COMMENT '错误信息',
	retry_count INTEGER NOT NULL COMMENT '重试次数' DEFAULT '0',
	batch_id VARCHAR(36) COMMENT '批量任务ID',
	priority INTEGER NOT NULL COMMENT '优先级(1-10)' DEFAULT '5',
	scheduled_time TIMESTAMP NULL COMMENT '计划发送时间',
	created_at TIMESTAMP NOT NULL COMMENT '创建时间' DEFAULT CURRENT_TIMESTAMP,
	updated_at TIMESTAMP NOT NULL COMMENT '更新时间' DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
	due_at TIMESTAMP GENERATED ALWAYS AS (coalesce(`scheduled_time`,`created_at`)) VIRTUAL COMMENT '到期时间(派生)',
	PRIMARY KEY (id, created_at)
)ENGINE=InnoDB CHARSET=utf8mb4 COMMENT='消息记录表' COLLATE utf8mb4_unicode_ci PARTITION BY RANGE (UNIX_TIMESTAMP(created_at)) (
  PARTITION p2025 VALUES LESS THAN (1767225600),
  PARTITION p2026 VALUES LESS THAN (1798761600),
  PARTITION p2027 VALUES LESS THAN (1830297600),
  PARTITION p_future VALUES LESS THAN MAXVALUE
);
CREATE INDEX idx_account_send_time ON messages (account_id, send_time DESC);
CREATE INDEX idx_batch_id ON messages (batch_id);
CREATE INDEX idx_batch_status ON messages (batch_id, status);
CREATE INDEX idx_conversation_id ON messages (conversation_id);
CREATE INDEX idx_conversation_time ON messages (conversation_id, created_at DESC);
CREATE INDEX idx_created_at ON messages (created_at);
CREATE INDEX idx_scheduled_pending ON messages (status, batch_id, priority DESC, due_at, id, account_id, tenant_id);
CREATE INDEX idx_scheduled_time ON messages (scheduled_time);
CREATE INDEX idx_send_time ON messages (send_time);
CREATE INDEX idx_status ON messages (status);
CREATE INDEX idx_template_id ON messages (template_id);
CREATE INDEX idx_tenant_account ON messages (tenant_id, account_id);
CREATE INDEX idx_tenant_created ON messages (tenant_id, created_at, id);
CREATE INDEX idx_tenant_time_status ON messages (tenant_id, created_at, status);
CREATE INDEX idx_updated_at ON messages (updated_at, status);

CREATE TABLE tenant_daily_quota (
	tenant_id VARCHAR(36) NOT NULL COMMENT '租户ID',
	day DATE NOT NULL COMMENT '日期(UTC)',
	stripe SMALLINT NOT NULL COMMENT '分片号',
	used INTEGER NOT NULL COMMENT '已用条数' DEFAULT '0',
	cap INTEGER NOT NULL COMMENT '本分片上限' DEFAULT '0',
	PRIMARY KEY (tenant_id, day, stripe)
)ENGINE=InnoDB CHARSET=utf8mb4 COMMENT='租户每日消息配额计数' COLLATE utf8mb4_unicode_ci;
CREATE INDEX idx_day ON tenant_daily_quota (day);

CREATE TABLE tenant_webhook_secrets (
	tenant_id VARCHAR(36) NOT NULL COMMENT '租户ID',
	secret VARCHAR(255) NOT NULL COMMENT '签名密钥(加密存储)',
	previous_secret VARCHAR(255) COMMENT '上一密钥(加密存储)',
	previous_valid_until TIMESTAMP NULL COMMENT '上一密钥有效期',
	created_at TIMESTAMP NOT NULL COMMENT '创建时间' DEFAULT CURRENT_TIMESTAMP,
	updated_at TIMESTAMP NOT NULL COMMENT '更新时间' DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
	PRIMARY KEY (tenant_id)
)ENGINE=InnoDB CHARSET=utf8mb4 COMMENT='租户Webhook签名密钥' COLLATE utf8mb4_unicode_ci;

CREATE TABLE tenants (
	id VARCHAR(36) NOT NULL COMMENT '租户ID',
	tenant_code VARCHAR(50) NOT NULL COMMENT '租户编码',
	tenant_name VARCHAR(100) NOT NULL COMMENT '租户名称',
	contact_person VARCHAR(50) COMMENT '联系人',
	contact_phone VARCHAR(255) COMMENT '联系电话(加密存储)',
	contact_email VARCHAR(400) COMMENT '联系邮箱(加密存储)',
	max_accounts INTEGER NOT NULL COMMENT '最大账号数' DEFAULT '10',
	max_daily_messages INTEGER NOT NULL COMMENT '日消息限额' DEFAULT '10000',
	webhook_url VARCHAR(500) COMMENT '回调地址',
	config JSON COMMENT '租户配置',
	status ENUM('active','suspended','deleted') NOT NULL COMMENT '状态' DEFAULT 'active',
	created_at TIMESTAMP NOT NULL COMMENT '创建时间' DEFAULT CURRENT_TIMESTAMP,
	updated_at TIMESTAMP NOT NULL COMMENT '更新时间' DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
	PRIMARY KEY (id)
)ENGINE=InnoDB CHARSET=utf8mb4 COMMENT='租户表' COLLATE utf8mb4_unicode_ci;
CREATE INDEX idx_created_at ON tenants (created_at);
CREATE INDEX idx_status ON tenants (status);
CREATE UNIQUE INDEX uk_tenant_code ON tenants (tenant_code);

CREATE TABLE webhook_outbox (
	id VARCHAR(36) NOT NULL COMMENT '事件ID',
	tenant_id VARCHAR(36) NOT NULL COMMENT '租户ID',
	event_type VARCHAR(50) NOT NULL COMMENT '事件类型',
	payload JSON NOT NULL COMMENT '事件内容',
	status ENUM('pending','delivering','delivered','failed') NOT NULL COMMENT '投递状态' DEFAULT 'pending',
	attempts INTEGER NOT NULL COMMENT '投递次数' DEFAULT '0',
	next_attempt_at TIMESTAMP NOT NULL COMMENT '下次投递时间',
	expires_at TIMESTAMP NOT NULL COMMENT '放弃时间',
	last_attempt_at TIMESTAMP NULL COMMENT '最后投递时间',
	last_status_code INTEGER COMMENT '最后HTTP状态码',
	last_error VARCHAR(1000) COMMENT '最后错误',
	delivered_at TIMESTAMP NULL COMMENT '送达时间',
	created_at TIMESTAMP NOT NULL COMMENT '创建时间' DEFAULT CURRENT_TIMESTAMP,
	updated_at TIMESTAMP NOT NULL COMMENT '更新时间' DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
	PRIMARY KEY (id)
)ENGINE=InnoDB CHARSET=utf8mb4 COMMENT='租户Webhook发件箱' COLLATE utf8mb4_unicode_ci;
CREATE INDEX idx_created_at ON webhook_outbox (created_at);
CREATE INDEX idx_status_next_attempt ON webhook_outbox (status, next_attempt_at);
CREATE INDEX idx_tenant_created ON webhook_outbox (tenant_id, created_at);

CREATE TABLE wework_accounts (
	id VARCHAR(36) NOT NULL COMMENT '账号ID',
	tenant_id VARCHAR(36) NOT NULL COMMENT '租户ID',
	user_id VARCHAR(36) COMMENT '绑定用户ID',
	account_name VARCHAR(100) NOT NULL COMMENT '账号名称',
	phone VARCHAR(255) COMMENT '绑定手机号(加密存储)',
	email VARCHAR(400) COMMENT '绑定邮箱(加密存储)',
	phone_hash VARCHAR(64) COMMENT '手机号HMAC(查找用)',
	email_hash VARCHAR(64) COMMENT '邮箱HMAC(查找用)',
	guid VARCHAR(100) COMMENT '企微实例GUID',
	guid_active VARCHAR(100) GENERATED ALWAYS AS (CASE WHEN `status` <> 'deleted' THEN `guid` END) VIRTUAL COMMENT '未删除账号的GUID(uk_guid_active用)',
	qr_code_url VARCHAR(500) COMMENT '登录二维码URL',
	login_token VARCHAR(512) COMMENT '登录令牌(加密存储)',
	status ENUM('created','logging_in','waiting_scan','waiting_confirm','need_verify','online','offline','error','recovering') NOT NULL COMMENT '状态' DEFAULT 'created',
	config JSON COMMENT '账号配置',
	user_info JSON COMMENT '企微用户信息',
	last_login_time TIMESTAMP NULL COMMENT '最后登录时间',
	last_heartbeat_time TIMESTAMP NULL COMMENT '最后心跳时间',
	login_retry_count INTEGER NOT NULL COMMENT '登录重试次数' DEFAULT '0',
	error_message TEXT COMMENT '错误信息',
	created_at TIMESTAMP NOT NULL COMMENT '创建时间' DEFAULT CURRENT_TIMESTAMP,
	updated_at TIMESTAMP NOT NULL COMMENT '更新时间' DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
	PRIMARY KEY (id)
)ENGINE=InnoDB CHARSET=utf8mb4 COMMENT='企微账号表' COLLATE utf8mb4_unicode_ci;
CREATE INDEX idx_account_name_search ON wework_accounts (tenant_id, account_name(20));
CREATE INDEX idx_created_at ON wework_accounts (created_at);
CREATE INDEX idx_last_heartbeat ON wework_accounts (last_heartbeat_time);
CREATE INDEX idx_online_heartbeat ON wework_accounts (status, last_heartbeat_time);
CREATE INDEX idx_phone ON wework_accounts (phone_hash);
CREATE INDEX idx_status ON wework_accounts (status);
CREATE INDEX idx_tenant_id ON wework_accounts (tenant_id);
CREATE INDEX idx_tenant_status_heartbeat ON wework_accounts (tenant_id, status, last_heartbeat_time);
CREATE INDEX idx_user_id ON wework_accounts (user_id);
CREATE UNIQUE INDEX uk_guid ON wework_accounts (guid);
CREATE UNIQUE INDEX uk_guid_active ON wework_accounts (guid_active);
CREATE UNIQUE INDEX uk_tenant_account_name ON wework_accounts (tenant_id, account_name);

CREATE TABLE worker_jobs (
	name VARCHAR(64) NOT NULL COMMENT '任务名',
	last_started_at TIMESTAMP NULL COMMENT '最后开始时间',
	last_finished_at TIMESTAMP NULL COMMENT '最后结束时间',
	last_duration_ms INTEGER COMMENT '最后耗时(毫秒)',
	last_result VARCHAR(500) COMMENT '最后结果',
	last_error TEXT COMMENT '最后错误',
	run_by VARCHAR(100) COMMENT '执行者(主机:进程)',
	runs INTEGER NOT NULL COMMENT '运行次数' DEFAULT '0',
	PRIMARY KEY (name)
)ENGINE=InnoDB CHARSET=utf8mb4 COMMENT='Worker定时任务状态' COLLATE utf8mb4_unicode_ci;

CREATE TABLE roles (
	id VARCHAR(36) NOT NULL COMMENT '角色ID',
	tenant_id VARCHAR(36) NOT NULL COMMENT '租户ID',
	role_code VARCHAR(50) NOT NULL COMMENT '角色编码',
	role_name VARCHAR(100) NOT NULL COMMENT '角色名称',
	description VARCHAR(500) COMMENT '角色描述',
	permissions JSON NOT NULL COMMENT '权限列表',
	is_system BOOL NOT NULL COMMENT '是否系统角色' DEFAULT '0',
	is_active BOOL NOT NULL COMMENT '是否激活' DEFAULT '1',
	created_at TIMESTAMP NOT NULL COMMENT '创建时间' DEFAULT CURRENT_TIMESTAMP,
	updated_at TIMESTAMP NOT NULL COMMENT '更新时间' DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
	PRIMARY KEY (id),
	CONSTRAINT fk_roles_tenant FOREIGN KEY(tenant_id) REFERENCES tenants (id)
)ENGINE=InnoDB CHARSET=utf8mb4 COMMENT='角色表' COLLATE utf8mb4_unicode_ci;
CREATE INDEX idx_is_active ON roles (is_active);
CREATE INDEX idx_tenant_id ON roles (tenant_id);
CREATE UNIQUE INDEX uk_tenant_role_code ON roles (tenant_id, role_code);

CREATE TABLE users (
	id VARCHAR(36) NOT NULL COMMENT '用户ID',
	tenant_id VARCHAR(36) NOT NULL COMMENT '租户ID',
	username VARCHAR(50) NOT NULL COMMENT '用户名',
	email VARCHAR(100) NOT NULL COMMENT '邮箱',
	phone VARCHAR(255) COMMENT '手机号(加密存储)',
	real_name VARCHAR(50) COMMENT '真实姓名',
	avatar_url VARCHAR(500) COMMENT '头像URL',
	password_hash VARCHAR(255) NOT NULL COMMENT '密码哈希',
	salt VARCHAR(32) NOT NULL COMMENT '密码盐值',
	status ENUM('active','inactive','locked','deleted') NOT NULL COMMENT '状态' DEFAULT 'active',
	last_login_time TIMESTAMP NULL COMMENT '最后登录时间',
	last_login_ip VARCHAR(45) COMMENT '最后登录IP',
	failed_login_count INTEGER NOT NULL COMMENT '失败登录次数' DEFAULT '0',
	locked_until TIMESTAMP NULL COMMENT '锁定截止时间',
	created_at TIMESTAMP NOT NULL COMMENT '创建时间' DEFAULT CURRENT_TIMESTAMP,
	updated_at TIMESTAMP NOT NULL COMMENT '更新时间' DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
	PRIMARY KEY (id),
	CONSTRAINT fk_users_tenant FOREIGN KEY(tenant_id) REFERENCES tenants (id)
)ENGINE=InnoDB CHARSET=utf8mb4 COMMENT='用户表' COLLATE utf8mb4_unicode_ci;
CREATE INDEX idx_active_users ON users (status, last_login_time);
CREATE INDEX idx_email ON users (email);
CREATE INDEX idx_last_login ON users (last_login_time);
CREATE INDEX idx_search_fields ON users (tenant_id, username(10), email(20));
CREATE INDEX idx_status ON users (status);
CREATE INDEX idx_tenant_id ON users (tenant_id);
CREATE INDEX idx_tenant_status_login ON users (tenant_id, status, last_login_time);
CREATE UNIQUE INDEX uk_tenant_email ON users (tenant_id, email);
CREATE UNIQUE INDEX uk_tenant_username ON users (tenant_id, username);

CREATE TABLE user_roles (
	id BIGINT NOT NULL COMMENT '主键ID' AUTO_INCREMENT,
	user_id VARCHAR(36) NOT NULL COMMENT '用户ID',
	role_id VARCHAR(36) NOT NULL COMMENT '角色ID',
	assigned_by VARCHAR(36) NOT NULL COMMENT '分配者ID',
	assigned_at TIMESTAMP NOT NULL COMMENT '分配时间' DEFAULT CURRENT_TIMESTAMP,
	PRIMARY KEY (id),
	CONSTRAINT fk_user_roles_user FOREIGN KEY(user_id) REFERENCES users (id),
	CONSTRAINT fk_user_roles_role FOREIGN KEY(role_id) REFERENCES roles (id)
)ENGINE=InnoDB CHARSET=utf8mb4 COMMENT='用户角色关联表' COLLATE utf8mb4_unicode_ci;
CREATE INDEX idx_assigned_at ON user_roles (assigned_at);
CREATE INDEX idx_role_id ON user_roles (role_id);
CREATE INDEX idx_user_id ON user_roles (user_id);
CREATE UNIQUE INDEX uk_user_role ON user_roles (user_id, role_id);

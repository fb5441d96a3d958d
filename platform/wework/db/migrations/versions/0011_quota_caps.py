"""tenant_daily_quota.cap: each stripe's own cap, so a send takes quota with one UPDATE.

Before, a send read all of the day's stripes, locked one with ``SKIP LOCKED`` and then
updated it (three statements), and had to find out whether the limit had been lowered
today from the stripes themselves. With the cap stored per row, the common case is one
``UPDATE … SET used = used + n WHERE … AND used + n <= cap``, and a change of the limit
rewrites today's caps (wework.services.quota). Existing rows get the caps of their
tenant's current limit (the stripe formula of 0008).

Revision ID: 0011_quota_caps
Revises: 0010_messages_tenant_created
Create Date: 2026-11-30 05:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011_quota_caps'
down_revision: str | None = '0010_messages_tenant_created'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('tenant_daily_quota',
                  sa.Column('cap', sa.Integer(), server_default='0', nullable=False,
                            comment='本分片上限'))
    op.execute(
        "UPDATE tenant_daily_quota q JOIN tenants t ON t.id = q.tenant_id "
        "SET q.cap = t.max_daily_messages DIV 16 + (q.stripe < t.max_daily_messages MOD 16)")


def downgrade() -> None:
    op.drop_column('tenant_daily_quota', 'cap')

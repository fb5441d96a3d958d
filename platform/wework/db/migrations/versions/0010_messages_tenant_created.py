"""messages: idx_tenant_created (tenant_id, created_at, id), the order of the admin lists.

The Messages page (services.messages.list_messages) pages a tenant's messages newest
first by (created_at, id). idx_tenant_time_status (tenant_id, created_at, status) cannot
give that order (status sits before the id), and on a partitioned table MariaDB does not
use the primary key appended to a secondary index for ordering either, so every page
sorted all of the tenant's rows: 0.26-0.39 s for the first page of a tenant with 550k
messages at 2M (measured, replica, load 1), about 1 s under load. With the id in the
index the first page is read in index order: 3 ms.

Revision ID: 0010_messages_tenant_created
Revises: 0009_alerts
Create Date: 2026-11-30 02:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0010_messages_tenant_created'
down_revision: str | None = '0009_alerts'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('idx_tenant_created', 'messages', ['tenant_id', 'created_at', 'id'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('idx_tenant_created', table_name='messages')

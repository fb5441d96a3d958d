"""pii:view: the system roles that hold every tenant permission (each tenant's ``admin``,
the platform's ``super_admin``) get the new permission, as new tenants' roles do from
``wework.services.permissions``; downgrade takes it out of every role.

Revision ID: 0005_pii_view_permission
Revises: 0004_gateway_secrets
Create Date: 2026-11-29 21:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0005_pii_view_permission'
down_revision: str | None = '0004_gateway_secrets'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PERMISSION = 'pii:view'


def upgrade() -> None:
    op.execute(
        "UPDATE roles SET permissions = JSON_ARRAY_APPEND(permissions, '$', 'pii:view') "
        "WHERE is_system = 1 AND role_code IN ('admin', 'super_admin') "
        "AND NOT JSON_CONTAINS(permissions, JSON_QUOTE('pii:view'))"
    )


def downgrade() -> None:
    op.execute(
        "UPDATE roles SET permissions = JSON_REMOVE(permissions, "
        "JSON_UNQUOTE(JSON_SEARCH(permissions, 'one', 'pii:view'))) "
        "WHERE JSON_CONTAINS(permissions, JSON_QUOTE('pii:view'))"
    )

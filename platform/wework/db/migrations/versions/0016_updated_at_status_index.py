"""messages.idx_updated_at carries status: the extraction's check reads the index only.

Each incremental run checks its window against the source: the window's messages counted
by (day, status) on both sides (pipelines.checks.status_day_counts). On
(updated_at) alone MariaDB found the window by the index and then looked every row up in
the clustered index for its status: at 20M messages, after a 1% change, 200k lookups,
0.5-1.5 s of the run. With status in the index (created_at comes with the primary key)
the query reads the window's index range and nothing else. The index keeps its name and
stays one index; every write that changes status changes updated_at too, so its entry is
rewritten as before.

Revision ID: 0016_updated_at_status_index
Revises: 0015_data_generation
Create Date: 2026-11-30 20:45:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0016_updated_at_status_index'
down_revision: str | None = '0015_data_generation'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # One ALTER: the extraction never finds the table without an index on updated_at.
    op.execute("ALTER TABLE messages DROP INDEX idx_updated_at, "
               "ADD INDEX idx_updated_at (updated_at, status)")


def downgrade() -> None:
    op.execute("ALTER TABLE messages DROP INDEX idx_updated_at, "
               "ADD INDEX idx_updated_at (updated_at)")

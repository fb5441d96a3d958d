"""messages.idx_scheduled_pending splits the pending rows by batch.

The dispatcher's candidate query read every due pending message through
idx_scheduled_pending (status, scheduled_time, …) and dropped those held back. In the 2M
set 58k messages are pending and 48k of them belong to batches that are not running
(paused, finished, not started): every poll read them all, 0.06 s quiet and 0.2 s under
load, the largest statement on the primary in the end-to-end bench (statement digests).
With batch_id after status the query reads ranges: the unbatched pending rows and those
of each running batch, each by scheduled_time — the queue, not the backlog. The index
keeps its name and its column set (the same index count to maintain per change).

Revision ID: 0013_dispatch_queue_index
Revises: 0012_dispatch_covering_index
Create Date: 2026-11-30 08:50:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0013_dispatch_queue_index'
down_revision: str | None = '0012_dispatch_covering_index'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # One ALTER: the table is never without the index the dispatcher forces.
    op.execute("ALTER TABLE messages DROP INDEX idx_scheduled_pending, ADD INDEX "
               "idx_scheduled_pending (status, batch_id, scheduled_time, priority, "
               "account_id, tenant_id)")


def downgrade() -> None:
    op.execute("ALTER TABLE messages DROP INDEX idx_scheduled_pending, ADD INDEX "
               "idx_scheduled_pending (status, scheduled_time, priority, account_id, "
               "tenant_id, batch_id)")

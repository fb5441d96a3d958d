"""The pipelines as the report tests run them: the real assets, in-process, with the
marts' "now" pinned."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

# The marts' "now" for every pipeline run of these tests: with it pinned, a second run on
# unchanged data publishes identical rows (as_of moves today's figures otherwise).
AS_OF = datetime.now(UTC).replace(tzinfo=None, minute=0, second=0, microsecond=0)


def run_pipeline(instance: dg.DagsterInstance | None = None) -> None:
    """Extract, build and publish the marts: the real assets, in-process."""
    from pipelines.assets import mart_assets, published_marts, raw_assets
    from pipelines.resources import MySQLReplicaResource, WarehouseResource

    result = dg.materialize(
        [*raw_assets, *mart_assets, published_marts],
        instance=instance,
        resources={
            "warehouse": WarehouseResource(as_of=AS_OF.isoformat()),
            "replica": MySQLReplicaResource(),
        },
    )
    assert result.success

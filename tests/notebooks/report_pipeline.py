"""The pipelines as the report tests run them: the real assets, in-process, with the
marts' "now" pinned."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

# The marts' "now" for every pipeline run of these tests: with it pinned, a second run on
# unchanged data publishes identical rows (as_of moves today's figures otherwise).
AS_OF = datetime.now(UTC).replace(tzinfo=None, minute=0, second=0, microsecond=0)


def run_pipeline(instance: dg.DagsterInstance | None = None, full: bool = False) -> None:
    """Extract, build and publish the marts: the real assets, in-process. ``full``:
    re-read every table, as after the source data was replaced (a re-seed's rows carry
    older times than an earlier run of this session read up to)."""
    from pipelines.assets import mart_assets, published_marts, raw_assets
    from pipelines.assets.raw import FULL_REFRESH_TAG
    from pipelines.resources import MySQLReplicaResource, WarehouseResource

    result = dg.materialize(
        [*raw_assets, *mart_assets, published_marts],
        instance=instance,
        tags={FULL_REFRESH_TAG: "true"} if full else None,
        resources={
            "warehouse": WarehouseResource(as_of=AS_OF.isoformat()),
            "replica": MySQLReplicaResource(),
        },
    )
    assert result.success

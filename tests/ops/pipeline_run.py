"""One pipeline run in its own process, for the SIGKILL tests (not a test module).

Usage: python tests/ops/pipeline_run.py AS_OF_ISO. Database, warehouse and publish folder
come from WEWORK_* in the environment. Prints "materializing" once imports are done.
"""

from __future__ import annotations

import sys

import dagster as dg

from pipelines.assets import mart_assets, published_marts, raw_assets
from pipelines.resources import MySQLReplicaResource, WarehouseResource


def main(as_of: str) -> int:
    print("materializing", flush=True)
    result = dg.materialize(
        [*raw_assets, *mart_assets, published_marts],
        resources={"warehouse": WarehouseResource(as_of=as_of), "replica": MySQLReplicaResource()},
    )
    print("done" if result.success else "failed", flush=True)
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

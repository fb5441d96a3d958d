"""One asset per source table: ``raw/<table>``, extracted per shard from the replica."""

import dagster as dg

from pipelines.checks import (
    KEY_UNIQUE,
    SOURCE_ROWS,
    STATUS_DAY_COUNTS,
    duplicate_keys,
    lag_result,
    raw_check_specs,
    raw_row_count,
    source_row_count,
    status_day_differences,
)
from pipelines.extract import TableSpec, attach_source, extract_table, table_specs
from pipelines.resources import MySQLReplicaResource, WarehouseResource
from wework import metrics

# Run tag: `wework etl run --full` sets it to re-read every table completely.
FULL_REFRESH_TAG = "wework/full_refresh"
WAREHOUSE_POOL = "wework_warehouse"  # one DuckDB writer at a time


def _raw_asset(spec: TableSpec) -> dg.AssetsDefinition:
    @dg.asset(
        key=["raw", spec.name],
        group_name="raw",
        kinds={"duckdb", "mysql"},
        pool=WAREHOUSE_POOL,
        check_specs=raw_check_specs(spec),
        description=f"`{spec.name}` from each shard's replica; strategy `{spec.strategy}` "
        "(see pipelines/extract.py).",
    )
    def _extract(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        replica: MySQLReplicaResource,
    ) -> dg.MaterializeResult:
        full = context.run.tags.get(FULL_REFRESH_TAG) == "true"
        results, decisions = [], []
        source_rows, raw_rows, status_diffs = {}, {}, {}
        with warehouse.connect() as con:
            for shard in replica.shards():
                decision = replica.decide(shard)
                decisions.append(decision)
                if decision.fell_back:
                    context.log.warning(f"shard {shard}: {decision.reason}")
                src = f"src_{shard}"
                attach_source(con, src, replica.url(decision))
                try:
                    result = extract_table(
                        con, src, spec, shard, full=full, overlap=replica.overlap
                    )
                    results.append(result)
                    # Checks at extraction time, against the database just read.
                    source_rows[shard] = source_row_count(con, src, spec.name)
                    raw_rows[shard] = raw_row_count(con, spec.name, shard)
                    if spec.name == "messages":
                        status_diffs[shard] = status_day_differences(con, src, shard)
                finally:
                    con.execute(f"DETACH {src}")
            dups = duplicate_keys(con, f'raw."{spec.name}"', ("_shard", *spec.key))

        rows_read = sum(r.rows_read for r in results)
        seconds = sum(r.seconds for r in results)
        metrics.pipeline_run(f"raw/{spec.name}", rows_read, seconds)
        for d in decisions:
            if d.lag_seconds is not None:
                metrics.replica_lag(d.lag_seconds)
        checks = [
            dg.AssetCheckResult(
                check_name=SOURCE_ROWS,
                passed=source_rows == raw_rows,
                metadata={"source_rows": str(source_rows), "raw_rows": str(raw_rows)},
            ),
            dg.AssetCheckResult(
                check_name=KEY_UNIQUE, passed=dups == 0, metadata={"duplicate_keys": dups}
            ),
            lag_result(decisions),
        ]
        if spec.name == "messages":
            diffs = [d for per_shard in status_diffs.values() for d in per_shard]
            checks.append(
                dg.AssetCheckResult(
                    check_name=STATUS_DAY_COUNTS,
                    passed=not diffs,
                    metadata={
                        "differences (day, status, source, raw)": str(diffs[:20]),
                        "difference_count": len(diffs),
                    },
                )
            )
        return dg.MaterializeResult(
            metadata={
                "strategy": spec.strategy,
                "full": all(r.full for r in results),
                "rows_read": rows_read,
                "rows_in_raw": sum(r.rows_in_raw for r in results),
                "seconds": round(seconds, 3),
                "rows_per_second": round(rows_read / seconds) if seconds > 0 else None,
                "watermarks": {str(r.shard): r.watermark for r in results},
                "read_from": ", ".join(f"shard {d.shard}: {d.role.value}" for d in decisions),
                "replica_lag_seconds": [d.lag_seconds for d in decisions],
                "read_decisions": [d.as_metadata() for d in decisions],
            },
            check_results=checks,
        )

    return _extract


raw_assets = [_raw_asset(spec) for spec in table_specs().values()]

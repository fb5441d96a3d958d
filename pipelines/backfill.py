"""Backfill a range of days: re-read the source rows of those days and recompute and
publish exactly their slices.

For the day-stamped tables (``DAY_COLUMNS``) the rows whose day falls in the range are
read again from every shard and raw's rows of that range are made equal to them
(changed rows upserted, rows deleted at the source deleted: ``extract.reextract_range``),
each recorded as a change; the other tables get their normal incremental extraction. The
marts then recompute the slices those changes touch and the publisher commits them.
Used by ``wework etl backfill --from D1 --to D2`` and the Dagster UI (``marts_by_day``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import duckdb

from pipelines.checks import source_row_count
from pipelines.extract import (
    attach_source,
    ensure_schemas,
    extract_table,
    reextract_range,
    remember_generation,
    source_generation,
    table_specs,
)

# The column that dates each row of the tables a backfill re-reads by day.
DAY_COLUMNS = {
    "messages": "created_at",
    "account_status_history": "created_at",
    "callback_events": "received_time",
}


class BackfillRangeError(ValueError):
    """A bad ``--from``/``--to``; ``argument`` names the one at fault."""

    def __init__(self, argument: str, message: str):
        super().__init__(f"{argument}: {message}")
        self.argument = argument


def check_range(first: date, last: date, earliest: date, today: date) -> None:
    if last < first:
        raise BackfillRangeError("--to", f"{last} is before --from {first}")
    if first < earliest:
        raise BackfillRangeError(
            "--from", f"{first} is before the first partition day {earliest} "
            "(WEWORK_ETL_FIRST_DAY)"
        )
    if last > today:
        raise BackfillRangeError("--to", f"{last} is in the future (today is {today} UTC)")


@dataclass
class BackfillResult:
    first: date
    last: date
    source_rows: int
    rows_changed: int


def run_backfill(first: date, last: date, *, instance=None, resources=None):
    """Materialize ``marts_by_day`` for the days ``first``..``last`` as one run (what the
    UI's backfill of that range does). Checks the range first (:class:`BackfillRangeError`)."""
    from pipelines.definitions import defs
    from wework.config import get_settings

    today = datetime.now(UTC).date()
    check_range(first, last, get_settings().etl_first_day, today)
    job = defs.resolve_job_def("backfill_days")
    return job.execute_in_process(
        instance=instance,
        resources=resources,
        # The tags a UI backfill of one range as a single run carries.
        tags={
            "dagster/asset_partition_range_start": first.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat(),
        },
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )


def reextract_days(
    con: duckdb.DuckDBPyConnection, replica, first: date, last: date, overlap: timedelta
) -> BackfillResult:
    """Re-read the range from every shard (``replica``: MySQLReplicaResource)."""
    specs = table_specs()
    lo = datetime.combine(first, datetime.min.time())
    hi = datetime.combine(last, datetime.min.time()) + timedelta(days=1)
    source_rows = changed = 0
    ensure_schemas(con)
    for shard in replica.shards():
        src = f"src_{shard}"
        attach_source(con, src, replica.url(replica.decide(shard)))
        try:
            # Replaced data (a re-seed, a restore): a range cannot repair it, the shard is
            # read whole (as the next incremental run would).
            generation = source_generation(con, src, shard, overlap)
            for name, spec in specs.items():
                column = DAY_COLUMNS.get(name)
                if column is not None:
                    where = f"`{column}` >= '{lo}' AND `{column}` < '{hi}'"
                    source_rows += source_row_count(con, src, name, where)
                if generation.replaced:
                    changed += extract_table(con, src, spec, shard, full=True).rows_changed
                elif column is None:
                    extract_table(con, src, spec, shard, overlap=overlap)
                elif changes_exist(con, name):
                    changed += reextract_range(con, src, spec, shard, column, first, last)
                else:  # never extracted: a first full load covers the range
                    changed += extract_table(con, src, spec, shard).rows_changed
            remember_generation(con, generation)
        finally:
            con.execute(f"DETACH {src}")
    return BackfillResult(first, last, source_rows, changed)


def changes_exist(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    from pipelines import changes

    return changes.columns_of(con, f'raw."{table}"') is not None

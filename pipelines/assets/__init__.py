"""Assets: ``raw/<table>`` (extraction), ``marts/<mart>``, ``published_marts`` and the
daily-partitioned ``marts_by_day`` (backfills)."""

from pipelines.assets.backfill import marts_by_day
from pipelines.assets.marts import mart_assets, published_marts
from pipelines.assets.raw import raw_assets

__all__ = ["mart_assets", "marts_by_day", "published_marts", "raw_assets"]

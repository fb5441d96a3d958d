"""Assets: ``raw/<table>`` (extraction), ``marts/<mart>`` and ``published_marts``."""

from pipelines.assets.marts import mart_assets, published_marts, published_marts_fresh
from pipelines.assets.raw import raw_assets

__all__ = ["mart_assets", "published_marts", "published_marts_fresh", "raw_assets"]

"""Fixtures for the pipeline tests: a private warehouse per test, seeded source data, and
a helper that runs the Dagster assets in-process."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

import dagster as dg
import pytest
from etl_dataset import Dataset, build_dataset, utcnow, write_dataset
from sqlalchemy import Engine

from pipelines.assets import mart_assets, published_marts, raw_assets
from pipelines.assets.raw import FULL_REFRESH_TAG
from pipelines.resources import MySQLReplicaResource, WarehouseResource
from wework.config import Settings, reload_settings
from wework.db.replication import wait_for_replica

ALL_ASSETS = [*raw_assets, *mart_assets, published_marts]


@pytest.fixture
def wh(settings: Settings, tmp_path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings whose warehouse file and publish folder are this test's own."""
    monkeypatch.setenv("WEWORK_WAREHOUSE_PATH", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.setenv("WEWORK_PUBLISH_DIR", str(tmp_path / "published"))
    yield reload_settings()
    monkeypatch.undo()
    reload_settings()


@pytest.fixture
def seeded(empty_db: Settings, wh: Settings, primary: Engine) -> Dataset:
    ds = build_dataset(utcnow())
    write_dataset(primary, ds)
    wait_for_replica(timeout=180, settings=wh)
    return ds


Runner = Callable[..., dg.ExecuteInProcessResult]


@pytest.fixture
def run_pipeline(wh: Settings) -> Runner:
    def run(
        as_of: datetime,
        *,
        full: bool = False,
        replica: MySQLReplicaResource | None = None,
        raise_on_error: bool = True,
        assets=None,
    ) -> dg.ExecuteInProcessResult:
        return dg.materialize(
            assets or ALL_ASSETS,
            resources={
                "warehouse": WarehouseResource(as_of=as_of.isoformat()),
                "replica": replica or MySQLReplicaResource(),
            },
            tags={FULL_REFRESH_TAG: "true"} if full else None,
            raise_on_error=raise_on_error,
        )

    return run

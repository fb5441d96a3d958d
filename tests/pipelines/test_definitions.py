"""The code location ``pipelines.definitions:defs`` loads and holds together: every asset,
check, job, schedule and sensor; and ``wework etl run`` records a run the Dagster UI lists."""

from __future__ import annotations

import dagster as dg
import pytest
from dagster._utils.schedules import is_valid_cron_string
from typer.testing import CliRunner

from pipelines.definitions import defs
from pipelines.instance import INSTANCE_CONFIG
from pipelines.registry import NOT_EXTRACTED
from wework.cli import app
from wework.models import Base

# The jobs and schedules the README promises (a new one is added here on purpose).
JOBS = {"refresh_warehouse", "backfill_days", "retention_job", "full_backup_job",
        "incremental_backup_job"}
SCHEDULES = {"hourly_refresh", "daily_retention", "daily_full_backup",
             "binlog_backup_every_15_minutes"}


@pytest.fixture(scope="module")
def graph():
    dg.Definitions.validate_loadable(defs)  # resources bound, deps resolvable, names unique
    return defs.resolve_asset_graph()


def test_every_asset_is_documented_and_grouped(graph):
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.group_name in ("raw", "marts", "reports", "default"), key
        assert (node.description or "").strip(), f"{key.to_user_string()} has no description"


def test_every_source_table_has_a_raw_asset(graph):
    raw = {key.path[1] for key in graph.get_all_asset_keys() if key.path[0] == "raw"}
    assert raw == set(Base.metadata.tables) - set(NOT_EXTRACTED)


def test_every_check_targets_an_asset_and_every_raw_asset_is_checked(graph):
    keys = set(graph.get_all_asset_keys())
    checked = {check.asset_key for check in graph.asset_check_keys}
    assert checked <= keys
    assert {k for k in keys if k.path[0] in ("raw", "marts")} <= checked


def test_every_job_resolves(graph):
    jobs = {job.name for job in defs.resolve_all_job_defs()}
    assert jobs >= JOBS
    for name in JOBS:
        assert defs.resolve_job_def(name).name == name


def test_every_schedule_runs_a_job_of_this_location_on_a_valid_utc_cron(graph):
    repo = defs.get_repository_def()
    assert {s.name for s in repo.schedule_defs} == SCHEDULES
    for schedule in repo.schedule_defs:
        assert repo.has_job(schedule.job_name), schedule.name
        assert is_valid_cron_string(schedule.cron_schedule), schedule.name
        assert schedule.execution_timezone == "UTC", schedule.name


def test_assets_with_an_automation_condition_have_a_sensor_evaluating_them(graph):
    automated = [k for k in graph.get_all_asset_keys() if graph.get(k).automation_condition]
    assert automated, "the marts follow new raw data by automation condition"
    sensors = defs.get_repository_def().sensor_defs
    assert any(isinstance(s, dg.AutomationConditionSensorDefinition) for s in sensors)


def test_etl_run_records_its_run_in_the_instance_the_ui_reads(
    seeded, wh, tmp_path, monkeypatch: pytest.MonkeyPatch
):
    home = tmp_path / "dagster"
    monkeypatch.setenv("DAGSTER_HOME", str(home))  # restored afterwards (the run sets it)
    result = CliRunner().invoke(app, ["etl", "run"])
    assert result.exit_code == 0, result.output
    assert "ok: marts built and published" in result.output

    assert (home / "dagster.yaml").read_text() == INSTANCE_CONFIG.read_text()
    instance = dg.DagsterInstance.get()
    assert instance.root_directory == str(home)
    (run,) = instance.get_runs()
    assert run.job_name == "refresh_warehouse" and run.status == dg.DagsterRunStatus.SUCCESS
    assert run.run_id in result.output
    published = instance.get_latest_materialization_event(dg.AssetKey("published_marts"))
    assert published is not None and published.run_id == run.run_id

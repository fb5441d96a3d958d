"""The reports' automation condition, evaluated by Dagster on a real instance: after a
publish in which one tenant's rows changed, it requests that tenant's and the
platform-wide reports of the notebooks that read those rows, and nothing else."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from report_pipeline import run_pipeline
from sqlalchemy import Engine, text

from wework.config import Settings, reload_settings
from wework.db.replication import wait_for_replica
from wework.reports.scope import PLATFORM

DELIVERY, BATCHES = "01_message_delivery", "04_batch_performance"


def requested(result, definitions) -> dict[str, set[str]]:
    out = {}
    for key in definitions:
        if key.path[0] == "reports":
            out[key.path[-1]] = set(result.get_requested_partitions(key))
    return out


@pytest.mark.slow
def test_after_a_publish_only_changed_scopes_are_rebuilt(
    published_marts: Path,
    primary: Engine,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pipelines.assets import mart_assets, raw_assets
    from pipelines.assets import published_marts as publish
    from pipelines.reports import ReportsResource, materialize_reports, report_assets
    from pipelines.resources import MySQLReplicaResource, WarehouseResource

    monkeypatch.setenv("WEWORK_REPORTS_DIR", str(tmp_path / "reports"))
    reload_settings()
    reports = [a for a in report_assets() if a.key.path[-1] in (DELIVERY, BATCHES)]
    defs = dg.Definitions(
        assets=[*raw_assets, *mart_assets, publish, *reports],
        resources={
            "warehouse": WarehouseResource(),
            "replica": MySQLReplicaResource(),
            "reports": ReportsResource(),
        },
    )
    keys = [a.key for a in reports]
    with dg.instance_for_test() as instance:
        run_pipeline(instance)
        results = materialize_reports(instance, notebooks=[DELIVERY, BATCHES])
        assert all(r.success for r in results)
        scopes = instance.get_dynamic_partitions("report_scope")
        assert len(scopes) >= 3 and scopes[0] == PLATFORM

        tick = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
        assert requested(tick, keys) == {DELIVERY: set(), BATCHES: set()}

        # One tenant's message (outside any batch) fails; publish again.
        with primary.begin() as conn:
            tenant, message = conn.execute(
                text(
                    "SELECT tenant_id, id FROM messages WHERE status = 'delivered' "
                    "AND batch_id IS NULL AND created_at >= NOW() - INTERVAL 5 DAY LIMIT 1"
                )
            ).one()
            conn.execute(
                text("UPDATE messages SET status = 'failed', updated_at = NOW(6) WHERE id = :id"),
                {"id": message},
            )
        wait_for_replica(timeout=120, settings=settings)
        run_pipeline(instance)

        tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
        # Delivery reads the message marts: that tenant's and the platform's reports.
        # Batches read nothing that changed: no rebuild at all.
        assert requested(tick, keys) == {DELIVERY: {PLATFORM, tenant}, BATCHES: set()}
        assert tenant in scopes

        # Built, they are up to date again.
        materialize_reports(instance, notebooks=[DELIVERY], scopes=[PLATFORM, tenant])
        tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
        assert requested(tick, keys) == {DELIVERY: set(), BATCHES: set()}


def test_reports_are_evaluated_by_their_own_sensor_in_the_code_location() -> None:
    from pipelines.definitions import defs

    sensors = {s.name: s for s in defs.get_repository_def().sensor_defs}
    ours = sensors["reports_automation"]
    assert isinstance(ours, dg.AutomationConditionSensorDefinition)
    # Evaluated in the code location (AUTOMATION), not by the daemon (AUTO_MATERIALIZE),
    # which cannot run the Python condition.
    assert ours.sensor_type.value == "AUTOMATION"
    assert ours.default_status == dg.DefaultSensorStatus.RUNNING
    graph = defs.resolve_asset_graph()
    report_keys = {k for k in graph.get_all_asset_keys() if k.path[0] == "reports"}
    assert len(report_keys) == 5  # one per notebook
    assert ours.asset_selection.resolve(graph) == report_keys
    default = sensors["default_automation_condition_sensor"]
    assert not default.asset_selection.resolve(graph) & report_keys
    assert "report_scopes" in sensors

"""Notebook 05, the platform operations report, built by its Dagster asset on real data:
operator alerts that fired and resolved through ``wework.alerts`` (reaching the report
through the extraction and ``marts.alert_history``), and a day of database health in a
real VictoriaMetrics, recorded the way the worker's ``db_monitor`` job records it. Its
findings name what happened; it is built platform-wide only, never for a tenant; with no
alert history and no metrics it says "no data" and why.

The alerts' conditions are made to hold and to stop by the rules given to ``evaluate``
(a threshold the real reading is over, then one it is under), on the check's clock moved
into the report's period. The health readings are real (the servers, a statement made
slow on purpose); only the replica lag of the day's readings is set, to draw a spike.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from ports import free_port
from report_pipeline import AS_OF, run_pipeline
from sqlalchemy import text

from wework import metrics
from wework.alerts.engine import evaluate
from wework.alerts.rules import Rule
from wework.config import Settings, reload_settings
from wework.db.engines import Role, get_engine
from wework.metrics.database import read_database_health, record_database_health
from wework.metrics.localserver import VictoriaMetricsServer
from wework.metrics.query import recent
from wework.reports.build import stale_scopes
from wework.reports.notebooks import NOTEBOOKS_DIR, load
from wework.reports.runner import Job, KernelPool
from wework.reports.scope import PLATFORM, ScopeError
from wework.reports.store import ReportStore
from wework.warehouse import open_marts

OPS = load(NOTEBOOKS_DIR / "05_operations.py")
DAY = datetime.combine(AS_OF.date() - timedelta(days=2), datetime.min.time(), UTC)
LAG_MINUTES = range(20, 34)  # 14 minutes over the replica_lag rule's 1 s


@pytest.fixture(scope="module")
def vm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VictoriaMetricsServer]:
    server = VictoriaMetricsServer(tmp_path_factory.mktemp("vm"), free_port())
    server.up()
    yield server
    server.down()


@dataclass
class History:
    slow_digest: str
    disk_rule: str
    accounts_rule: str
    tenant_ids: set[str]
    tenants_firing: int


def _record_health_day(settings: Settings, vm: VictoriaMetricsServer) -> str:
    """An hour of per-minute health readings on DAY at 10:00, as db_monitor records them;
    a statement made slow between the two real readings. Returns its digest."""
    alias = f"ops_slow_{uuid.uuid4().hex[:10]}"

    def slow(times: int) -> None:
        with get_engine(Role.PRIMARY, 0, settings).connect() as conn:
            for _ in range(times):
                conn.execute(text(f"SELECT SLEEP(0.3) AS {alias}"))

    slow(1)
    # Every digest of the shards, not the collector's top 10: one the readings share adds
    # nothing over the hour, so the slow one is the costliest whatever else ran before.
    before = read_database_health(settings, now=DAY, top=500)
    slow(3)
    after = read_database_health(settings, now=DAY, top=500)
    (statement,) = [st for server in after.servers for st in server.statements if alias in st.text]
    assert after.replication is not None, "the test stack has a replica"
    metrics.configure(settings.model_copy(update={"influx_url": vm.url}), flush_interval=60)
    try:
        for minute in range(60):
            health = before if minute < 30 else after
            lag = 4.0 if minute in LAG_MINUTES else 0.1
            record_database_health(
                replace(
                    health,
                    at=DAY + timedelta(hours=10, minutes=minute, seconds=30),
                    replication=replace(health.replication, lag_seconds=lag),
                )
            )
            assert metrics.flush()  # a minute at a time: the recorder's buffer is bounded
        assert metrics.stats().dropped == 0
    finally:
        metrics.configure(settings)
    deadline = time.monotonic() + 20
    while recent("db_replication_lag_seconds", 4 * 24 * 60, url=vm.url).height < 60:
        assert time.monotonic() < deadline, "the health readings did not reach the store"
        time.sleep(0.3)
    return statement.digest


@pytest.fixture(scope="module")
def history(settings: Settings, published_marts: Path, vm: VictoriaMetricsServer) -> History:
    digest = _record_health_day(settings, vm)
    uid = uuid.uuid4().hex[:8]
    # Disk: fires twice in the day, resolved after 6 and after 10 minutes.
    disk = Rule(
        name=f"ops_disk_{uid}",
        signal="disk_free_ratio",
        below=1.01,
        severity="warning",
        summary="{subject}: {value:.0%} free",
    )
    quiet = replace(disk, below=0.0)
    for fired, minutes in ((timedelta(hours=9), 6), (timedelta(hours=15), 10)):
        for rule, at in (
            (disk, DAY + fired),
            (disk, DAY + fired + timedelta(minutes=2)),
            (quiet, DAY + fired + timedelta(minutes=minutes)),
        ):
            result = evaluate(settings, at, rules=[rule])
            assert not result.errors, result.errors
    # Every active tenant's accounts: fires the next day and is still firing.
    accounts = Rule(
        name=f"ops_accounts_{uid}",
        signal="tenant_accounts_unhealthy_ratio",
        above=-1.0,
        scope="tenant",
        severity="warning",
    )
    fired = evaluate(settings, DAY + timedelta(days=1, hours=8), rules=[accounts])
    assert fired.firing >= 1 and not fired.errors
    with get_engine(Role.PRIMARY, 0, settings).connect() as conn:
        tenant_ids = set(
            conn.scalars(
                text("SELECT tenant_id FROM alerts WHERE rule = :rule AND state = 'firing'"),
                {"rule": accounts.name},
            )
        )
    run_pipeline()  # the notices reach marts.alert_history
    return History(digest, disk.name, accounts.name, tenant_ids, fired.firing)


@dataclass
class Built:
    results: list[dg.ExecuteInProcessResult]
    tenant: str
    store: ReportStore


@pytest.fixture(scope="module")
def built(
    history: History, vm: VictoriaMetricsServer, instance: dg.DagsterInstance
) -> Iterator[Built]:
    """The report's asset asked to build the platform and a tenant, with the store on."""
    from pipelines.reports import materialize_reports
    from wework.reports.inputs import tenant_scopes

    tenant = tenant_scopes()[0].tenant_id
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WEWORK_INFLUX_URL", vm.url)  # the kernels' environment
        s = reload_settings()
        results = materialize_reports(instance, notebooks=[OPS.name], scopes=[PLATFORM, tenant])
    reload_settings()
    yield Built(results, tenant, ReportStore(s.reports_path, keep=s.report_keep_versions))


def test_findings_name_what_happened(built: Built, history: History) -> None:
    assert all(r.success for r in built.results)
    version = built.store.latest(PLATFORM, OPS.name)[1]
    assert version is not None and version.ok and not version.manifest["no_data"]
    found = "\n".join(version.manifest["findings"])
    assert f"Replica lag exceeded 1 s for {len(LAG_MINUTES)} minute(s) on {DAY:%Y-%m-%d}" in found
    assert "(max 4 s)" in found
    assert f"Costliest statement digest `{history.slow_digest[:12]}`" in found
    assert f"Rule `{history.disk_rule}` fired 2 time(s), median 8 min to resolve." in found
    assert (
        f"Rule `{history.accounts_rule}` fired {history.tenants_firing} time(s) on "
        f"{history.tenants_firing} subjects, none resolved yet" in found
    )
    (still,) = [
        f
        for f in version.manifest["findings"]
        if history.accounts_rule in f and f.startswith("Still firing")
    ]
    # Named by their code from the published directory (by the end of the id when the
    # marts do not know it), never by the whole id; at most five, then "and N more".
    with open_marts() as con:
        codes = dict(
            con.execute("SELECT tenant_id, tenant_code FROM marts.account_directory").fetchall()
        )
    labels = {f"`tenant {codes.get(t) or t[-8:]}`" for t in history.tenant_ids}
    listed = re.findall(r"`tenant [^`]+`", still)
    assert len(listed) == min(5, len(labels)) and set(listed) <= labels
    if len(labels) > 5:
        assert f"and {len(labels) - 5} more" in still
    assert not any(t in still for t in history.tenant_ids)
    assert "the oldest since" in still
    assert "Connections on primary peaked at" in found
    assert f"in the hour from {DAY:%Y-%m-%d} 10:00 UTC" in found
    assert "Partition headroom on " in found
    assert history.tenants_firing == len(history.tenant_ids) > 1
    assert version.manifest["rows_read"]["alert_history"] >= 2 + history.tenants_firing


def test_it_is_built_for_the_platform_only(
    built: Built, instance: dg.DagsterInstance, settings: Settings
) -> None:
    records = instance.fetch_materializations(dg.AssetKey(["reports", OPS.name]), limit=10)
    assert {r.partition_key for r in records.records} == {PLATFORM}
    assert built.store.versions(built.tenant, OPS.name) == []
    assert OPS.name not in built.store.notebooks(built.tenant)
    # Never requested for a tenant by the automation, refused if asked for directly.
    assert stale_scopes(OPS, [built.tenant], store=built.store, period_days=30) == set()
    with pytest.raises(ScopeError, match="05_operations is a platform-wide report"):
        OPS.check_scope(built.tenant)


def _run(publish_dir: Path, tmp_path: Path, influx_url: str, **parameters):
    env = {"WEWORK_PUBLISH_DIR": str(publish_dir), "WEWORK_INFLUX_URL": influx_url}
    with KernelPool(1, env=env) as pool:
        return pool.execute(
            Job(OPS, PLATFORM, {"period_days": 30, **parameters}, tmp_path / "ops.ipynb")
        )


def test_without_alerts_or_metrics_it_says_no_data_and_why(
    empty_published_marts: Path, tmp_path: Path, vm: VictoriaMetricsServer
) -> None:
    # As the asset builds it: marts without alerts, metrics off.
    from pipelines.reports import materialize_reports

    with pytest.MonkeyPatch.context() as mp, dg.instance_for_test() as instance:
        mp.setenv("WEWORK_PUBLISH_DIR", str(empty_published_marts))
        mp.setenv("WEWORK_REPORTS_DIR", str(tmp_path / "reports"))
        mp.setenv("WEWORK_INFLUX_URL", "")
        reload_settings()
        (result,) = materialize_reports(instance, notebooks=[OPS.name])
        records = instance.fetch_materializations(dg.AssetKey(["reports", OPS.name]), limit=5)
    reload_settings()
    assert result.success
    (record,) = records.records
    meta = record.asset_materialization.metadata
    assert record.partition_key == PLATFORM and meta["no_data"].value is True
    assert meta["findings"].value == (
        "- No data: no operator alert was firing during the period, and metrics are off: "
        "WEWORK_INFLUX_URL is not set"
    )
    # The store is on but holds nothing for a period long before the test's points.
    empty = _run(empty_published_marts, tmp_path, vm.url, period_end="2025-01-31")
    assert empty.ok, empty.error
    assert empty.record["findings"] == [
        "No data: no operator alert was firing during the period, and the metrics store "
        "holds no points for the period"
    ]
    # A store that does not answer: named, and the report still builds.
    down = _run(empty_published_marts, tmp_path, f"http://127.0.0.1:{free_port()}")
    assert down.ok, down.error
    assert "reading metrics from http://127.0.0.1:" in down.record["findings"][0]


def test_a_tenant_run_of_the_notebook_itself_is_refused(
    published_marts: Path, tmp_path: Path
) -> None:
    from wework.reports.inputs import tenant_scopes

    executed = _run(published_marts, tmp_path, "", tenant_id=tenant_scopes()[0].tenant_id)
    assert not executed.ok
    assert executed.error.ename == "ScopeError"
    assert "platform-wide report" in executed.error.evalue


def test_the_cli_refuses_to_build_it_for_a_tenant(published_marts: Path) -> None:
    from typer.testing import CliRunner

    from wework.cli import app
    from wework.reports.inputs import tenant_scopes

    code = tenant_scopes()[0].tenant_code
    result = CliRunner().invoke(app, ["reports", "build", "--notebook", OPS.name, "--scope", code])
    assert result.exit_code != 0
    assert "05_operations is built platform-wide only (--scope platform)" in result.output

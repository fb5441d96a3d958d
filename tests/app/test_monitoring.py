"""The Monitoring page reads recent metrics back from a real VictoriaMetrics (private, on a
free port), scoped to the user's tenant; without a metrics store it says so."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from ports import free_port

from ui.nav import PAGES_DIR
from wework import metrics
from wework.config import reload_settings
from wework.metrics.localserver import VictoriaMetricsServer
from wework.metrics.query import recent

PAGE = str(PAGES_DIR / "monitoring.py")



@pytest.fixture
def vm_url(tmp_path, monkeypatch) -> Iterator[str]:
    server = VictoriaMetricsServer(tmp_path, free_port())
    server.up()
    monkeypatch.setenv("WEWORK_INFLUX_URL", server.url)
    try:
        yield server.url
    finally:
        monkeypatch.undo()
        reload_settings()
        metrics.configure(reload_settings())
        server.down()


def test_monitoring_shows_the_tenants_metrics(app_as, app_world, vm_url):
    metrics.configure(reload_settings(), flush_interval=60)
    now = datetime.now(UTC)
    metrics.accounts_by_status(app_world.tenant_id, {"online": 3, "offline": 1}, now)
    metrics.accounts_by_status("some-other-tenant", {"online": 99}, now)
    assert metrics.flush()
    deadline = time.monotonic() + 20
    while recent("accounts_*", 10).height < 3 and time.monotonic() < deadline:
        time.sleep(0.3)

    at = app_as("admin").switch_page(PAGE).run()
    assert not at.exception
    charts = list(at.get("plotly_chart"))
    assert charts, [i.value for i in at.info]
    # the first panel is "Accounts by status": only this tenant's series are drawn
    spec = charts[0].proto.spec
    assert "accounts_online" in spec and "some-other-tenant" not in spec


def test_monitoring_without_a_store_says_so(app_as):
    at = app_as("analyst").switch_page(PAGE).run()
    assert not at.exception
    assert any("Metrics are not available" in i.value for i in at.info)


def test_alerts_are_scoped_and_the_database_section_is_for_platform_admins(app_as, app_world,
                                                                           settings):
    import uuid
    from dataclasses import replace

    from wework.alerts.engine import evaluate
    from wework.alerts.rules import Rule

    suffix = uuid.uuid4().hex[:8]
    platform_rule = Rule(name=f"disk_test_{suffix}", signal="disk_free_ratio", below=1.01,
                         summary="<b>disk</b> {value:.0%} free")
    tenant_rule = Rule(name=f"accounts_test_{suffix}", signal="tenant_accounts_unhealthy_ratio",
                       scope="tenant", above=-1.0)  # every tenant with accounts
    evaluate(settings, rules=[platform_rule, tenant_rule])
    try:
        admin = app_as("super_admin").switch_page(PAGE).run()
        assert not admin.exception
        assert "Database" in [h.value for h in admin.header]
        frames = [d.value for d in admin.dataframe]
        active = next(f for f in frames if "rule" in f.columns and "state" in f.columns)
        assert platform_rule.name in set(active["rule"])
        assert len(set(active.loc[active["rule"] == tenant_rule.name, "subject"])) > 1
        statements = [f for f in frames if "statement" in f.columns]
        assert statements and all(len(f) > 0 for f in statements)
        assert any("days of headroom" in f.columns for f in frames)

        analyst = app_as("analyst").switch_page(PAGE).run()
        assert not analyst.exception
        assert "Database" not in [h.value for h in analyst.header]
        (mine,) = [d.value for d in analyst.dataframe if "state" in d.value.columns]
        assert set(mine["rule"]) == {tenant_rule.name}  # no platform alert
        assert set(mine["subject"]) == {app_world.tenant_id}  # no other tenant's
    finally:
        evaluate(settings, rules=[replace(platform_rule, below=0.0),
                                  replace(tenant_rule, above=2.0)])

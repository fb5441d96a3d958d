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

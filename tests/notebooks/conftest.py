"""Fixtures of the notebook report tests: published marts built by the real pipelines from
seeded data (and an empty set with the same schema), a Dagster instance, and the reports
built from them by the real report assets.

Seeds the session's databases with a small coherent dataset (``wework.seed``), lets the
replica catch up, then runs every pipeline asset in-process (extract from the replica,
build the marts, publish them), exactly as ``wework etl run`` does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
from published_copy import republish
from report_pipeline import run_pipeline

from wework.config import Settings, reload_settings
from wework.db.replication import wait_for_replica
from wework.reports.scope import PLATFORM
from wework.reports.store import ReportStore

# Small: the notebooks must run every code path, not measure anything. Ten days so that
# growth and flapping have something to compare.
SEED = {"tenants": 4, "accounts": 24, "days": 10, "messages": 6_000, "seed": 7}


@pytest.fixture(scope="session")
def published_marts(settings: Settings) -> Iterator[Path]:
    """The publish folder of a warehouse built from seeded data (WEWORK_PUBLISH_DIR)."""
    from wework.seed import SeedConfig, seed

    seed(SeedConfig(**SEED), settings, replace=True)
    wait_for_replica(timeout=180, settings=settings)
    run_pipeline(full=True)  # the seed replaced this session's data
    s = reload_settings()
    assert (s.publish_path / "catalog.sqlite").exists(), "the pipelines published nothing"
    yield s.publish_path


@pytest.fixture(scope="session")
def empty_published_marts(published_marts: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A publish folder whose marts have the real schema but no rows."""
    return republish(published_marts, tmp_path_factory.mktemp("empty-published"), empty=True)


@pytest.fixture(scope="session")
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as inst:
        yield inst


def tenants_with_accounts() -> list[dict]:
    """Tenants with accounts, those with the most batch tasks and messages first (so that
    the first has data for every notebook)."""
    from wework.warehouse import open_marts

    with open_marts() as con:
        rows = con.execute(
            "SELECT d.tenant_id, any_value(d.tenant_code), any_value(d.tenant_name) "
            "FROM marts.account_directory AS d "
            "LEFT JOIN (SELECT tenant_id, count(*) AS n FROM marts.batch_task_performance "
            "           GROUP BY 1) AS b USING (tenant_id) "
            "LEFT JOIN (SELECT tenant_id, sum(total_count) AS n FROM marts.message_stats_daily "
            "           GROUP BY 1) AS m USING (tenant_id) "
            "GROUP BY d.tenant_id ORDER BY any_value(coalesce(b.n, 0)) DESC, "
            "any_value(coalesce(m.n, 0)) DESC"
        ).fetchall()
    return [{"id": r[0], "code": r[1], "name": r[2]} for r in rows]


def other_tenants_identifiers(tenant: str) -> set[str]:
    """Ids, codes, names, account ids and labels and batch ids of every other tenant in
    the published marts."""
    from wework.warehouse import open_marts

    with open_marts() as con:
        rows = con.execute(
            "SELECT tenant_id, tenant_code, tenant_name, account_id, account_label "
            "FROM marts.account_directory WHERE tenant_id <> ?",
            [tenant],
        ).fetchall()
        batches = con.execute(
            "SELECT batch_id FROM marts.batch_task_performance WHERE tenant_id <> ?", [tenant]
        ).fetchall()
        tenants = con.execute(
            "SELECT DISTINCT tenant_id FROM marts.tenant_usage_daily WHERE tenant_id <> ?",
            [tenant],
        ).fetchall()
    return {v for row in [*rows, *batches, *tenants] for v in row if v}


@dataclass
class Built:
    results: list[dg.ExecuteInProcessResult]
    tenant: dict  # the tenant built besides the platform
    foreign: set[str]  # what identifies the other tenants in the marts the reports read
    store: ReportStore


@pytest.fixture(scope="session")
def built_reports(published_marts: Path, instance: dg.DagsterInstance) -> Built:
    """Every notebook offered per tenant built by its Dagster asset for the platform and
    for one tenant (the platform-only operations report: test_operations_report.py)."""
    from pipelines.reports import materialize_reports
    from wework.reports.notebooks import discover

    tenant = tenants_with_accounts()[0]
    foreign = other_tenants_identifiers(tenant["id"])
    per_tenant = [nb.name for nb in discover() if not nb.platform_only]
    results = materialize_reports(instance, notebooks=per_tenant, scopes=[PLATFORM, tenant["id"]])
    s = reload_settings()
    store = ReportStore(s.reports_path, keep=s.report_keep_versions)
    return Built(results, tenant, foreign, store)

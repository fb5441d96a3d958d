"""The notebooks as Dagster assets (``reports/<notebook>``, partitioned by scope), run
in-process on real published marts: each builds platform-wide and for a tenant, renders a
self-contained HTML page and keeps it with its executed notebook and what it was built
from; a tenant's report holds nothing of other tenants; a broken notebook keeps the
previous report published and shows its failing cell; retention removes old versions.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import dagster as dg
import pytest

from wework.config import REPO_ROOT, reload_settings
from wework.reports.build import stale_scopes
from wework.reports.notebooks import discover, load
from wework.reports.scope import PLATFORM
from wework.reports.store import IPYNB, ReportStore

# The notebooks built per tenant too (the platform-only one: test_operations_report.py).
NOTEBOOKS = [nb for nb in discover(REPO_ROOT / "notebooks") if not nb.platform_only]
PLOTLY_JS = re.compile(r"<script type=\"text/javascript\">/\*\*\s*\* plotly\.js.*?</script>", re.S)


def page_without_plotly_js(version) -> str:
    """The report page minus the inlined plotly.js library (whose minified source holds
    arbitrary short strings)."""
    text = version.page().decode("utf-8")
    stripped = PLOTLY_JS.sub("", text, count=1)
    assert len(stripped) < len(text) - 1_000_000, "plotly.js was not inlined"
    return stripped


def plain(finding: str) -> str:
    """A finding as the page shows it: code spans lose their backticks."""
    return re.sub(r"`+ ?(.*?) ?`+", r"\1", finding)


def text_of(page: str) -> str:
    """The text a reader sees: tags removed, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def test_every_notebook_runs_as_an_asset_platform_wide_and_for_one_tenant(
    built_reports, instance: dg.DagsterInstance
) -> None:
    assert all(r.success for r in built_reports.results)
    tenant = built_reports.tenant["id"]
    for nb in NOTEBOOKS:
        key = dg.AssetKey(["reports", nb.name])
        records = instance.fetch_materializations(key, limit=10).records
        by_scope = {r.partition_key: r.asset_materialization.metadata for r in records}
        assert set(by_scope) == {PLATFORM, tenant}, nb.name
        for scope, meta in by_scope.items():
            assert meta["rows_read"].value > 0, (nb.name, scope)
            assert meta["findings"].value.startswith("- "), (nb.name, scope)
            assert meta["duration_seconds"].value > 0
            assert meta["no_data"].value is False
            assert Path(meta["html"].value).is_file() and Path(meta["ipynb"].value).is_file()
        # The tenant's report read that tenant's rows only: fewer than the platform's.
        assert by_scope[tenant]["rows_read"].value < by_scope[PLATFORM]["rows_read"].value


def test_each_version_keeps_its_notebook_page_and_what_it_was_built_from(built_reports) -> None:
    store = built_reports.store
    for nb in NOTEBOOKS:
        newest, good = store.latest(PLATFORM, nb.name)
        assert newest is good and newest.ok
        m = newest.manifest
        assert m["parameters"] == {"tenant_id": None, "period_days": 30}
        assert m["marts"]["snapshot"].startswith("snapshot-") and m["marts"]["published_at"]
        assert m["inputs_fingerprint"] and m["code_version"] == nb.code_version
        assert sum(m["rows_read"].values()) > 0 and set(m["rows_read"]) <= set(nb.reads)
        executed = json.loads(newest.file(IPYNB).read_text())
        injected = [
            c for c in executed["cells"] if "injected-parameters" in c["metadata"].get("tags", [])
        ]
        assert len(injected) == 1 and "period_days = 30" in "".join(injected[0]["source"])
        plots = sum(
            "application/vnd.plotly.v1+json" in o.get("data", {})
            for c in executed["cells"]
            for o in c.get("outputs", [])
        )
        assert plots >= 2, nb.name
    # A report is kept once per build: nothing stale right after building.
    tenant = built_reports.tenant["id"]
    for nb in NOTEBOOKS:
        assert not stale_scopes(nb, [PLATFORM, tenant], store=store, period_days=30)


def test_the_html_is_self_contained_and_shows_the_findings(built_reports) -> None:
    for scope in (PLATFORM, built_reports.tenant["id"]):
        for nb in NOTEBOOKS:
            version = built_reports.store.latest(scope, nb.name)[1]
            page = page_without_plotly_js(version)
            assert "Content-Security-Policy" in page and "default-src 'none'" in page
            # Nothing to fetch: no external script, stylesheet, image or frame.
            assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page), nb.name
            assert "require.js" not in page and "mathjax" not in page.lower()
            # Every report draws; a tenant's may have less to draw (e.g. no finished batch
            # task of that tenant yet), the platform's has every chart.
            least = 2 if scope == PLATFORM else 1
            assert page.count("Plotly.newPlot(") >= least, (nb.name, scope)
            text = text_of(page)
            for finding in version.manifest["findings"]:
                assert plain(finding)[:40] in text, (nb.name, finding)


def test_a_tenants_report_holds_no_other_tenants_data(built_reports) -> None:
    tenant = built_reports.tenant
    foreign = built_reports.foreign
    assert len(foreign) > 20  # the seed has several other tenants with accounts and batches
    for nb in NOTEBOOKS:
        version = built_reports.store.latest(tenant["id"], nb.name)[1]
        page = page_without_plotly_js(version)
        executed = version.file(IPYNB).read_text(encoding="utf-8")
        assert tenant["code"] in page  # the tenant's own data is there
        leaked = sorted(v for v in foreign if v in page or v in executed)
        assert not leaked, (nb.name, leaked[:5])


@pytest.fixture
def scratch_reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ReportStore:
    """A report store of the test's own, keeping two versions per report."""
    monkeypatch.setenv("WEWORK_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv("WEWORK_REPORT_KEEP_VERSIONS", "2")
    s = reload_settings()
    return ReportStore(s.reports_path, keep=s.report_keep_versions)


def test_a_broken_notebook_keeps_the_previous_report_and_shows_the_failure(
    published_marts: Path,
    instance: dg.DagsterInstance,
    scratch_reports: ReportStore,
    tmp_path: Path,
) -> None:
    from pipelines.reports import materialize_reports

    folder = tmp_path / "notebooks"
    folder.mkdir()
    for name in ("03_tenant_usage.py", "04_batch_performance.py"):
        (folder / name).write_text((REPO_ROOT / "notebooks" / name).read_text())
    first = materialize_reports(instance, scopes=[PLATFORM], folder=folder)
    assert all(r.success for r in first)
    _, good_before = scratch_reports.latest(PLATFORM, "03_tenant_usage")

    # Break one notebook: a cell in the middle raises.
    source = (folder / "03_tenant_usage.py").read_text()
    broken_cell = "# %% [markdown]\n# ## Growth"
    assert broken_cell in source
    raising = '# %%\nraise RuntimeError("quota source went away")\n\n'
    source = source.replace(broken_cell, raising + broken_cell)
    (folder / "03_tenant_usage.py").write_text(source)

    (second,) = materialize_reports(instance, scopes=[PLATFORM], folder=folder)
    assert not second.success  # the run is marked failed …
    failure = next(e for e in second.all_events if e.is_step_failure)
    assert failure.step_key == "reports__03_tenant_usage"
    details = failure.step_failure_data.user_failure_data.metadata["failures"].value
    assert 'raise RuntimeError("quota source went away")' in details
    assert "RuntimeError: quota source went away" in details
    status = instance.get_status_by_partition(
        dg.AssetKey(["reports", "03_tenant_usage"]), [PLATFORM], _partitions()
    )
    assert status[PLATFORM] == dg.AssetPartitionStatus.FAILED

    newest, good = scratch_reports.latest(PLATFORM, "03_tenant_usage")
    assert not newest.ok and good.id == good_before.id  # … the last good report stays
    error = newest.manifest["error"]
    assert error["ename"] == "RuntimeError" and "quota source went away" in error["evalue"]
    assert 'raise RuntimeError("quota source went away")' in error["source"]
    assert good.page() is not None and newest.page() is None
    # The other notebook of the same run was not held back.
    other_newest, _ = scratch_reports.latest(PLATFORM, "04_batch_performance")
    assert other_newest.ok and other_newest.manifest["run_id"] == second.run_id
    # Not retried until its inputs or its code change; a fix is picked up.
    broken = load(folder / "03_tenant_usage.py")
    assert stale_scopes(broken, [PLATFORM], store=scratch_reports, period_days=30) == set()
    fixed = source.replace('raise RuntimeError("quota source went away")', "pass")
    (folder / "03_tenant_usage.py").write_text(fixed)
    assert stale_scopes(
        load(folder / "03_tenant_usage.py"), [PLATFORM], store=scratch_reports, period_days=30
    ) == {PLATFORM}


def _partitions():
    from pipelines.reports import REPORT_SCOPES

    return REPORT_SCOPES

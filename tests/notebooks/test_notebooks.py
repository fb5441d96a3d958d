"""The report notebooks follow the conventions (question, parameters cell, findings, header
naming what they read) and say "no data" instead of failing on empty marts or without
any; the helpers cut every mart to the report's tenant and period and refuse what a
tenant's report may not read.

Each notebook runs (papermill on the project's python3 kernel) against real published
marts; the runs with data are in test_report_assets.py, through the Dagster assets.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import jupytext
import pytest

from pipelines.registry import MART_NAMES
from wework.config import REPO_ROOT
from wework.reports.notebooks import NotebookError, discover, load
from wework.reports.runner import Job, KernelPool
from wework.reports.scope import PLATFORM, ScopeError, resolve_period

NOTEBOOKS = REPO_ROOT / "notebooks"
SOURCES = discover(NOTEBOOKS)


def markdown_outputs(notebook) -> str:
    return "\n".join(
        output.get("data", {}).get("text/markdown", "")
        for cell in notebook.cells
        for output in cell.get("outputs", [])
    )


def test_there_are_five_notebooks_each_with_question_parameters_and_findings() -> None:
    assert [nb.name[:2] for nb in SOURCES] == ["01", "02", "03", "04", "05"]
    assert [nb.name for nb in SOURCES if nb.platform_only] == ["05_operations"]
    for nb in SOURCES:
        notebook = jupytext.read(nb.path)
        assert notebook.cells[0].cell_type == "markdown"
        assert "**Question.**" in notebook.cells[0].source, nb.name
        parameters = notebook.cells[1]
        assert parameters.metadata.get("tags") == ["parameters"], nb.name
        for name in ("tenant_id = None", "period_days = 30", "period_end = None"):
            assert name in parameters.source, (nb.name, name)
        assert notebook.cells[-2].source.strip() == "## Findings", nb.name
        assert "findings(marts" in notebook.cells[-1].source, nb.name
        assert notebook.metadata["kernelspec"]["name"] == "python3"
        assert nb.title and set(nb.reads) <= set(MART_NAMES), nb.name


def test_no_notebook_outputs_are_committed() -> None:
    # Only the jupytext sources are tracked; paired .ipynb files are ignored.
    assert "*.ipynb" in (NOTEBOOKS / ".gitignore").read_text().split()


def test_a_notebook_without_the_header_fields_is_refused(tmp_path: Path) -> None:
    source = (NOTEBOOKS / "04_batch_performance.py").read_text()
    broken = tmp_path / "09_no_reads.py"
    reads = "#     reads: [batch_task_performance, account_directory]\n"
    broken.write_text(source.replace(reads, ""))
    with pytest.raises(NotebookError, match=r"09_no_reads\.py: jupyter\.wework\.reads"):
        load(broken)
    flagged = tmp_path / "09_flagged.py"
    flagged.write_text(source.replace(reads, reads + "#     platform_only: yes please\n"))
    with pytest.raises(NotebookError, match=r"platform_only must be true or false"):
        load(flagged)
    (tmp_path / "Bad Name.py").write_text(source)
    with pytest.raises(NotebookError, match=r"named NN_lower_case\.py"):
        load(tmp_path / "Bad Name.py")


@pytest.fixture(scope="module")
def run_on(tmp_path_factory: pytest.TempPathFactory):
    """``run_on(publish_dir, notebook, **parameters)``: the notebook executed by papermill
    on a kernel whose WEWORK_PUBLISH_DIR is ``publish_dir`` (one reused kernel each)."""
    pools: dict[Path, KernelPool] = {}
    out = tmp_path_factory.mktemp("executed")

    def run(publish_dir: Path, nb, **parameters):
        if publish_dir not in pools:
            # Metrics off: notebook 05 reads the metrics store besides the marts.
            env = {"WEWORK_PUBLISH_DIR": str(publish_dir), "WEWORK_INFLUX_URL": ""}
            pools[publish_dir] = KernelPool(1, env=env)
        job = Job(nb, PLATFORM, {"period_days": 30, **parameters}, out / f"{nb.name}.ipynb")
        return pools[publish_dir].execute(job)

    yield run
    for pool in pools.values():
        pool.close()


@pytest.mark.parametrize("nb", SOURCES, ids=lambda nb: nb.name)
def test_notebook_says_no_data_on_empty_marts(nb, empty_published_marts: Path, run_on) -> None:
    executed = run_on(empty_published_marts, nb)
    assert executed.ok, executed.error
    text = markdown_outputs(executed.notebook)
    assert "No data" in text
    assert "**Findings**" not in text
    assert executed.record["no_data"] is True
    assert executed.record["findings"][0].startswith("No data:")


def test_notebook_says_no_data_without_published_marts(tmp_path: Path, run_on) -> None:
    executed = run_on(tmp_path / "nothing-published", SOURCES[0])
    assert executed.ok, executed.error
    text = markdown_outputs(executed.notebook)
    assert "No data" in text and "wework etl run" in text
    assert executed.record["no_data"] is True and executed.record["snapshot"] is None


def test_a_notebook_that_ends_without_findings_fails_clearly(
    tmp_path: Path, published_marts: Path, run_on
) -> None:
    source = (NOTEBOOKS / "04_batch_performance.py").read_text()
    cut = tmp_path / "04_batch_performance.py"
    cut.write_text(source[: source.index("# %% [markdown]\n# ## Findings")])
    executed = run_on(published_marts, load(cut))
    assert not executed.ok
    assert executed.error.ename == "MissingFindings"
    assert "findings(marts, lines)" in executed.error.evalue


@pytest.fixture
def helpers(published_marts: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.syspath_prepend(str(NOTEBOOKS))
    monkeypatch.setenv("WEWORK_PUBLISH_DIR", str(published_marts))
    import nbhelpers

    return nbhelpers


def test_labels_show_account_names_and_tenant_codes(helpers) -> None:
    import polars as pl

    marts = helpers.Marts()
    known = marts["account_directory"].row(0, named=True)
    frame = pl.DataFrame(
        {
            "account_id": ["not-in-the-directory-0000abcd", known["account_id"]],
            "tenant_id": ["not-a-tenant-87654321", known["tenant_id"]],
        }
    )
    out = marts.labelled(frame)
    assert out["account_id"].to_list() == frame["account_id"].to_list()  # order kept
    assert out["account"].to_list() == [
        "0000abcd",
        f"{known['account_name']} · {known['account_id'][-6:]}",
    ]
    assert out["tenant"].to_list() == ["87654321", known["tenant_code"]]


def test_marts_are_cut_to_the_tenant_and_the_period(helpers) -> None:
    everyone = helpers.Marts(period_days=3650)
    tenant = everyone["account_directory"]["tenant_id"][0]
    mine = helpers.Marts(tenant, period_days=3650)
    daily = mine["message_stats_daily"]
    assert not daily.is_empty() and set(daily["tenant_id"]) == {tenant}
    assert len(daily) < len(everyone["message_stats_daily"])
    assert set(mine["account_directory"]["tenant_id"]) == {tenant}
    assert mine.tenant_code == mine["account_directory"]["tenant_code"][0]
    # Two days: only rows of those days, and fewer of them.
    short = helpers.Marts(tenant, period_days=2)
    dates = set(short["message_stats_daily"]["stat_date"])
    assert dates <= {short.period.start, short.period.end}
    assert len(short["message_stats_daily"]) < len(daily)
    assert short.rows_read["message_stats_daily"] == len(short["message_stats_daily"])
    assert short.record()["period"] == [str(short.period.start), str(short.period.end)]


def test_a_tenant_report_cannot_read_a_mart_without_tenant_column(helpers) -> None:
    everyone = helpers.Marts()
    assert not everyone["callback_processing_daily"].is_empty()  # platform-wide: allowed
    tenant = everyone["account_directory"]["tenant_id"][0]
    with pytest.raises(ScopeError, match="callback_processing_daily has no tenant_id"):
        helpers.Marts(tenant)["callback_processing_daily"]


def test_parameters_are_checked_and_named() -> None:
    with pytest.raises(ScopeError, match="period_days: must be a whole number"):
        resolve_period(0, None, None)
    with pytest.raises(ScopeError, match="period_end: '2026-13-01' is not an ISO date"):
        resolve_period(7, "2026-13-01", None)
    period = resolve_period(7, "2026-03-10", None)
    assert (period.start, period.end, period.days) == (date(2026, 3, 4), date(2026, 3, 10), 7)

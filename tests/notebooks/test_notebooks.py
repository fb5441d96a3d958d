"""Every analyst notebook runs top to bottom (nbclient, the project's python3 kernel)
against marts built by the real pipelines from seeded data, and against empty marts and
no marts at all, failing on any cell error."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import jupytext
import pytest

from wework.config import REPO_ROOT

NOTEBOOKS = REPO_ROOT / "notebooks"
_spec = importlib.util.spec_from_file_location("nb_execute", NOTEBOOKS / "execute.py")
nb_execute = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(nb_execute)

SOURCES = nb_execute.notebook_sources()


def markdown_outputs(notebook) -> str:
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            texts.append(output.get("data", {}).get("text/markdown", ""))
    return "\n".join(texts)


def plotly_figures(notebook) -> int:
    return sum(
        "application/vnd.plotly.v1+json" in output.get("data", {})
        for cell in notebook.cells
        for output in cell.get("outputs", [])
    )


def test_there_are_four_notebooks_each_with_question_and_findings() -> None:
    assert [p.name[:2] for p in SOURCES] == ["01", "02", "03", "04"]
    for source in SOURCES:
        notebook = jupytext.read(source)
        assert notebook.cells[0].cell_type == "markdown"
        assert "**Question.**" in notebook.cells[0].source, source.name
        assert notebook.cells[-2].source.strip() == "## Findings", source.name
        assert notebook.metadata["kernelspec"]["name"] == "python3"


def test_no_notebook_outputs_are_committed() -> None:
    # Only the jupytext sources are tracked; paired .ipynb files are ignored.
    assert "*.ipynb" in (NOTEBOOKS / ".gitignore").read_text().split()


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_notebook_runs_on_seeded_marts(
    source: Path, published_marts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEWORK_PUBLISH_DIR", str(published_marts))
    executed = nb_execute.execute(source)
    text = markdown_outputs(executed)
    assert "**Findings**" in text
    assert "No data" not in text
    assert plotly_figures(executed) >= 2


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_notebook_says_no_data_on_empty_marts(
    source: Path, empty_published_marts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEWORK_PUBLISH_DIR", str(empty_published_marts))
    text = markdown_outputs(nb_execute.execute(source))
    assert "No data" in text
    assert "**Findings**" not in text


def test_notebook_says_no_data_without_published_marts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEWORK_PUBLISH_DIR", str(tmp_path / "nothing-published"))
    text = markdown_outputs(nb_execute.execute(SOURCES[0]))
    assert "No data" in text and "wework etl run" in text


def test_labels_show_account_names_and_tenant_codes(
    published_marts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(NOTEBOOKS))
    monkeypatch.setenv("WEWORK_PUBLISH_DIR", str(published_marts))
    import polars as pl
    from nbhelpers import Marts

    marts = Marts()
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

"""An executed report notebook as one self-contained HTML file (nbconvert).

The page is JupyterLab's export without the code (readers want the results) and without
anything fetched from the network: plotly.js is inlined once, each plotly output becomes a
``div`` drawn by it (the charts stay interactive), and a Content-Security-Policy refuses
every request, so the file opens offline and a report cannot call home.
"""

from __future__ import annotations

import copy
import threading
from functools import cache
from pathlib import Path

import nbformat
import plotly.io as pio
from nbconvert import HTMLExporter
from nbconvert.preprocessors import Preprocessor
from plotly.offline import get_plotlyjs

TEMPLATES = Path(__file__).resolve().parent / "templates"
PLOTLY_MIME = "application/vnd.plotly.v1+json"
_local = threading.local()


class PlotlyToHTML(Preprocessor):
    """Give every plotly output an HTML form (a div and the ``Plotly.newPlot`` call), which
    the exporter prefers; drop stderr streams (warnings are for the notebook's author)."""

    def preprocess_cell(self, cell, resources, index):
        outputs = []
        for n, output in enumerate(cell.get("outputs", [])):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                continue
            figure = output.get("data", {}).get(PLOTLY_MIME)
            if figure is not None:
                output.data["text/html"] = pio.to_html(
                    figure,
                    include_plotlyjs=False,
                    full_html=False,
                    validate=False,
                    div_id=f"figure-{index}-{n}",
                    config={"displaylogo": False, "responsive": True},
                )
            outputs.append(output)
        if "outputs" in cell:
            cell.outputs = outputs
        return cell, resources


@cache
def _plotly_js() -> str:
    return get_plotlyjs()


def _exporter() -> HTMLExporter:
    # Exporters keep state while rendering: one per thread.
    exporter = getattr(_local, "exporter", None)
    if exporter is None:
        exporter = HTMLExporter(
            template_name="report",
            extra_template_basedirs=[str(TEMPLATES)],
            exclude_input=True,
            exclude_input_prompt=True,
            exclude_output_prompt=True,
            exclude_anchor_links=True,
        )
        exporter.register_preprocessor(PlotlyToHTML(), enabled=True)
        _local.exporter = exporter
    return exporter


def to_html(notebook: nbformat.NotebookNode, banner: dict[str, str]) -> str:
    """The HTML page of an executed notebook. ``banner`` (title, scope, period, built_at,
    published_at) heads the page; every value is escaped."""
    resources = {"plotly_js": _plotly_js(), "report": banner, "metadata": {"name": banner["title"]}}
    body, _ = _exporter().from_notebook_node(copy.deepcopy(notebook), resources=resources)
    return body

"""Shared helpers for the report notebooks in this folder.

A report notebook starts with a cell tagged ``parameters``::

    tenant_id = None   # one tenant's id, or None for the whole platform
    period_days = 30   # whole UTC days covered, ending on period_end
    period_end = None  # "YYYY-MM-DD", or None for the day of the marts' as_of

(Dagster, through papermill, injects each run's values in a cell after it), reads the
*published* marts through ``Marts(tenant_id, period_days, period_end)`` — each mart already
cut to that tenant and those days, read only when first used — and ends with
``findings(marts, lines)``, or ``findings(marts, no_data=...)`` when there is nothing to
analyse. ``findings`` shows the findings and records them (with the rows read and the
marts snapshot) for the app and Dagster; a report without it is a failed report.

Text from users (tenant, account and task names) is shown as text: ``say`` renders
Markdown without raw HTML, links or images, ``code(name)`` quotes a name safely, and
``show`` escapes markup in chart labels.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from datetime import datetime

import plotly.io as pio
import polars as pl
from IPython.display import display

from wework.reports.markdown import code, to_html
from wework.reports.notebooks import REPORT_MIME
from wework.reports.scope import Period, mart_query, resolve_period
from wework.warehouse import NoPublishedMarts, open_marts, snapshot_version

__all__ = ["Marts", "bullets", "code", "findings", "has", "num", "pct", "say", "short", "show"]

PLOTLY_MIME = "application/vnd.plotly.v1+json"


class Marts:
    """The published marts of one report: each mart restricted to the tenant (all tenants
    when ``tenant_id`` is None) and to the period, loaded when first used.

    A tenant's report cannot read a mart without a ``tenant_id`` column: that raises
    ``wework.reports.scope.ScopeError`` instead of showing other tenants' rows.
    """

    def __init__(
        self, tenant_id: str | None = None, period_days: int = 30, period_end: str | None = None
    ) -> None:
        self.tenant_id = tenant_id or None
        self.error: str | None = None
        self.published_at: datetime | None = None
        self.as_of: datetime | None = None
        self.snapshot: str | None = None  # the published snapshot actually read
        self.rows_read: dict[str, int] = {}
        self.tenant_code: str | None = None
        self.tenant_name: str | None = None
        self._columns: dict[str, list[str]] = {}
        self._frames: dict[str, pl.DataFrame] = {}
        self._con = None
        try:
            self._con = open_marts()
        except NoPublishedMarts as e:
            self.error = str(e)
        if self._con is not None:
            info = self._con.sql("SELECT published_at, as_of FROM marts.publish_info").fetchall()
            if info:
                self.published_at, self.as_of = info[0]
            self.snapshot = snapshot_version(self._con)
            for table, column in self._con.sql(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = 'marts' ORDER BY table_name, ordinal_position"
            ).fetchall():
                self._columns.setdefault(table, []).append(column)
        self.period: Period = resolve_period(period_days, period_end, self.as_of)
        if self.tenant_id is not None:
            directory = self["account_directory"]
            if has(directory, "tenant_code", "tenant_name"):
                self.tenant_code = directory["tenant_code"][0]
                self.tenant_name = directory["tenant_name"][0]

    def __getitem__(self, name: str) -> pl.DataFrame:
        """The mart as a DataFrame, cut to this report's tenant and period (empty, without
        columns, when the mart was not published)."""
        if name not in self._frames:
            columns = self._columns.get(name)
            if columns is None or self._con is None:
                self._frames[name] = pl.DataFrame()
            else:
                sql, params = mart_query(name, columns, self.tenant_id, self.period)
                self._frames[name] = self._con.execute(sql, params).pl()
            self.rows_read[name] = len(self._frames[name])
        return self._frames[name]

    @property
    def scope(self) -> str:
        """Who the report covers, as Markdown."""
        if self.tenant_id is None:
            return "All tenants"
        label = self.tenant_code or short(self.tenant_id)
        name = f" ({code(self.tenant_name)})" if self.tenant_name else ""
        return f"Tenant {code(label)}{name}"

    def labelled(self, frame: pl.DataFrame) -> pl.DataFrame:
        """``frame`` with readable ``account`` and ``tenant`` (tenant code) columns for
        whichever of ``account_id`` / ``tenant_id`` it has, from ``account_directory``
        (its ``account_label``); an id the directory does not know is shown by its end."""
        directory = self["account_directory"]
        columns = ("account_id", "account_label", "tenant_id", "tenant_code")
        if not has(directory, *columns):
            directory = pl.DataFrame(schema=dict.fromkeys(columns, pl.String))
        out = frame
        if "account_id" in out.columns:
            names = directory.select("account_id", pl.col("account_label").alias("account"))
            out = _with_label(out, names, "account_id", "account")
        if "tenant_id" in out.columns:
            codes = directory.select("tenant_id", pl.col("tenant_code").alias("tenant"))
            out = _with_label(out, codes.unique("tenant_id"), "tenant_id", "tenant")
        return out

    def describe(self) -> str:
        """Scope, period and marts snapshot, as Markdown."""
        if self.error:
            return f"**No data:** {self.error}"
        stamp = (
            f"marts published {self.published_at:%Y-%m-%d %H:%M} UTC"
            if self.published_at
            else "marts"
        )
        as_of = f", data as of {self.as_of:%Y-%m-%d %H:%M} UTC" if self.as_of else ""
        return f"{self.scope} · {self.period.days} day(s), {self.period} (UTC) · {stamp}{as_of}."

    def record(self) -> dict:
        """What the report was built from, for the report store and Dagster."""
        return {
            "tenant_id": self.tenant_id,
            "period": [str(self.period.start), str(self.period.end)],
            "snapshot": self.snapshot,
            "published_at": self.published_at.isoformat() if self.published_at else None,
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "rows_read": dict(self.rows_read),
        }


def _with_label(frame: pl.DataFrame, labels: pl.DataFrame, key: str, name: str) -> pl.DataFrame:
    return frame.join(labels, on=key, how="left", maintain_order="left").with_columns(
        pl.coalesce(name, pl.col(key).map_elements(short, return_dtype=pl.String)).alias(name)
    )


def say(text: str) -> None:
    """Show Markdown text (notes, findings). Raw HTML shows as text; links and images are
    not rendered."""
    display({"text/markdown": text, "text/html": to_html(text)}, raw=True)


def findings(marts: Marts, lines: Iterable[str] = (), *, no_data: str | None = None) -> None:
    """End the report: show its findings (Markdown lines) under "Findings", or "No data"
    with the reason, and record them for the app and Dagster."""
    lines = list(lines)
    if no_data is not None:
        text = f"**No data:** {no_data}"
        recorded = [f"No data: {no_data}"]
    elif lines:
        text = "**Findings**\n\n" + bullets(lines)
        recorded = lines
    else:
        raise ValueError("findings: give the findings' lines, or no_data= with the reason")
    record = {**marts.record(), "findings": recorded, "no_data": no_data is not None}
    display({"text/markdown": text, "text/html": to_html(text), REPORT_MIME: record}, raw=True)


def has(frame: pl.DataFrame, *columns: str) -> bool:
    """True when ``frame`` has rows and all ``columns``."""
    return not frame.is_empty() and all(c in frame.columns for c in columns)


def pct(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value * 100:.{digits}f}%"


def num(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.{digits}f}"


def short(identifier: str | None) -> str:
    """The last 8 characters of an id (readable in tables and charts). Not the first: a
    UUIDv7 starts with its creation time, shared by everything made in the same minute."""
    return "-" if identifier is None else str(identifier)[-8:]


def bullets(lines: Iterable[str]) -> str:
    return "\n".join(f"- {line}" for line in lines)


# Keys whose strings are the notebook's own plotly markup (hover templates, number
# formats), not data: everything else in a figure is escaped so that a name like
# "<b>x</b>" shows as typed (plotly draws a subset of HTML in labels).
_MARKUP_KEYS = ("template", "format")


def _escaped(value, key: str = ""):
    if isinstance(value, str):
        return value if key.endswith(_MARKUP_KEYS) else html.escape(value, quote=False)
    if isinstance(value, dict):
        return {k: v if k == "template" else _escaped(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_escaped(v, key) for v in value]
    return value


def show(fig) -> None:
    """Display a plotly figure (its data as the plotly mime type, drawn by JupyterLab and
    by the report's HTML), or say there is nothing to plot."""
    if not fig.data:
        say("_(no data to plot)_")
        return
    figure = _escaped(json.loads(pio.to_json(fig, validate=False)))
    display({PLOTLY_MIME: figure, "text/plain": f"<{fig.layout.title.text or 'figure'}>"}, raw=True)

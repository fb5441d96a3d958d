"""Shared helpers for the analyst notebooks in this folder.

Every notebook reads the *published* marts through :func:`wework.warehouse.open_marts`
(read-only, so it works while a pipeline run writes the warehouse) and turns each mart
into a polars DataFrame. When nothing is published yet, or a mart is empty, the frames are
empty and the notebooks say "no data" instead of failing.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import plotly.io as pio
import polars as pl
from IPython.display import Markdown, display

from wework.warehouse import NoPublishedMarts, open_marts

# Figures carry their data as a Plotly mime bundle (rendered by JupyterLab) plus an
# offline HTML fallback; nothing is fetched from the internet.
pio.renderers.default = "plotly_mimetype+notebook"


class Marts:
    """The published marts, loaded once per notebook."""

    def __init__(self) -> None:
        self.error: str | None = None
        self.published_at: datetime | None = None
        self.as_of: datetime | None = None
        self._frames: dict[str, pl.DataFrame] = {}
        try:
            con = open_marts()
        except NoPublishedMarts as e:
            self.error = str(e)
            return
        try:
            info = con.sql("SELECT published_at, as_of FROM marts.publish_info").fetchall()
            if info:
                self.published_at, self.as_of = info[0]
            tables = [
                r[0]
                for r in con.sql(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts'"
                ).fetchall()
            ]
            for name in tables:
                self._frames[name] = con.sql(f'SELECT * FROM marts."{name}"').pl()
        finally:
            con.close()

    def __getitem__(self, name: str) -> pl.DataFrame:
        """The mart as a DataFrame (empty, without columns, when it was not published)."""
        return self._frames.get(name, pl.DataFrame())

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
        if self.error:
            return f"**No data:** {self.error}"
        stamp = f"published {self.published_at:%Y-%m-%d %H:%M} UTC" if self.published_at else ""
        sizes = ", ".join(f"`{n}` {len(f):,} rows" for n, f in sorted(self._frames.items()))
        return f"Marts {stamp}: {sizes}."


def _with_label(frame: pl.DataFrame, labels: pl.DataFrame, key: str, name: str) -> pl.DataFrame:
    return frame.join(labels, on=key, how="left", maintain_order="left").with_columns(
        pl.coalesce(name, pl.col(key).map_elements(short, return_dtype=pl.String)).alias(name)
    )


def say(text: str) -> None:
    """Show Markdown text (findings, notes) in the notebook."""
    display(Markdown(text))


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


def show(fig) -> None:
    """Display a plotly figure, or say there is nothing to plot."""
    if not fig.data:
        say("_(no data to plot)_")
        return
    fig.show()

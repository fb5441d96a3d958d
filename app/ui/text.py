"""What a user typed is shown as text, never interpreted.

Streamlit renders labels, captions, alerts, progress texts and metric labels as Markdown
(with images, links, LaTeX, emoji and colour directives); plotly renders a subset of HTML
(``<a href>``, ``<b>``, ``<br>`` …) in legends, axis ticks and hover labels. A tenant,
account, task or template name goes through :func:`md` before it is put into Markdown, and
every string a figure draws goes through :func:`plot_frame`.

Selectbox and multiselect options, text-input values and dataframe cells are not
interpreted and take the raw value.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable

import pandas as pd

# Every ASCII punctuation character may be backslash-escaped in CommonMark: escaping all of
# them turns off emphasis, links, images, code, HTML and autolinks, and also Streamlit's
# own syntax (``$…$`` LaTeX, ``:red[…]`` colours, ``:smile:`` emoji, ``:material/x:`` icons),
# which Streamlit only recognises when the colons and slashes are unescaped.
_MD_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
# Line breaks and other control characters would start new Markdown blocks (lists,
# headings, quotes); in a one-line label they read as a space.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
# GFM autolink literals (``http://…``, ``www.…``, ``a@b.example``): Streamlit's renderer
# (remark-gfm) finds them in the *decoded* text, after backslash escapes and entities are
# resolved, so no escape can stop them. An invisible WORD JOINER (U+2060) inside each
# pattern can: after the scheme, after ``www`` and after ``@``. The text reads the same.
WORD_JOINER = "\u2060"
_AUTOLINK = re.compile(r"(?i)(?<=https)(?=:)|(?<=http)(?=:)|(?<=www)(?=\.)|(?<=@)")


def md(value: object) -> str:
    """``value`` as a Markdown fragment that renders exactly as its text."""
    text = _AUTOLINK.sub(WORD_JOINER, _CONTROL.sub(" ", str(value)))
    return _MD_PUNCTUATION.sub(r"\\\1", text)


def plot_text(value: object) -> object:
    """A string as plotly shows it literally (its HTML subset decodes entities); anything
    else unchanged."""
    return html.escape(value, quote=False) if isinstance(value, str) else value


def map_text_cells(df: pd.DataFrame, fn: Callable[[object], object]) -> pd.DataFrame:
    """A copy of ``df`` with ``fn`` applied to every cell of its text (object, string or
    categorical) columns; ``fn`` must leave non-strings as they are."""
    out = df.copy()
    for col in out.columns:
        dtype = out[col].dtype
        if isinstance(dtype, pd.CategoricalDtype):
            out[col] = out[col].cat.rename_categories(fn)
        elif pd.api.types.is_string_dtype(dtype):
            out[col] = out[col].map(fn)
    return out


def plot_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose text cells plotly draws as text (legends, ticks, hovers).
    Only for building figures: tables and CSVs take the raw frame."""
    return map_text_cells(df, plot_text)

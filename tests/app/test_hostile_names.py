"""Issue 16 items 7 and 8 on every page: names that are attacks (Markdown images and links,
HTML, LaTeX, emoji codes, spreadsheet formulas) are seeded into a tenant, every page is
opened as that tenant's admin and as the super-admin, and

- no Markdown-rendered field (labels, bodies, progress texts, help, radio options …)
  carries a name in its raw, interpretable form; the escaped form shows it as its text;
- no plotly figure carries a raw name (plotly renders ``<a href>``);
- every CSV download has no cell a spreadsheet would run as a formula.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re

import pytest
from google.protobuf.json_format import MessageToDict
from markdown_it import MarkdownIt

from ui.downloads import FORMULA_PREFIXES, csv_bytes
from ui.nav import PAGES, PAGES_DIR
from ui.text import WORD_JOINER, md, plot_text

# Proto fields Streamlit renders as Markdown (radio/pills options too; selectbox options
# and text-input values are plain text and are not checked).
MARKDOWN_FIELDS = {"body", "label", "help", "text", "caption", "captions", "placeholder_md"}
MARKDOWN_OPTION_ELEMENTS = {"radio", "button_group"}


def walk(node):
    yield node
    for child in getattr(node, "children", {}).values():
        yield from walk(child)


def strings(value, field=None):
    """(field name, string) of every string inside a proto dict."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from strings(item, key)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item, field)
    elif isinstance(value, str):
        yield field, value


def markdown_texts(at) -> list[str]:
    out = []
    for node in walk(at._tree):
        proto = getattr(node, "proto", None)
        if proto is None or not hasattr(proto, "DESCRIPTOR"):
            continue
        kind = getattr(node, "type", "")
        for field, value in strings(MessageToDict(proto, preserving_proto_field_name=True)):
            if field in MARKDOWN_FIELDS or (field == "options"
                                            and kind in MARKDOWN_OPTION_ELEMENTS):
                out.append(value)
    return out


def figure_strings(at) -> list[str]:
    return [s for chart in at.get("plotly_chart")
            for _, s in strings(json.loads(chart.proto.spec))]


@pytest.fixture
def downloads(monkeypatch):
    """Every CSV the pages hand to st.download_button in this test (the real widget runs)."""
    import streamlit as st

    seen: list[tuple[str, bytes]] = []
    real = st.download_button

    def recording(label, data, *args, **kwargs):
        seen.append((label, data))
        return real(label, data, *args, **kwargs)

    monkeypatch.setattr(st, "download_button", recording)
    return seen


def pages_for(user, skip_admin: bool) -> list[str]:
    from ui.nav import allowed_pages
    from wework.services import auth

    actor = auth.actor_for(user.id, user.tenant_id)
    return [p.file for p in allowed_pages(actor)
            if not (skip_admin and p.group == "Admin")]


@pytest.mark.parametrize("role", ["tenant_admin", "super_admin"])
def test_hostile_names_render_as_text_everywhere(app_world, hostile_world, role, downloads,
                                                 app_for):
    names = hostile_world.names
    # The tenant's admin covers its admin pages; the super-admin the all-tenant reports.
    user = hostile_world.admin if role == "tenant_admin" else app_world.users["super_admin"]
    at = app_for(user)
    seen_escaped: set[str] = set()
    seen_in_figures: set[str] = set()
    for file in pages_for(user, skip_admin=role == "super_admin"):
        at = at.switch_page(str(PAGES_DIR / file)).run()
        assert not at.exception, (file, [e.value for e in at.exception])
        for text in markdown_texts(at):
            for what, name in names.items():
                assert name not in text, f"{file}: raw {what} name in Markdown {text!r}"
                if md(name) in text:
                    seen_escaped.add(what)
        for text in figure_strings(at):
            for what, name in names.items():
                # (a name without <, > or & is the same in both forms)
                assert plot_text(name) == name or name not in text, \
                    f"{file}: raw {what} name in a figure: {text!r}"
                if plot_text(name) in text:
                    seen_in_figures.add(what)
    if role == "tenant_admin":
        assert "task" in seen_escaped  # the live progress label of Batch sends
        assert {"account", "tenant"} <= seen_in_figures  # top accounts, the usage legend
    else:
        assert "tenant" in seen_in_figures  # the tenant legend of Tenant usage

    assert downloads, "no CSV download seen"
    hostile_cells = 0
    for label, data in downloads:
        for row in csv.reader(io.StringIO(data.decode(), newline="")):
            for cell in row:
                assert not cell.startswith(FORMULA_PREFIXES), f"{label}: formula cell {cell!r}"
                hostile_cells += any(cell.startswith("'" + n) for n in names.values())
    assert hostile_cells, "no hostile name reached a CSV: the check saw nothing"


HOSTILE = [
    "![p](http://evil.example/p.png)", "[l](http://evil.example/)", "<img src=x>",
    "**b** _i_ `c` ~~s~~", "$x^2$", ":smile: :material/home: :red[r]",
    "<http://evil.example>", "http://evil.example www.evil.example a@evil.example",
    "# h\n- item\n> quote", "a\\*b \\", "1. one", "&amp; &lt;",
]


@pytest.mark.parametrize("name", HOSTILE)
def test_md_renders_as_its_own_text(name):
    """Through a CommonMark parser (with GFM's autolinks), the escaped name is one
    paragraph of exactly its text (invisible word joiners aside), control characters read
    as spaces."""
    rendered = MarkdownIt("gfm-like").render(md(name)).strip().replace(WORD_JOINER, "")
    flat = " ".join(name.replace("\n", " ").split(" "))
    assert rendered == f"<p>{html.escape(flat, quote=False)}</p>"
    # Streamlit's own syntax (LaTeX, emoji, icons, colours) needs unescaped $ : [ and
    # the literal ":material/".
    assert not re.search(r"(?<!\\)[$:\[]", md(name)) and ":material/" not in md(name)


@pytest.mark.parametrize("name", ["http://evil.example/p", "HTTPS://evil.example",
                                  "www.evil.example", "a@evil.example"])
def test_md_breaks_autolink_literals_in_the_decoded_text(name):
    """Streamlit's remark-gfm finds autolink literals after escapes are decoded, so the
    decoded text itself must not match GFM's URL or e-mail patterns (mdast-util-gfm-
    autolink-literal's expressions)."""
    decoded = re.sub(r"\\(.)", r"\1", md(name))
    assert decoded.replace(WORD_JOINER, "") == name
    assert not re.search(r"(?i)https?://|www\.|@[-\w]", decoded)


def test_plot_text_shows_markup_literally():
    assert plot_text('<a href="http://evil">x</a> & y') == \
        '&lt;a href="http://evil"&gt;x&lt;/a&gt; &amp; y'
    assert plot_text(3) == 3


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx",
                                  '=HYPERLINK("http://evil","c")'])
def test_formula_cells_are_made_inert(cell):
    import pandas as pd

    out = csv_bytes(pd.DataFrame({"name": [cell], "n": [-5]})).decode()
    rows = list(csv.reader(io.StringIO(out, newline="")))
    assert rows[1] == ["'" + cell, "-5"]  # numbers stay numbers


def test_every_download_goes_through_the_one_helper():
    """Only ui/downloads.py writes CSVs or download buttons."""
    app = PAGES_DIR.parent
    for path in app.rglob("*.py"):
        if path.name == "downloads.py":
            continue
        source = path.read_text()
        assert "download_button(" not in source and "to_csv(" not in source, path
    assert PAGES  # the registry the sweep visits

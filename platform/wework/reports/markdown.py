"""Markdown to HTML for report text (notebook notes, findings) in which names typed by
users (tenants, accounts, tasks) must show as text.

Raw HTML in the source is escaped, and links, autolinks and images are not rendered, so a
name such as ``<img src=x onerror=…>`` or ``![](http://…)`` can neither run script nor
fetch anything. :func:`code` puts a value in an inline code span whatever backticks it
contains.
"""

from __future__ import annotations

import re
from functools import cache

from markdown_it import MarkdownIt


@cache
def _renderer() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False}).disable(["image", "link", "autolink"])


def to_html(markdown: str) -> str:
    """``markdown`` as HTML with raw HTML escaped and no links or images."""
    return _renderer().render(markdown)


def code(value: object) -> str:
    """``value`` as an inline code span (CommonMark: a fence longer than any run of
    backticks inside, padded with spaces when the value starts or ends with one)."""
    text = str(value).replace("\n", " ")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}"

"""What a Markdown string of the app reads as on screen: the app escapes the names and
service messages it puts into Markdown (``ui.text.md``); tests compare the text."""

from __future__ import annotations

import re

_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")


def shown(markdown: str) -> str:
    return _ESCAPE.sub(r"\1", markdown)

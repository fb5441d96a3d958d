"""What a Markdown string of the app reads as on screen: the app escapes the names and
service messages it puts into Markdown (``ui.text.md``); tests compare the text."""

from __future__ import annotations

import re

from ui.text import WORD_JOINER

_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")


def shown(markdown: str) -> str:
    """The text a reader sees: escapes resolved, the invisible word joiners that stop
    autolinks (``ui.text.WORD_JOINER``) left out."""
    return _ESCAPE.sub(r"\1", markdown).replace(WORD_JOINER, "")

"""`scripts/demo.sh` serves the operator tools (Dagster UI, app) on localhost only: neither
has a login of its own strong enough to face a network (README, production section)."""

from __future__ import annotations

import re
import shlex

from wework.config import REPO_ROOT


def served_commands() -> list[list[str]]:
    text = (REPO_ROOT / "scripts" / "demo.sh").read_text()
    joined = re.sub(r"\\\n\s*", " ", text)  # continuation lines
    return [shlex.split(line.split(">")[0]) for line in joined.splitlines()
            if line.startswith("setsid ")]


def test_dagster_ui_and_app_listen_on_localhost():
    commands = served_commands()
    dagster = next(c for c in commands if "dagster" in c[1] and "dev" in c)
    assert dagster[dagster.index("-h") + 1] == "127.0.0.1"
    streamlit = next(c for c in commands if "streamlit" in c)
    assert streamlit[streamlit.index("--server.address") + 1] == "127.0.0.1"

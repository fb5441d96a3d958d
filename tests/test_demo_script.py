"""`scripts/demo.sh` serves the operator tools (Dagster UI, app) on localhost only: neither
has a login of its own strong enough to face a network (README, production section)."""

from __future__ import annotations

import re
import shlex

from wework.config import REPO_ROOT


def served_commands() -> list[list[str]]:
    """The commands demo.sh starts in the background (``setsid …``)."""
    text = (REPO_ROOT / "scripts" / "demo.sh").read_text()
    joined = re.sub(r"\\\n\s*", " ", text)  # continuation lines
    return [shlex.split(line.split(">")[0])[1:] for line in joined.splitlines()
            if line.startswith("setsid ")]


def option(command: list[str], *names: str) -> str | None:
    for i, arg in enumerate(command):
        if arg in names:
            return command[i + 1]
        for name in names:
            if arg.startswith(f"{name}="):
                return arg.split("=", 1)[1]
    return None


def test_dagster_ui_and_app_listen_on_localhost():
    commands = served_commands()
    dagster_uis = [c for c in commands
                   if c[0].endswith(("dagster", "dagster-webserver")) and
                   ("dev" in c or c[0].endswith("dagster-webserver"))]
    apps = [c for c in commands if "streamlit" in c]
    assert dagster_uis and apps, commands
    for ui in dagster_uis:
        assert option(ui, "-h", "--host") == "127.0.0.1", ui
    for app in apps:
        assert option(app, "--server.address") == "127.0.0.1", app

"""The Dagster instance the pipelines record their runs in (DAGSTER_HOME).

One folder, ``Settings.dagster_home_path`` (``<data_dir>/dagster`` unless
WEWORK_DAGSTER_HOME or DAGSTER_HOME says otherwise), holds the run history, schedule
state and ``dagster.yaml``. The UI (``dagster dev``), the daemon and ``wework etl run``
all use it, so a run started from the command line shows in the UI like any other.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from wework.config import Settings, get_settings

INSTANCE_CONFIG = Path(__file__).with_name("dagster.yaml")


def prepare_home(settings: Settings | None = None) -> Path:
    """Create the instance folder, put the current ``dagster.yaml`` into it, and point
    this process's DAGSTER_HOME at it. Returns the folder."""
    home = (settings or get_settings()).dagster_home_path
    home.mkdir(parents=True, exist_ok=True)
    wanted = INSTANCE_CONFIG.read_text(encoding="utf-8")
    target = home / "dagster.yaml"
    if not target.exists() or target.read_text(encoding="utf-8") != wanted:
        target.write_text(wanted, encoding="utf-8")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def get_instance(settings: Settings | None = None) -> dg.DagsterInstance:
    prepare_home(settings)
    return dg.DagsterInstance.get()

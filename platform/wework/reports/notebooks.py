"""The report notebooks: every ``NN_name.py`` (jupytext percent format) in ``notebooks/``.

Each notebook's jupytext header says what it is and what it reads::

    # ---
    # jupyter:
    #   ...
    #   wework:
    #     title: Message delivery
    #     reads: [message_stats_hourly, message_stats_daily, account_directory]
    #     platform_only: true   # optional: no per-tenant reports (operators' views)
    # ---

``reads`` become the report asset's upstream marts in Dagster and the rows whose change
rebuilds the report. The header is parsed here with YAML, not with jupytext, so that
loading the Dagster definitions stays cheap.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import yaml

from wework.config import REPO_ROOT
from wework.reports.scope import PLATFORM, ScopeError

NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
HELPERS = "nbhelpers.py"  # shared by every notebook; part of each one's code version
NAME_RE = re.compile(r"^[0-9]{2}_[a-z0-9_]+$")
# nbhelpers.findings leaves the report's record (findings, rows read, marts snapshot) in
# the executed notebook as an output of this type, beside the findings readers see.
REPORT_MIME = "application/vnd.wework.report+json"


class NotebookError(ValueError):
    """A notebook source that does not follow the report conventions."""


@dataclass(frozen=True)
class Notebook:
    name: str  # "01_message_delivery": the file's stem, the asset key's last part
    path: Path
    title: str
    reads: tuple[str, ...]  # marts
    # Built and shown for the whole platform only: a report on the platform's own health
    # (servers, operator alerts) that no tenant's user may see.
    platform_only: bool = False

    def offered_for(self, scope: str) -> bool:
        """Whether this report exists for ``scope`` (the platform, or a tenant id)."""
        return scope == PLATFORM or not self.platform_only

    def check_scope(self, scope: str) -> str:
        """``scope``, or ScopeError when this report is not offered for it."""
        if not self.offered_for(scope):
            raise ScopeError(f"scope: {self.name} is a platform-wide report, not built per tenant")
        return scope

    @cached_property
    def code_version(self) -> str:
        """Changes when the notebook or the shared helpers change."""
        digest = hashlib.sha256(self.path.read_bytes())
        helpers = self.path.parent / HELPERS
        if helpers.exists():
            digest.update(helpers.read_bytes())
        return digest.hexdigest()[:16]


def _header(path: Path) -> dict:
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or lines[0].strip() != "# ---":
        raise NotebookError(f"{path.name}: no jupytext header (a first line '# ---')")
    body = []
    for line in lines[1:]:
        if line.strip() == "# ---":
            break
        body.append(line[2:] if line.startswith("# ") else line.lstrip("#"))
    else:
        raise NotebookError(f"{path.name}: the jupytext header is not closed by '# ---'")
    return yaml.safe_load("\n".join(body)) or {}


def load(path: Path) -> Notebook:
    """The notebook at ``path``; NotebookError naming the file and the missing field."""
    name = path.stem
    if not NAME_RE.match(name):
        raise NotebookError(f"{path.name}: report notebooks are named NN_lower_case.py")
    meta = (_header(path).get("jupyter") or {}).get("wework") or {}
    title, reads = meta.get("title"), meta.get("reads")
    platform_only = meta.get("platform_only", False)
    if not isinstance(title, str) or not title.strip():
        raise NotebookError(f"{path.name}: jupyter.wework.title is missing from the header")
    if not isinstance(reads, list) or not reads or not all(isinstance(r, str) for r in reads):
        raise NotebookError(
            f"{path.name}: jupyter.wework.reads must list the marts the notebook reads"
        )
    if not isinstance(platform_only, bool):
        raise NotebookError(f"{path.name}: jupyter.wework.platform_only must be true or false")
    return Notebook(name, path, title.strip(), tuple(reads), platform_only)


def discover(folder: Path = NOTEBOOKS_DIR) -> list[Notebook]:
    """Every report notebook in ``folder``, in file name order."""
    return [load(p) for p in sorted(folder.glob("[0-9][0-9]_*.py"))]

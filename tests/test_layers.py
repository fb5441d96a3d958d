"""Which package may import which: checked on the source, so a wrong import fails here
before it becomes a cycle or drags a server dependency into the wrong process."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from wework.config import REPO_ROOT


def imported_modules(path: Path) -> Iterator[tuple[int, str]]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


def offending_imports(folder: str, forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for path in sorted((REPO_ROOT / folder).rglob("*.py")):
        for line, module in imported_modules(path):
            if module.split(".")[0] in forbidden:
                found.append(f"{path.relative_to(REPO_ROOT)}:{line} imports {module}")
    return found


def test_the_platform_package_never_imports_the_code_location_or_the_app():
    # The pipelines reach the platform, never the other way round: `wework etl` plugs in
    # through the wework.cli entry point group.
    assert offending_imports("platform/wework", ("pipelines", "app", "ui")) == []


def test_the_pipelines_never_import_the_app():
    assert offending_imports("pipelines", ("app", "ui")) == []


# What the Streamlit app may use of the platform: the services (which route to the right
# database and check permissions), their errors and enums, the settings, and the three
# readers (published marts, monitoring metrics, notebook reports). Never the models, the
# engines or raw SQL against the primary.
APP_MAY_IMPORT = (
    "wework.services",
    "wework.errors",
    "wework.enums",
    "wework.config",
    "wework.warehouse",
    "wework.metrics.query",
    # The notebook reports' reader (the report store) and the helpers it shows them with.
    "wework.reports.store",
    "wework.reports.scope",
    "wework.reports.notebooks",
    "wework.reports.markdown",
    # Display masking of phones and emails (pure functions, no database).
    "wework.security.masking",
)


def test_the_app_reaches_the_platform_only_through_services_errors_and_readers():
    found = []
    for path in sorted((REPO_ROOT / "app").rglob("*.py")):
        for line, module in imported_modules(path):
            database = module.split(".")[0] in ("sqlalchemy", "pymysql")
            platform = module.startswith("wework") and not any(
                module == allowed or module.startswith(f"{allowed}.") for allowed in APP_MAY_IMPORT
            )
            if database or platform:
                found.append(f"{path.relative_to(REPO_ROOT)}:{line} imports {module}")
    assert found == []


def test_services_reach_the_databases_only_through_the_unit_of_work():
    """One read-routing path: a service that opened an engine itself would skip the
    replica lag policy (reads) or the tenant's shard and PrimaryUnavailable (writes)."""
    found = []
    for path in sorted((REPO_ROOT / "platform/wework/services").glob("*.py")):
        if path.name == "uow.py":
            continue
        for line, module in imported_modules(path):
            if module in ("wework.db.engines", "wework.db.routing"):
                found.append(f"{path.relative_to(REPO_ROOT)}:{line} imports {module}")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Name) and node.id in ("get_engine", "create_engine"):
                found.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno} uses {node.id}")
    assert found == []

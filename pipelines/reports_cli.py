"""``wework reports``: build the notebook reports in-process, and list what is kept.

Plugged into the ``wework`` command through the ``wework.cli`` entry-point group, like
``wework etl``: it runs the Dagster report assets.
"""

from __future__ import annotations

import typer

from wework.cli.common import command_group, fail

reports_app = command_group(
    "Notebook reports: the notebooks in notebooks/ run for the whole platform and for each "
    "tenant, rendered to HTML and kept as versions (WEWORK_REPORTS_DIR)."
)


@reports_app.command("build")
def build(
    notebook: list[str] = typer.Option(
        None,
        "--notebook",
        "-n",
        help="Notebook name, e.g. 01_message_delivery (repeatable; default: every notebook).",
    ),
    scope: list[str] = typer.Option(
        None,
        "--scope",
        "-s",
        help="'platform' or a tenant code (repeatable; default: the "
        "platform and every tenant with accounts).",
    ),
) -> None:
    """Build reports now, as Dagster runs in this process, recorded in the Dagster instance
    (`wework etl home`) so the UI lists them. Exits 1 when a report failed; its previous
    good version stays what readers see."""
    from pipelines.instance import get_instance
    from pipelines.reports import materialize_reports
    from wework.config import reload_settings
    from wework.reports.inputs import tenant_scopes
    from wework.reports.scope import PLATFORM

    scopes = None
    if scope:
        codes = {t.tenant_code: t.tenant_id for t in tenant_scopes()}
        unknown = [s for s in scope if s != PLATFORM and s not in codes]
        if unknown:
            fail(f"--scope: no tenant with accounts has the code(s) {', '.join(unknown)}")
        scopes = [PLATFORM if s == PLATFORM else codes[s] for s in scope]
        if PLATFORM not in scopes:
            from wework.reports.notebooks import discover

            wanted = set(notebook or [])
            only = [nb.name for nb in discover() if nb.platform_only and nb.name in wanted]
            if only:
                fail(f"--scope: {', '.join(only)} is built platform-wide only (--scope platform)")
    results = materialize_reports(
        get_instance(reload_settings()), notebooks=notebook or None, scopes=scopes
    )
    built = failed = 0
    for result in results:
        built += len(result.get_asset_materialization_events())
        for event in result.all_events:
            if event.is_step_failure and event.step_failure_data.error:
                failed += 1
                typer.secho(event.step_failure_data.error.message.strip(), fg=typer.colors.RED)
                meta = event.step_failure_data.user_failure_data
                if meta is not None and "failures" in meta.metadata:
                    typer.echo(meta.metadata["failures"].value)
    typer.echo(f"{built} report(s) built")
    if failed:
        raise typer.Exit(1)


@reports_app.command("list")
def list_reports() -> None:
    """The newest version of every report, with its status and findings count."""
    from wework.config import get_settings
    from wework.reports.build import scope_labels
    from wework.reports.store import ReportStore

    s = get_settings()
    store = ReportStore(s.reports_path, keep=s.report_keep_versions)
    labels = scope_labels()
    for scope, label in labels.items():
        for name in store.notebooks(scope):
            newest, good = store.latest(scope, name)
            if newest is None:
                continue
            m = newest.manifest
            status = m["status"] + (" (no data)" if m.get("no_data") else "")
            shown = "" if newest.ok or good is None else f"; showing {good.id}"
            typer.echo(f"{label[:28]:28} {name:24} {newest.id}  {status}{shown}")

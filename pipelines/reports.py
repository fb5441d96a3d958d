"""Notebook reports as Dagster assets: ``reports/<notebook>``, one per notebook in
``notebooks/``, downstream of the marts it reads and of ``published_marts``.

Partitions are scopes (a dynamic partition set, ``report_scope``): ``platform`` and one
per tenant with accounts, which the ``report_scopes`` sensor adds as tenants appear. A
notebook marked ``platform_only`` (the operations report) shares the partition set but
builds its ``platform`` partition only: its tenant partitions stay unmaterialized, and
its automation never requests them. A run
may build many scopes of a report at once (single-run backfills); every scope that builds
gets its own materialization (rows read, findings, duration, version), every scope that
fails is marked failed with its failing cell, and the others are not held back.

Automation: after each publish, a report's scopes are requested when the rows they read
(or the notebook) changed since their last build, so a change in one tenant rebuilds that
tenant's reports and the platform-wide ones only. Deciding that calls Python
(:func:`wework.reports.build.stale_scopes`), which Dagster's daemon cannot run, so these
assets have their own automation sensor evaluated in the code location.
"""

import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr

from pipelines.registry import MART_NAMES
from wework.config import get_settings
from wework.reports.build import Built, build_reports, stale_scopes
from wework.reports.inputs import current_snapshot, tenant_scopes
from wework.reports.notebooks import NOTEBOOKS_DIR, Notebook, NotebookError, discover
from wework.reports.runner import KernelPool
from wework.reports.scope import PLATFORM
from wework.reports.store import ReportStore

GROUP = "reports"
REPORT_SCOPES = dg.DynamicPartitionsDefinition(name="report_scope")


class ReportsResource(dg.ConfigurableResource):
    """Builds reports: one kernel pool per run (shared by the run's report steps) and the
    report store. Empty fields fall back to the settings (report_workers,
    report_period_days, report_cell_timeout_seconds)."""

    workers: int | None = None
    period_days: int | None = None
    cell_timeout_seconds: int | None = None
    _pools: dict[Path, KernelPool] = PrivateAttr(default_factory=dict)

    @property
    def period(self) -> int:
        return self.period_days or get_settings().report_period_days

    def store(self) -> ReportStore:
        s = get_settings()
        return ReportStore(s.reports_path, keep=s.report_keep_versions)

    def _pool(self, folder: Path) -> KernelPool:
        if folder not in self._pools:
            s = get_settings()
            self._pools[folder] = KernelPool(
                self.workers or s.report_workers,
                cwd=folder,
                timeout=self.cell_timeout_seconds or s.report_cell_timeout_seconds,
            )
        return self._pools[folder]

    def build(
        self, notebooks: list[Notebook], scopes: Iterable[str], run_id: str
    ) -> Iterator[Built]:
        pool = self._pool(notebooks[0].path.parent)
        return build_reports(
            notebooks, scopes, store=self.store(), pool=pool, period_days=self.period, run_id=run_id
        )

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()


class ReportInputsChanged(dg.AutomationCondition):
    """True for the scopes whose report was never built, or was built from other rows,
    another period or another version of the notebook than the current ones."""

    def __init__(self, notebook: Notebook) -> None:
        self.notebook = notebook
        super().__init__()

    @property
    def name(self) -> str:
        return "report_inputs_changed"

    def evaluate(self, context: dg.AutomationContext) -> dg.AutomationResult:
        s = get_settings()
        scopes = context.candidate_subset.expensively_compute_partition_keys()
        stale = stale_scopes(
            self.notebook,
            scopes,
            store=ReportStore(s.reports_path, keep=s.report_keep_versions),
            period_days=s.report_period_days,
        )
        return dg.AutomationResult(
            context, context.candidate_subset.compute_intersection_with_partition_keys(stale)
        )


def refresh_condition(notebook: Notebook) -> dg.AutomationCondition:
    """The scopes whose inputs changed, looked at when a scope is missing, after a publish
    or when the notebook changed; never while a dependency or the scope itself runs. A
    scope whose build failed is not retried until its inputs or code change."""
    trigger = (
        dg.AutomationCondition.missing()
        | dg.AutomationCondition.any_deps_updated()
        | dg.AutomationCondition.code_version_changed()
    ).since_last_handled()
    return (
        trigger
        & ReportInputsChanged(notebook)
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
    ).with_label("rebuild the scopes whose inputs changed")


def _failure_text(failed: list[Built]) -> str:
    parts = []
    for b in failed:
        e = b.error
        assert e is not None
        parts.append(
            f"{b.version.manifest['scope_label']}: {e.summary()}\n"
            + (f"--- failing cell ---\n{e.source}\n" if e.source else "")
        )
    return "\n".join(parts)


def _report_asset(notebook: Notebook) -> dg.AssetsDefinition:
    unknown = [m for m in notebook.reads if m not in MART_NAMES]
    if unknown:
        raise NotebookError(f"{notebook.path.name}: reads unknown marts {unknown}")

    @dg.asset(
        key=[GROUP, notebook.name],
        deps=[*(dg.AssetKey(["marts", m]) for m in notebook.reads), dg.AssetKey("published_marts")],
        partitions_def=REPORT_SCOPES,
        backfill_policy=dg.BackfillPolicy.single_run(),
        automation_condition=refresh_condition(notebook),
        code_version=notebook.code_version,
        group_name=GROUP,
        kinds={"jupyter", "html"},
        output_required=False,
        description=f"notebooks/{notebook.path.name} ({notebook.title}) run with papermill "
        "for each scope (platform-wide, or one tenant), rendered to HTML and kept in the "
        "report store (WEWORK_REPORTS_DIR).",
    )
    def _report(context: dg.AssetExecutionContext, reports: ReportsResource):
        scopes = [s for s in context.partition_keys if notebook.offered_for(s)]
        if len(scopes) < len(context.partition_keys):
            context.log.info(
                f"{notebook.name} is platform-wide only: its tenant scopes are not built"
            )
        failed = []
        for built in reports.build([notebook], scopes, context.run.run_id):
            if built.ok:
                meta = built.metadata()
                context.log_event(
                    dg.AssetMaterialization(
                        asset_key=context.asset_key,
                        partition=built.scope,
                        metadata={
                            **meta,
                            "findings": dg.MetadataValue.text(str(meta["findings"])),
                            "rows_read_by_mart": dg.MetadataValue.json(meta["rows_read_by_mart"]),
                            "html": dg.MetadataValue.path(str(meta["html"])),
                            "ipynb": dg.MetadataValue.path(str(meta["ipynb"])),
                        },
                    )
                )
            else:
                context.log.error(
                    f"{notebook.name} for {built.version.manifest['scope_label']}: "
                    f"{built.error.summary()} (the previous good report stays published)"
                )
                failed.append(built)
        if failed:
            raise dg.Failure(
                description=f"{len(failed)} of {len(scopes)} "
                f"{notebook.name} report(s) failed; their previous good versions stay published",
                metadata={
                    "failed_scopes": dg.MetadataValue.json([b.scope for b in failed]),
                    "failures": dg.MetadataValue.text(_failure_text(failed)),
                },
            )
        yield from ()  # each scope's materialization was logged above

    return _report


def report_assets(folder: Path = NOTEBOOKS_DIR) -> list[dg.AssetsDefinition]:
    """One asset per report notebook in ``folder``."""
    with warnings.catch_warnings():
        # backfill_policy is Beta; opted into knowingly (single runs share one kernel pool).
        warnings.simplefilter("ignore", dg.BetaWarning)
        return [_report_asset(nb) for nb in discover(folder)]


def wanted_scopes() -> list[str]:
    """``platform`` and every tenant with accounts in the published marts."""
    return [PLATFORM, *(t.tenant_id for t in tenant_scopes())]


def add_new_scopes(instance: dg.DagsterInstance) -> list[str]:
    """Register the scopes that have no partition yet (for in-process runs: the CLI,
    tests, the bench); returns them."""
    have = set(instance.get_dynamic_partitions(REPORT_SCOPES.name))
    new = [s for s in wanted_scopes() if s not in have]
    if new:
        instance.add_dynamic_partitions(REPORT_SCOPES.name, new)
    return new


@dg.sensor(
    name="report_scopes",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Adds a report_scope partition for every tenant that appears in the "
    "published marts (and 'platform'); the reports' automation then builds them.",
)
def report_scopes_sensor(context: dg.SensorEvaluationContext):
    snapshot = current_snapshot()
    if snapshot is None:
        return dg.SkipReason("nothing published yet")
    if context.cursor == snapshot.path:
        return dg.SkipReason("no new publish since the last check")
    have = set(context.instance.get_dynamic_partitions(REPORT_SCOPES.name))
    new = [s for s in wanted_scopes() if s not in have]
    return dg.SensorResult(
        dynamic_partitions_requests=[REPORT_SCOPES.build_add_request(new)] if new else [],
        cursor=snapshot.path,
    )


with warnings.catch_warnings():
    # use_user_code_server is Beta; opted into knowingly (see the module docstring).
    warnings.simplefilter("ignore", dg.BetaWarning)
    reports_automation_sensor = dg.AutomationConditionSensorDefinition(
        "reports_automation",
        target=dg.AssetSelection.groups(GROUP),
        use_user_code_server=True,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Evaluates the reports' automation condition in the code location: "
        "which scopes' inputs changed is Python (wework.reports.build.stale_scopes), which "
        "the daemon's default automation sensor cannot run.",
    )


def scope_ranges(ordered: list[str], wanted: Iterable[str]) -> list[tuple[str, str]]:
    """``wanted`` scopes as contiguous (first, last) ranges of the partition order: one
    single-run backfill each."""
    want = set(wanted)
    ranges: list[tuple[str, str]] = []
    start = prev = None
    for key in ordered:
        if key in want:
            start = start or key
            prev = key
        elif start is not None:
            ranges.append((start, prev))
            start = None
    if start is not None:
        ranges.append((start, prev))
    return ranges


def materialize_reports(
    instance: dg.DagsterInstance,
    *,
    notebooks: Iterable[str] | None = None,
    scopes: Iterable[str] | None = None,
    folder: Path = NOTEBOOKS_DIR,
    reports: ReportsResource | None = None,
) -> list[dg.ExecuteInProcessResult]:
    """Build reports in this process as Dagster runs on ``instance`` (the CLI, the tests,
    the bench): the ``notebooks`` (names; default all) for the ``scopes`` (default every
    partition, after registering new ones), one run per contiguous range of scopes."""
    from dagster._core.storage.tags import (
        ASSET_PARTITION_RANGE_END_TAG,
        ASSET_PARTITION_RANGE_START_TAG,
    )

    add_new_scopes(instance)
    names = set(notebooks) if notebooks is not None else None
    assets = [a for a in report_assets(folder) if names is None or a.key.path[-1] in names]
    ordered = instance.get_dynamic_partitions(REPORT_SCOPES.name)
    wanted = ordered if scopes is None else list(scopes)
    return [
        dg.materialize(
            assets,
            instance=instance,
            resources={"reports": reports or ReportsResource()},
            tags={ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last},
            raise_on_error=False,
            # Dagster's step-by-step DEBUG lines would drown the callers' summaries.
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        )
        for first, last in scope_ranges(ordered, wanted)
    ]

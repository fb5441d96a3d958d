"""Building reports: each (notebook, scope) executed on the kernel pool, rendered to HTML
and kept as a new version in the store — a failed one too, with its failing cell, while
readers keep seeing the last good version.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from wework.reports import render
from wework.reports.inputs import current_snapshot, fingerprint, period_for, tenant_scopes
from wework.reports.notebooks import Notebook
from wework.reports.runner import CellError, Job, KernelPool
from wework.reports.scope import PLATFORM, check_scope, tenant_of
from wework.reports.store import IPYNB, PAGE, ReportStore, Version

PLATFORM_LABEL = "All tenants"


@dataclass(frozen=True)
class Built:
    notebook: Notebook
    scope: str
    version: Version
    error: CellError | None

    @property
    def ok(self) -> bool:
        return self.error is None

    def metadata(self) -> dict[str, object]:
        """The version's manifest as flat Dagster metadata."""
        m = self.version.manifest
        rows = m.get("rows_read") or {}
        return {
            "scope": m["scope_label"],
            "version": self.version.id,
            "findings": "\n".join(f"- {line}" for line in m.get("findings") or []),
            "no_data": bool(m.get("no_data")),
            "rows_read": sum(rows.values()),
            "rows_read_by_mart": rows,
            "duration_seconds": m["duration_seconds"],
            "period": " – ".join(m["period"]) if m.get("period") else "",
            "marts_snapshot": (m.get("marts") or {}).get("snapshot") or "",
            "marts_published_at": (m.get("marts") or {}).get("published_at") or "",
            "inputs_fingerprint": m.get("inputs_fingerprint") or "",
            "html": str(self.version.file(PAGE) or ""),
            "ipynb": str(self.version.file(IPYNB) or ""),
        }


def scope_labels() -> dict[str, str]:
    """scope -> how reports name it: "All tenants", or a tenant's code and name."""
    labels = {PLATFORM: PLATFORM_LABEL}
    for t in tenant_scopes():
        name = f" ({t.tenant_name})" if t.tenant_name else ""
        labels[t.tenant_id] = f"{t.tenant_code}{name}"
    return labels


def build_reports(
    notebooks: Iterable[Notebook],
    scopes: Iterable[str],
    *,
    store: ReportStore,
    pool: KernelPool,
    period_days: int,
    run_id: str = "",
) -> Iterator[Built]:
    """Build every notebook for every scope; yields each as it finishes. ScopeError, before
    anything is built, for a platform-only notebook asked for a tenant."""
    items = [(nb, nb.check_scope(check_scope(scope))) for nb in notebooks for scope in scopes]
    snapshot = current_snapshot()
    labels = scope_labels()

    def build_one(item: tuple[Notebook, str], pool: KernelPool) -> Built:
        notebook, scope = item
        parameters = {"tenant_id": tenant_of(scope), "period_days": period_days}
        label = labels.get(scope, scope)
        with store.stage(scope, notebook.name) as staging:
            started = time.perf_counter()
            executed = pool.execute(Job(notebook, scope, parameters, staging.path / IPYNB))
            record = executed.record or {}
            built_at = datetime.now(UTC).replace(microsecond=0)
            default = period_for(snapshot, period_days)
            period = record.get("period") or [str(default.start), str(default.end)]
            if executed.ok:
                staging.write_page(
                    render.to_html(
                        executed.notebook,
                        {
                            "title": notebook.title,
                            "scope": label,
                            "period": " – ".join(period) + " (UTC)",
                            "built_at": f"{built_at:%Y-%m-%d %H:%M} UTC",
                            "published_at": (record.get("published_at") or "-")[:16],
                        },
                    ),
                )
            ipynb = staging.path / IPYNB
            if ipynb.exists():
                os.chmod(ipynb, 0o600)
            # The inputs of the snapshot published when the build started; unknown (None:
            # the report counts as stale) if the notebook read a newer one. A notebook that
            # failed before reading keeps the start's, so it is not retried until they change.
            read = record.get("snapshot")
            inputs = (
                fingerprint(notebook, scope, snapshot, period_days)
                if snapshot is not None and read in (None, snapshot.path)
                else None
            )
            staging.write_manifest(
                {
                    "notebook": notebook.name,
                    "title": notebook.title,
                    "scope": scope,
                    "scope_label": label,
                    "status": "ok" if executed.ok else "failed",
                    "no_data": bool(record.get("no_data")),
                    "built_at": built_at.isoformat(),
                    "duration_seconds": round(time.perf_counter() - started, 3),
                    "parameters": parameters,
                    "period": period,
                    "marts": {
                        "snapshot": os.path.basename(read) if read else None,
                        "published_at": record.get("published_at"),
                        "as_of": record.get("as_of"),
                    },
                    "inputs_fingerprint": inputs,
                    "code_version": notebook.code_version,
                    "rows_read": record.get("rows_read") or {},
                    "findings": record.get("findings") or [],
                    "error": executed.error.as_dict() if executed.error else None,
                    "run_id": run_id,
                }
            )
        store.prune(scope, notebook.name)
        version = store.version(scope, notebook.name, staging.version)
        assert version is not None
        return Built(notebook, scope, version, executed.error)

    yield from pool.map(build_one, items)


def stale_scopes(
    notebook: Notebook, scopes: Iterable[str], *, store: ReportStore, period_days: int
) -> set[str]:
    """The scopes whose report of ``notebook`` should be built: never built, or built
    from other inputs (marts rows, period) or another version of the notebook's code than
    the current ones; never a scope the notebook is not offered for. A failed build counts
    as built: it is retried when something changes, not on every evaluation."""
    snapshot = current_snapshot()
    if snapshot is None:
        return set()  # nothing published yet: nothing to build from
    stale = set()
    for scope in scopes:
        if not notebook.offered_for(scope):
            continue  # a platform-only report is never built for a tenant
        newest, _ = store.latest(scope, notebook.name)
        if newest is None:
            stale.add(scope)
            continue
        m = newest.manifest
        built_from = (m.get("inputs_fingerprint"), m.get("code_version"))
        now = (fingerprint(notebook, scope, snapshot, period_days), notebook.code_version)
        if built_from != now:
            stale.add(scope)
    return stale

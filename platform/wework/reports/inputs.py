"""What a report is built from, and whether that changed since its last build.

A report reads, for its scope and period, the rows of the marts its notebook lists
(``reads``). Each publish of the marts is one immutable snapshot; for every mart of it we
digest the rows of each tenant (a row count and an order-independent sum of row hashes,
one grouped scan per mart) and of the whole platform. A report's *input fingerprint* is
the digest of its marts for its scope plus its parameters. It changes exactly when the
rows the notebook would read change, whatever the publisher rewrote, and a snapshot is
digested once (cached by its file) however often the automation asks.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from wework.reports.notebooks import Notebook
from wework.reports.scope import PLATFORM, Period, mart_filter, resolve_period, tenant_of
from wework.warehouse import NoPublishedMarts, open_marts, snapshot_version


@dataclass(frozen=True)
class Snapshot:
    """One publish of the marts."""

    path: str
    published_at: datetime | None
    as_of: datetime | None
    run_id: str | None

    def as_metadata(self) -> dict:
        return {
            "snapshot": self.path.rsplit("/", 1)[-1],
            "published_at": self.published_at.isoformat() if self.published_at else None,
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "run_id": self.run_id,
        }


@dataclass(frozen=True)
class TenantScope:
    tenant_id: str
    tenant_code: str
    tenant_name: str


def current_snapshot() -> Snapshot | None:
    """The marts published now, or None before the first publish."""
    try:
        con = open_marts()
    except NoPublishedMarts:
        return None
    with con:
        row = con.execute("SELECT published_at, as_of, run_id FROM marts.publish_info").fetchone()
        published_at, as_of, run_id = row if row else (None, None, None)
        return Snapshot(snapshot_version(con), published_at, as_of, run_id)


@lru_cache(maxsize=4)
def _digests(snapshot_path: str, period_days: int) -> dict[str, tuple[bool, dict[str, str]]] | None:
    """mart -> (has a tenant column, scope -> digest of that scope's rows in the period),
    for the snapshot at ``snapshot_path``; None when it is no longer the published one."""
    try:
        con = open_marts()
    except NoPublishedMarts:
        return None
    with con:
        if snapshot_version(con) != snapshot_path:
            return None
        (as_of,) = con.execute("SELECT max(as_of) FROM marts.publish_info").fetchone()
        period = resolve_period(period_days, None, as_of)
        columns: dict[str, list[str]] = {}
        for table, column in con.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'marts' AND table_name <> 'publish_info'"
        ).fetchall():
            columns.setdefault(table, []).append(column)
        out: dict[str, tuple[bool, dict[str, str]]] = {}
        for mart, cols in columns.items():
            where, params = mart_filter(mart, cols, None, period)
            group = "tenant_id" if "tenant_id" in cols else "NULL"
            rows = con.execute(
                f"SELECT {group} AS scope, count(*), sum(hash(t))::VARCHAR "
                f'FROM (SELECT * FROM marts."{mart}"{where}) AS t GROUP BY ALL',
                params,
            ).fetchall()
            per_scope = {scope: f"{n}:{h}" for scope, n, h in rows if scope is not None}
            total_rows = sum(n for _, n, _ in rows)
            # An empty mart without tenant_id still gives one row: (NULL, 0, NULL).
            total_hash = sum(int(h) for _, _, h in rows if h is not None)
            per_scope[PLATFORM] = f"{total_rows}:{total_hash}"
            out[mart] = ("tenant_id" in cols, per_scope)
        return out


def fingerprint(notebook: Notebook, scope: str, snapshot: Snapshot, period_days: int) -> str | None:
    """The input fingerprint of ``notebook``'s report for ``scope`` on ``snapshot`` (with
    the period ending on the snapshot's as_of day); None when that snapshot is gone."""
    digests = _digests(snapshot.path, period_days)
    if digests is None:
        return None
    tenant = tenant_of(scope)
    parts: dict[str, object] = {
        "period": str(resolve_period(period_days, None, snapshot.as_of)),
        "scope": scope,
    }
    for mart in notebook.reads:
        if mart not in digests:
            parts[mart] = "not published"
            continue
        tenanted, per_scope = digests[mart]
        if tenant is not None and not tenanted:
            parts[mart] = "no tenant column"  # unreadable for a tenant: the notebook fails
        else:
            parts[mart] = per_scope.get(scope, "0:0")
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:24]


def tenant_scopes() -> list[TenantScope]:
    """The tenants that get their own reports: every tenant with a WeCom account in the
    published marts (a tenant without accounts has nothing to report)."""
    try:
        con = open_marts()
    except NoPublishedMarts:
        return []
    with con:
        rows = con.execute(
            "SELECT tenant_id, any_value(tenant_code), any_value(tenant_name) "
            "FROM marts.account_directory WHERE tenant_id IS NOT NULL GROUP BY tenant_id "
            "ORDER BY 2"
        ).fetchall()
    return [TenantScope(*row) for row in rows]


def period_for(snapshot: Snapshot | None, period_days: int) -> Period:
    return resolve_period(period_days, None, snapshot.as_of if snapshot else None)

"""Who and when a report covers: its scope (the whole platform or one tenant) and its
period (whole UTC days), and the SQL that restricts a mart to them.

The notebooks (through ``nbhelpers.Marts``) and the change detection
(:mod:`wework.reports.inputs`) both read the marts through :func:`mart_query`, so a report
is rebuilt exactly when the rows it reads change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

PLATFORM = "platform"  # the platform-wide scope; every other scope is a tenant id
_TENANT_ID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class ScopeError(ValueError):
    """A scope, period or mart that a report may not use; the message names which."""


def check_scope(scope: str) -> str:
    """``scope`` if it is ``"platform"`` or a tenant id (a UUID), else ScopeError. Scopes
    become folder names in the report store, so nothing else may pass."""
    if scope == PLATFORM or (isinstance(scope, str) and _TENANT_ID_RE.match(scope)):
        return scope
    raise ScopeError(f"scope: {scope!r} is neither {PLATFORM!r} nor a tenant id")


def tenant_of(scope: str) -> str | None:
    """The tenant id of a tenant scope; None for the platform-wide scope."""
    return None if check_scope(scope) == PLATFORM else scope


@dataclass(frozen=True)
class Period:
    """Whole UTC days ``start`` … ``end``, both included."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def __str__(self) -> str:
        return f"{self.start:%Y-%m-%d} – {self.end:%Y-%m-%d}"


def resolve_period(
    period_days: int, period_end: str | date | None, as_of: datetime | None
) -> Period:
    """The ``period_days`` days ending on ``period_end`` (an ISO date), or by default on the
    day of the marts' ``as_of`` (today when the marts carry none)."""
    if not isinstance(period_days, int) or isinstance(period_days, bool) or period_days < 1:
        raise ScopeError(f"period_days: must be a whole number of days >= 1, not {period_days!r}")
    if period_end is None or period_end == "":
        end = (as_of or datetime.now(UTC)).date()
    elif isinstance(period_end, date):
        end = period_end
    else:
        try:
            end = date.fromisoformat(str(period_end))
        except ValueError:
            raise ScopeError(
                f"period_end: {period_end!r} is not an ISO date (YYYY-MM-DD)"
            ) from None
    return Period(end - timedelta(days=period_days - 1), end)


def mart_filter(
    mart: str, columns: list[str] | tuple[str, ...], tenant_id: str | None, period: Period
) -> tuple[str, list[object]]:
    """``WHERE`` clause and parameters restricting ``marts.<mart>`` to a scope and period.

    Tenant: rows whose ``tenant_id`` is the tenant's; a mart without that column cannot
    be read for a tenant at all (it would mix tenants). Period: ``stat_date`` within it, or
    for a mart of things with a start and an end (``start_time`` / ``end_time``, batch
    tasks) those active during it, unfinished ones included; marts with neither (the
    account directory) are not cut by period.
    """
    clauses: list[str] = []
    params: list[object] = []
    if tenant_id is not None:
        if "tenant_id" not in columns:
            raise ScopeError(
                f"marts.{mart} has no tenant_id column: a tenant's report cannot read it "
                "(it would show other tenants' data)"
            )
        clauses.append("tenant_id = ?")
        params.append(tenant_id)
    if "stat_date" in columns:
        clauses.append("stat_date BETWEEN ? AND ?")
        params += [period.start, period.end]
    elif "start_time" in columns and "end_time" in columns:
        clauses.append(
            "(start_time IS NULL OR CAST(start_time AS DATE) <= ?) "
            "AND (end_time IS NULL OR CAST(end_time AS DATE) >= ?)"
        )
        params += [period.end, period.start]
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def mart_query(
    mart: str, columns: list[str] | tuple[str, ...], tenant_id: str | None, period: Period
) -> tuple[str, list[object]]:
    """``SELECT *`` of ``marts.<mart>`` restricted to the scope and period."""
    where, params = mart_filter(mart, columns, tenant_id, period)
    return f'SELECT * FROM marts."{mart}"{where}', params

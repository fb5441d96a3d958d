"""``wework db monitor`` (the database's health) and ``wework alerts`` (rules, evaluation,
current alerts and their history)."""

from __future__ import annotations

import json

import typer

from wework.cli.common import command_group, fail
from wework.config import reload_settings

alerts_app = command_group("Operator alerts: rules (alerts/rules.yaml), evaluation, history.")


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 1:
        return f"{value * 1000:.1f} ms"
    return f"{value:.2f} s" if value < 120 else f"{value / 60:.0f} min"


def db_monitor(
    top: int = typer.Option(None, "--top", min=1, max=100,
                            help="statements to list (default WEWORK_MONITOR_TOP_STATEMENTS)"),
    as_json: bool = typer.Option(False, "--json", help="print everything as JSON"),
) -> None:
    """The databases' health, per server and shard: top statements by total time (avg,
    p95), unused and duplicate indexes, table and partition sizes, connections against the
    maximum, buffer-pool hit rate, replica lag, partition headroom, backup ages, disk.
    Read as the monitor user; records nothing (the worker's db_monitor job does)."""
    from wework.metrics.database import read_database_health

    s = reload_settings()
    health = read_database_health(s, top=top or s.monitor_top_statements)
    if as_json:
        typer.echo(json.dumps(health.to_dict(), default=str, indent=2))
        return
    echo = typer.echo
    echo(f"database health at {health.at:%Y-%m-%d %H:%M:%S} UTC")
    for server in health.servers:
        echo(f"\n== {server.server}")
        if server.error:
            echo(f"  ERROR: {server.error}")
            continue
        echo(f"  connections {server.connections} of {server.max_connections} "
             f"(most ever {server.max_used_connections})")
        if server.buffer_pool_hit_rate is not None:
            echo(f"  buffer pool hit rate {server.buffer_pool_hit_rate:.4%}")
        echo("  top statements by total time:")
        for st in server.statements:
            p95 = _seconds(st.p95_seconds) + (f" [{st.p95_source}]" if st.p95_source else "")
            echo(f"    {_seconds(st.total_seconds):>10} total  {st.calls:>8} calls  "
                 f"avg {_seconds(st.avg_seconds)}  p95 {p95}  max {_seconds(st.max_seconds)}  "
                 f"{st.schema}: {st.text[:120]}")
        if not server.userstat:
            echo("  unused indexes: unknown (userstat is OFF; see `wework db check`)")
        else:
            echo(f"  unused indexes (no reads since the server started): "
                 f"{len(server.unused_indexes)}")
            for i in server.unused_indexes:
                echo(f"    {i.schema}.{i.table}.{i.name} ({', '.join(i.columns)})"
                     + (" unique" if i.unique else ""))
        echo(f"  duplicate indexes: {len(server.duplicate_indexes)}")
        for d in server.duplicate_indexes:
            echo(f"    {d.schema}.{d.table}.{d.name} ({', '.join(d.columns)}) "
                 f"is covered by {d.covered_by}")
        if server.server == "primary":
            echo("  tables (estimates):")
            for t in server.tables:
                name = f"{t.schema}.{t.table}" + (f" {t.partition}" if t.partition else "")
                echo(f"    {name:<60} {t.rows:>12} rows  {_size(t.total_bytes):>10}")
            echo("  partition headroom (p_future receives rows in):")
            for h in server.headroom:
                echo(f"    {h.schema}.{h.table:<30} {h.days:8.1f} days "
                     f"(from {h.future_from:%Y-%m-%d}; {h.rows_in_future} rows there now)")
    r = health.replication
    echo("\n== replication")
    if r is None:
        echo("  no separate replica")
    else:
        echo(f"  IO {r.io_running}, SQL {r.sql_running}, lag {_seconds(r.lag_seconds)}"
             + (f", last error: {r.last_error}" if r.last_error else ""))
    b = health.backups
    echo(f"\n== backups ({b.directory})")
    if b.error:
        echo(f"  ERROR: {b.error}")
    elif not b.count:
        echo("  none taken yet (the backup schedules start stopped)")
    else:
        echo(f"  {b.count} backup(s); last full {_seconds(b.full_age_seconds)} ago, "
             f"last recovery point {_seconds(b.recovery_point_age_seconds)} ago")
    if health.disk is not None:
        echo(f"\n== disk ({health.disk.path}): {_size(health.disk.free_bytes)} free "
             f"({health.disk.free_ratio:.1%})")


def add_monitor_commands(db_app: typer.Typer) -> None:
    db_app.command("monitor")(db_monitor)


@alerts_app.command("rules")
def alerts_rules() -> None:
    """The rules in effect (alerts/rules.yaml merged with WEWORK_ALERT_RULES_FILE)."""
    from wework.alerts.rules import RuleError, load_rules

    try:
        rules = load_rules(reload_settings())
    except RuleError as e:
        fail(str(e))
    for r in rules:
        op = f"> {r.above}" if r.above is not None else f"< {r.below}"
        echo = f"{r.name:<28} {r.signal} {op} for {r.for_seconds:.0f}s, repeat "
        typer.echo(echo + f"{r.repeat_seconds:.0f}s, {r.severity}, {r.scope}")


@alerts_app.command("evaluate")
def alerts_evaluate(
    deliver: bool = typer.Option(True, help="post the notices to WEWORK_ALERT_WEBHOOK_URL"),
) -> None:
    """Evaluate every rule once now (what the worker's alerts job does every minute)."""
    from wework.alerts.engine import evaluate
    from wework.alerts.notify import deliver_pending
    from wework.alerts.rules import RuleError

    s = reload_settings()
    try:
        result = evaluate(s)
    except RuleError as e:
        fail(str(e))
    typer.echo(result.line())
    for n in result.notices:
        typer.echo(f"  {n.kind.value:<8} {n.rule} {n.subject}: {n.summary}")
    if deliver:
        posted = deliver_pending(s)
        if posted:
            typer.echo("webhook: " + ", ".join(f"{k} {v}" for k, v in sorted(posted.items())))
    if result.errors:
        raise typer.Exit(1)


@alerts_app.command("list")
def alerts_list(
    history: int = typer.Option(20, help="also show this many recent notices"),
) -> None:
    """Alerts firing or pending now, and the latest notices."""
    from wework.alerts.history import active_alerts, recent_notices

    reload_settings()
    active = active_alerts()
    typer.echo(f"{len(active)} alert(s) firing or pending")
    for a in active:
        typer.echo(f"  {a.state.value:<8} {a.severity:<8} {a.rule} {a.subject}: {a.summary}")
    if history:
        typer.echo("recent notices:")
        for n in recent_notices(limit=history):
            typer.echo(f"  {n.at:%Y-%m-%d %H:%M:%S} {n.kind.value:<8} {n.rule} {n.subject} "
                       f"[{n.delivery.value}]: {n.summary}")


@alerts_app.command("secret")
def alerts_secret() -> None:
    """Print a new signing secret for WEWORK_ALERT_WEBHOOK_SECRET (give the same one to
    the receiver)."""
    from wework.security.webhooks import new_secret

    typer.echo(new_secret())


"""`wework db migrate | partitions | seed`: the schema and the sample data."""

from __future__ import annotations

import os
from datetime import datetime

import typer

from wework.cli.common import fail
from wework.config import reload_settings

SUPER_ADMIN = "superadmin"


def add_schema_commands(db_app: typer.Typer) -> None:
    db_app.command("migrate")(migrate)
    db_app.command("partitions")(partitions)
    db_app.command("seed")(seed)
    db_app.command("ddl")(ddl)


def ddl(
    write: bool = typer.Option(False, "--write", help="Write sql/mysql/schema.sql."),
) -> None:
    """Print the MySQL DDL of one shard database, rendered from the models (or, with
    --write, update sql/mysql/schema.sql, which a test keeps in step with the models)."""
    from wework.db.ddl import render_schema, write_schema

    if write:
        typer.echo(f"wrote {write_schema()}")
    else:
        typer.echo(render_schema(), nl=False)


def migrate(
    revision: str = typer.Argument("head", help="Alembic revision to upgrade to."),
    downgrade: bool = typer.Option(False, "--downgrade", help="Downgrade to REVISION instead."),
) -> None:
    """Create every shard database that is missing (`{db_name}_{i}`, i < WEWORK_SHARD_COUNT),
    upgrade each to the Alembic head (or REVISION), then add the partitions of the coming
    periods (as `db partitions` does). Safe to run again."""
    from wework.db import migrate as m

    settings = reload_settings()
    if downgrade:
        m.downgrade(revision, settings)
        typer.echo(f"downgraded {len(settings.shard_databases)} shard(s) to {revision}")
        return
    try:
        results = m.upgrade(revision, settings)
    except RuntimeError as e:
        fail(str(e))
    for r in results:
        added = sum(len(p.added) for p in r.partitions)
        typer.echo(f"{r.database}: {r.before or 'empty'} -> {r.after}; "
                   f"{added} partition(s) added")


def partitions() -> None:
    """Split the coming periods off each partitioned table's catch-all `p_future`
    partition (messages and account_status_history by year, two years ahead;
    callback_events by month, three months ahead), on every shard, and report rows that
    have fallen into `p_future`."""
    from wework.db import migrate as m

    for shard, reports in m.partitions(reload_settings()).items():
        for r in reports:
            note = f", {r.rows_in_future} row(s) in p_future!" if r.rows_in_future else ""
            added = ", ".join(r.added) or "none"
            typer.echo(f"shard {shard} {r.table}: {r.partitions} partitions, added {added}{note}")


def seed(
    tenants: int = typer.Option(20, help="Number of tenants."),
    accounts: int = typer.Option(400, help="WeCom accounts, spread unevenly over tenants."),
    days: int = typer.Option(90, help="Days of message history up to now."),
    messages: int = typer.Option(2_000_000, help="Messages to generate (bulk-loaded)."),
    seed_value: int = typer.Option(42, "--seed", help="Random seed: same seed, same data."),
    now: str = typer.Option(
        None, help="Pin 'now' (UTC, YYYY-MM-DDTHH:MM:SS) for fully reproducible data."),
    replace: bool = typer.Option(
        False, "--replace", help="Wipe every table first if the database holds data."),
    if_empty: bool = typer.Option(
        False, "--if-empty", help="Do nothing (exit 0) if the database already holds data."),
) -> None:
    """Generate coherent multi-tenant sample data: tenants with quotas, users and roles,
    accounts in every status with matching status histories, conversations, templates,
    batch tasks whose counters match their messages, messages of every type and status,
    and callback events. Also creates the platform super-admin. Demo logins (one generated
    password) are printed and saved to <data_dir>/sets/<db_name>/demo-logins.txt (see
    `wework config get demo_logins_file`)."""
    from wework.errors import ServiceError
    from wework.seed import SeedConfig, SeedError, table_counts
    from wework.seed import seed as run_seed
    from wework.services.tenants import bootstrap_platform

    settings = reload_settings()
    if if_empty and not replace:
        counts = table_counts(settings)
        if counts["tenants"] or counts["messages"]:
            typer.echo(f"the database already holds data ({counts['tenants']} tenants, "
                       f"{counts['messages']:,} messages): not seeding (--replace reloads)")
            return
    try:
        pinned = datetime.fromisoformat(now) if now else None
    except ValueError:
        fail(f"now: {now!r} is not an ISO timestamp (YYYY-MM-DDTHH:MM:SS)")
    cfg = SeedConfig(tenants=tenants, accounts=accounts, days=days, messages=messages,
                     seed=seed_value, now=pinned)
    try:
        summary = run_seed(cfg, settings, replace=replace, progress=typer.echo)
        bootstrap_platform(SUPER_ADMIN, "superadmin@platform.example.com",
                           summary.demo_password)
    except (SeedError, ServiceError) as e:
        fail(str(e))
    typer.echo("rows: " + ", ".join(f"{t} {n:,}" for t, n in summary.counts.items()))
    typer.echo(f"messages loaded at {summary.messages_per_second:,.0f} rows/s; "
               + ", ".join(f"{k} {v:.1f}s" for k, v in summary.seconds.items()))
    lines = [f"password for every demo login: {summary.demo_password}",
             f"  super-admin: {SUPER_ADMIN}"]
    first = next(iter(summary.demo_users.items()), None)
    if first:
        tenant, roles = first
        lines += [f"  {role} of tenant {tenant}: {user}" for role, user in sorted(roles.items())]
        lines.append("  (every tenant tNNN has the same users: tNNN_admin0, tNNN_operator1, "
                     "tNNN_analyst3)")
    path = settings.demo_logins_file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    os.chmod(path, 0o600)
    typer.echo("\n".join(lines))
    typer.echo(f"(saved to {path})")

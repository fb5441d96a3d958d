"""``wework db check | grants``: how the servers are set up (the spec's monitoring
settings, least privilege), for the local pair or any servers given by URL."""

from __future__ import annotations

import typer

from wework.config import reload_settings


def db_check() -> None:
    """Report, for the configured servers (local or external), which of the spec's
    monitoring settings are off (slow query log with long_query_time <= 1, queries not
    using indexes rate-limited, userstat, performance_schema statement digests), plus
    secure_file_priv, read_only and parallel replication on the replica; and which
    database users hold more privileges than their work needs, or lack some. Exits
    non-zero if anything is off."""
    from wework.db.check import check

    report = check(reload_settings())
    for error in report.errors:
        typer.secho(f"error: {error}", fg=typer.colors.RED)
    typer.echo("settings:")
    for c in report.settings:
        mark = "ok " if c.ok else "OFF"
        line = f"  {mark} {c.server:<8} {c.name}: {c.actual}"
        typer.echo(line if c.ok else f"{line}  (wanted: {c.wanted})")
    typer.echo("users:")
    shown: set[tuple[str, str | None]] = set()
    for u in report.users:
        who = f"{u.user.value:<8} on {u.server:<8} as {u.account or '-'}"
        if u.error:
            typer.echo(f"  ERR {who}: cannot log in: {u.error}")
            continue
        assert u.report is not None
        typer.echo(f"  {'ok ' if u.ok else 'BAD'} {who}")
        if u.shared_with:
            roles = ", ".join(r.value for r in u.shared_with)
            typer.echo(f"        shares its login with {roles}: give each role its own user")
        if (u.server, u.account) in shown and u.report.excess:
            typer.echo("        (its extra privileges are listed above)")
            continue
        shown.add((u.server, u.account))
        for excess in u.report.excess:
            typer.echo(f"        more than it needs: {excess}")
        for missing in u.report.missing:
            typer.echo(f"        lacks: {missing}")
        for note in u.report.notes:
            typer.echo(f"        note: {note}")
    if not report.ok:
        raise typer.Exit(1)
    typer.echo("ok: every setting on, every user holds exactly what its work needs")


def db_grants(
    host: str = typer.Option("%", help="Host part of the accounts ('10.0.%', an address)."),
) -> None:
    """Print the CREATE USER / GRANT statements for external servers: one user per kind of
    work, each with only what it needs (the same definitions the local stack grants and
    `db check` compares against). Passwords are placeholders."""
    from wework.db.engines import DbUser, local_user_name
    from wework.db.privileges import NEEDED, external_database_patterns, grant_statements

    settings = reload_settings()
    patterns = external_database_patterns(settings.db_name)
    typer.echo(f"-- WeWork platform users; databases {', '.join(patterns)} (run as an admin).")
    for user in DbUser:
        name = local_user_name(user, settings)
        account = f"'{name}'@'{host}'"
        setting = (
            "the user in WEWORK_PRIMARY_URL / WEWORK_REPLICA_URL"
            if user is DbUser.APP
            else " / ".join("WEWORK_" + f"db_{user}_{p}".upper() for p in ("user", "password"))
        )
        typer.echo(f"\n-- {user.value}: {setting}")
        typer.echo(f"CREATE USER {account} IDENTIFIED BY '<{user.value} password>';")
        for statement in grant_statements(NEEDED[user], account, patterns):
            typer.echo(f"{statement};")
    typer.echo(
        "\n-- restore (rare, by an operator): a DBA account with the migrator's privileges "
        "and BINLOG REPLAY, given as WEWORK_DB_RESTORE_USER/_PASSWORD for the occasion."
    )


def add_privilege_commands(db_app: typer.Typer) -> None:
    db_app.command("check")(db_check)
    db_app.command("grants")(db_grants)

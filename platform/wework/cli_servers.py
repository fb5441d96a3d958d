"""``wework db check | grants`` and ``wework cache up | down | status``: how the servers
are set up (least privilege, the spec's monitoring settings) and the local Redis. Thin:
each command calls into the package and prints."""

from __future__ import annotations

import typer

from wework.config import reload_settings

cache_app = typer.Typer(
    help=(
        "Redis (cache, throttles; never the source of truth). Without WEWORK_REDIS_URL, "
        "`up` runs a local redis-server on WEWORK_REDIS_PORT with its files under "
        "<data_dir>/redis and a password generated into local.env."
    ),
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


def _fail(message: str) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


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
            else f"WEWORK_DB_{user.name}_USER / WEWORK_DB_{user.name}_PASSWORD"
        )
        typer.echo(f"\n-- {user.value}: {setting}")
        typer.echo(f"CREATE USER {account} IDENTIFIED BY '<{user.value} password>';")
        for statement in grant_statements(NEEDED[user], account, patterns):
            typer.echo(f"{statement};")
    typer.echo(
        "\n-- restore (rare, by an operator): a DBA account with the migrator's privileges "
        "and BINLOG REPLAY, given as WEWORK_DB_RESTORE_USER/_PASSWORD for the occasion."
    )


@cache_app.command("up")
def cache_up() -> None:
    """Start the local redis-server, detached (safe to run again: a running one is kept).
    With WEWORK_REDIS_URL set, starts nothing and checks that Redis answers."""
    from wework.cache.redis import new_redis
    from wework.cache.server import CacheServerError, LocalRedis

    settings = reload_settings()
    if settings.redis_url:
        guarded = new_redis(settings)
        if not guarded.ping():
            _fail(f"Redis from WEWORK_REDIS_URL at {guarded.address} does not answer")
        typer.echo(f"Using Redis from WEWORK_REDIS_URL at {guarded.address}: it answers.")
        return
    try:
        typer.echo(LocalRedis.from_settings(settings, echo=typer.echo).up())
    except CacheServerError as e:
        _fail(str(e))
    reload_settings()  # pick up a freshly generated password


@cache_app.command("down")
def cache_down() -> None:
    """Stop the local redis-server (it keeps nothing: Redis is a cache). Safe to run
    again. With WEWORK_REDIS_URL, stops nothing."""
    from wework.cache.server import LocalRedis

    settings = reload_settings()
    if settings.redis_url:
        typer.echo("Using Redis from WEWORK_REDIS_URL: nothing to stop.")
        return
    typer.echo(LocalRedis.from_settings(settings, echo=typer.echo).down())


@cache_app.command("status")
def cache_status() -> None:
    """Show where the platform's Redis is and whether it answers. Exits non-zero when it
    does not."""
    from wework.cache.redis import new_redis
    from wework.cache.server import LocalRedis

    settings = reload_settings()
    guarded = new_redis(settings)
    answers = guarded.ping()
    if settings.redis_url:
        typer.echo(f"Redis from WEWORK_REDIS_URL at {guarded.address}: "
                   f"{'answers' if answers else 'does NOT answer'}")
    else:
        st = LocalRedis.from_settings(settings).status()
        if not st.running:
            typer.echo(f"local redis-server: not running (port {st.port})")
        else:
            typer.echo(
                f"local redis-server: pid {st.pid}, OS user {st.os_user}, 127.0.0.1:{st.port}, "
                f"version {st.version or '?'}, memory {st.used_memory or '?'}, "
                f"{'answers' if answers else 'does NOT answer'}"
            )
    if not answers:
        raise typer.Exit(1)


def register(app: typer.Typer, db_app: typer.Typer) -> None:
    """Add these commands to the ``wework`` command."""
    db_app.command("check")(db_check)
    db_app.command("grants")(db_grants)
    app.add_typer(cache_app, name="cache")

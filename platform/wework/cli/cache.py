"""``wework cache up | down | status``: the local Redis (or the one in WEWORK_REDIS_URL)."""

from __future__ import annotations

import typer

from wework.cli.common import command_group, fail
from wework.config import reload_settings

cache_app = command_group(
    "Redis (cache, throttles; never the source of truth). Without WEWORK_REDIS_URL, `up` "
    "runs a local redis-server on WEWORK_REDIS_PORT with its files under <data_dir>/redis "
    "and a password generated into local.env."
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
            fail(f"Redis from WEWORK_REDIS_URL at {guarded.address} does not answer")
        typer.echo(f"Using Redis from WEWORK_REDIS_URL at {guarded.address}: it answers.")
        return
    try:
        typer.echo(LocalRedis.from_settings(settings, echo=typer.echo).up())
    except CacheServerError as e:
        fail(str(e))
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

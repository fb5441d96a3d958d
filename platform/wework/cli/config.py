"""``wework config show | get``: the settings in effect (``wework.config.Settings``)."""

from __future__ import annotations

import typer

from wework.cli.common import command_group, fail
from wework.config import DERIVED, ENV_FILE, Settings, is_secret, reload_settings, shown

config_app = command_group(
    "The settings in effect: WEWORK_ variables from the environment, .env and "
    "<data_dir>/local.env (later wins: local.env < .env < environment)."
)


@config_app.command("show")
def show() -> None:
    """Every setting and the paths derived from them; secrets are masked."""
    settings = reload_settings()
    typer.echo(f"# .env: {ENV_FILE if ENV_FILE.exists() else '(none)'}")
    for name in Settings.model_fields:
        typer.echo(f"{name} = {shown(name, getattr(settings, name))}")
    for name in DERIVED:
        typer.echo(f"{name} = {shown(name, getattr(settings, name))}  (derived)")


@config_app.command("get")
def get(
    name: str = typer.Argument(help="A setting (e.g. app_port) or a derived path (set_dir)."),
) -> None:
    """Print one setting's value, for scripts (`PORT=$(wework config get app_port)`).
    Secrets are refused: they stay where they are used."""
    if name not in Settings.model_fields and name not in DERIVED:
        fail(f"{name}: no such setting (see `wework config show`)")
    if is_secret(name):
        fail(f"{name}: is a secret and is not printed")
    value = getattr(reload_settings(), name)
    typer.echo("" if value is None else shown(name, value))

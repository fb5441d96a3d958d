"""What every command group shares: how a group is made and how a command fails."""

from __future__ import annotations

from typing import NoReturn

import typer


def command_group(help: str) -> typer.Typer:
    """A ``wework <group>`` Typer: help when called bare, docstrings wrapped as markdown
    paragraphs, and tracebacks without locals (they would print passwords and keys)."""
    return typer.Typer(
        help=help,
        no_args_is_help=True,
        rich_markup_mode="markdown",
        pretty_exceptions_show_locals=False,
    )


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``message`` in red on stderr and exit with ``code``."""
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(code)

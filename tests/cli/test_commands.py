"""The ``wework`` command tree: every group and command is registered and documented."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from wework.cli import app

runner = CliRunner()


def _commands(command, path=()):
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _commands(sub, (*path, name))


def test_every_command_has_help():
    tree = list(_commands(typer.main.get_command(app)))
    names = {" ".join(path) for path, _ in tree}
    # The groups the README documents (a group dropped from cli/__init__.py fails here).
    for group in ("db", "metrics", "keys", "app", "callbacks", "simulate", "etl"):
        assert group in names
    for path, command in tree:
        assert (command.help or "").strip(), f"wework {' '.join(path)} has no help text"
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage:" in result.output


def test_a_failing_command_says_why_on_stderr_and_exits_non_zero():
    result = runner.invoke(app, ["callbacks", "replay", "--status", "no-such-status"])
    assert result.exit_code == 2
    assert "status" in result.stderr

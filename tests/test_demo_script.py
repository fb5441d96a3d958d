"""`scripts/demo.sh`: every server it starts listens on localhost only (the Dagster UI, the
app, JupyterLab, the HTTP API and the gateway simulator have no login of their own strong
enough to face a network: README, production section); the worker sends to the simulator
it started, the simulator posts its callbacks to the API it started; `--stop` stops
everything it started, the worker first."""

from __future__ import annotations

import re
import shlex
import subprocess

import pytest

from wework.config import REPO_ROOT

DEMO = REPO_ROOT / "scripts" / "demo.sh"


def joined_lines() -> list[str]:
    return re.sub(r"\\\n\s*", " ", DEMO.read_text()).splitlines()  # continuation lines


def served() -> dict[str, list[str]]:
    """name -> the command demo.sh runs in the background (``start_bg NAME COMMAND…``)."""
    return {words[1]: words[2:] for words in (shlex.split(line) for line in joined_lines()
                                              if line.startswith("start_bg "))}


def stop_order() -> list[str]:
    stopping = [line for line in joined_lines() if "stop_bg " in line
                and not line.lstrip().startswith(("stop_bg()", "#", "local"))]
    return [m for line in stopping for m in re.findall(r"stop_bg ([\w-]+)", line)]


def option(command: list[str], *names: str) -> str | None:
    for i, arg in enumerate(command):
        if arg in names:
            return command[i + 1]
        for name in names:
            if arg.startswith(f"{name}="):
                return arg.split("=", 1)[1]
    return None


def test_the_script_parses():
    subprocess.run(["bash", "-n", str(DEMO)], check=True)


@pytest.mark.parametrize(("name", "flags"), [
    ("dagster", ("-h", "--host")),
    ("app", ("--address", "--server.address")),
    ("jupyter", ("--ServerApp.ip",)),
    ("api", ("--host",)),
    ("gateway-sim", ("--host",)),
])
def test_every_server_listens_on_localhost(name, flags):
    command = served()[name]
    assert option(command, *flags) == "127.0.0.1", command


def test_the_live_loop_crosses_the_network():
    commands = served()
    text = DEMO.read_text()
    assert re.search(r'^API_URL=http://127\.0\.0\.1:\$\(setting api_port\)$', text, re.M)
    assert re.search(r'^SIM_URL=http://127\.0\.0\.1:\$\(setting gateway_sim_port\)$', text,
                     re.M)
    sim = commands["gateway-sim"]
    assert sim[1:3] == ["gateway-sim", "serve"], sim
    assert option(sim, "--callback-url") == "$API_URL"
    assert option(sim, "--secret-file") == "$SIM_SECRET"  # never on the command line itself
    assert option(sim, "--activity-every") is not None  # continuous activity
    worker = commands["worker"]
    assert worker[0] == "env" and "WEWORK_GATEWAY_URL=$SIM_URL" in worker, worker
    assert worker[-1] == "worker"
    # The secret is issued through the CLI, into a mode-600 file in the data directory.
    assert re.search(r'gateway secrets create "\$SIM_GATEWAY" --output-file "\$SIM_SECRET"',
                     text)
    assert re.search(r"^SIM_SECRET=\$DATA/", text, re.M)


def test_stop_stops_everything_it_started_worker_first():
    order = stop_order()
    assert order[0] == "worker", order
    assert set(served()) <= set(order), (set(served()) - set(order))
    # The simulator stops before the API it flushes its last callbacks to.
    assert order.index("gateway-sim") < order.index("api"), order

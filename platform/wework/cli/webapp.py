"""``wework app serve``: the Streamlit app, headless, on localhost.

:func:`streamlit_command` is the one place that knows how the app is started; the e2e
tests and the README's main command use it too (:func:`start_app` runs it in the
background and waits until the app answers).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import typer

from wework.cli.common import command_group
from wework.config import REPO_ROOT, reload_settings

APP_MAIN = REPO_ROOT / "app" / "main.py"

app_app = command_group("The Streamlit app (reports and admin).")


def streamlit_command(port: int = 8501, address: str = "127.0.0.1") -> list[str]:
    return [
        sys.executable, "-m", "streamlit", "run", str(APP_MAIN),
        "--server.headless", "true",
        "--server.port", str(port),
        "--server.address", address,
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
        "--client.toolbarMode", "viewer",  # no developer menu / deploy button for users
    ]


def app_url(port: int = 8501, address: str = "127.0.0.1") -> str:
    return f"http://{address}:{port}"


def wait_until_up(url: str, timeout: float = 60.0) -> None:
    """Poll Streamlit's health endpoint; TimeoutError if it does not answer in time."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"the app did not answer at {url} within {timeout:.0f} s")
        time.sleep(0.3)


def start_app(port: int = 8501, address: str = "127.0.0.1", *, log: Path | None = None,
              env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start the app in the background (own process group, so ``os.killpg`` stops it and
    its children) and return once it answers."""
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - owned by the child
    proc = subprocess.Popen(streamlit_command(port, address), cwd=REPO_ROOT, stdout=out,
                            stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
                            start_new_session=True)
    try:
        wait_until_up(app_url(port, address))
    except TimeoutError:
        proc.kill()
        raise
    return proc


@app_app.command("serve")
def serve(
    port: int = typer.Option(None, help="TCP port (default: WEWORK_APP_PORT, 8501)."),
    address: str = typer.Option("127.0.0.1", help="Address to listen on."),
) -> None:
    """Run the app in the foreground (Ctrl-C stops it). Session idle timeout:
    WEWORK_APP_IDLE_MINUTES (default 30)."""
    port = port or reload_settings().app_port
    typer.echo(f"WeWork app: {app_url(port, address)}  (Ctrl-C to stop)")
    proc = subprocess.Popen(streamlit_command(port, address), cwd=REPO_ROOT)
    try:
        raise typer.Exit(proc.wait())
    except KeyboardInterrupt:
        proc.terminate()
        raise typer.Exit(proc.wait()) from None

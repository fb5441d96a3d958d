"""``wework gateway secrets …`` (the gateways' signing secrets) and ``wework gateway-sim
serve`` (the gateway SIMULATOR as an HTTP server)."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from wework.cli.common import command_group, fail
from wework.config import reload_settings

gateway_app = command_group("The WeCom instance gateways.")
secrets_app = command_group(
    "Signing secrets of the gateways (Standard Webhooks): a gateway signs its callbacks "
    "with its secret; `wework api` accepts any valid one. Shown once, stored encrypted.")
gateway_app.add_typer(secrets_app, name="secrets")
gateway_sim_app = command_group("The WeCom gateway SIMULATOR over HTTP (not the real WeCom).")


def _show_once(issued, output_file: Path | None) -> None:
    info = issued.info
    typer.echo(f"gateway {info.gateway_name}: secret {info.id} (fingerprint {info.fingerprint})",
               err=True)
    if output_file is None:
        typer.echo(issued.secret)
        typer.echo("Shown once: configure the gateway with it now; it cannot be shown again.",
                   err=True)
        return
    fd = os.open(output_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(issued.secret + "\n")
    typer.echo(f"written to {output_file} (mode 600); it cannot be shown again", err=True)


def _service_call(fn, *args, **kwargs):
    from wework.errors import ServiceError

    reload_settings()
    try:
        return fn(*args, **kwargs)
    except ServiceError as exc:
        fail(str(exc))


@secrets_app.command("create")
def secrets_create(
    gateway: str = typer.Argument(..., help="The gateway's name (e.g. gw-shanghai-1)."),
    output_file: Path = typer.Option(None, help="Write the secret to this file (mode 600) "
                                                "instead of printing it."),
) -> None:
    """Issue the first secret of a gateway."""
    from wework.services import gateway_secrets

    _show_once(_service_call(gateway_secrets.create, None, gateway), output_file)


@secrets_app.command("rotate")
def secrets_rotate(
    gateway: str = typer.Argument(..., help="The gateway's name."),
    grace_hours: float = typer.Option(
        None, min=0, help="How long its current secrets stay valid "
                          "[WEWORK_GATEWAY_SECRET_GRACE_HOURS, 24]."),
    output_file: Path = typer.Option(None, help="Write the new secret to this file (mode 600)."),
) -> None:
    """Issue a new secret for a gateway; the old ones keep verifying for the grace period."""
    from wework.services import gateway_secrets

    _show_once(_service_call(gateway_secrets.rotate, None, gateway, grace_hours), output_file)


@secrets_app.command("revoke")
def secrets_revoke(secret_id: str = typer.Argument(..., help="The secret's id (see list).")):
    """End a secret now (e.g. it leaked)."""
    from wework.services import gateway_secrets

    info = _service_call(gateway_secrets.revoke, None, secret_id)
    typer.echo(f"revoked {info.id} of gateway {info.gateway_name}")


@secrets_app.command("list")
def secrets_list(
    all_: bool = typer.Option(False, "--all", help="Also expired and revoked secrets."),
) -> None:
    """Every gateway's secrets (never their values)."""
    from wework.services import gateway_secrets

    rows = _service_call(gateway_secrets.list_secrets, None, include_ended=all_)
    if not rows:
        typer.echo("no gateway secrets")
        return

    def when(value) -> str:
        return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"

    table = [("gateway", "id", "fingerprint", "state", "created", "expires", "created by")]
    table += [(r.gateway_name, r.id, r.fingerprint, r.state, when(r.created_at),
               when(r.expires_at or r.revoked_at), r.created_by) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        typer.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


@gateway_sim_app.command("serve")
def sim_serve(
    host: str = typer.Option(None, help="[WEWORK_GATEWAY_SIM_HOST, 127.0.0.1]"),
    port: int = typer.Option(None, help="[WEWORK_GATEWAY_SIM_PORT, 8090]"),
    callback_url: str = typer.Option(
        None, help="The API to post callbacks to [WEWORK_GATEWAY_SIM_CALLBACK_URL]."),
    secret_file: Path = typer.Option(
        None, help="File holding the signing secret [else WEWORK_GATEWAY_SIM_SECRET]."),
    activity_every: float = typer.Option(
        None, min=0.05, help="Tick every N seconds: heartbeats, disconnects, reconnects."),
    latency_ms: float = typer.Option(0.0, min=0.0, help="Max simulated send latency."),
    failure_rate: float = typer.Option(0.0, min=0.0, max=1.0, help="Refused sends (503)."),
    delivery_failure_rate: float = typer.Option(0.0, min=0.0, max=1.0,
                                                help="Receipts reporting failure."),
    disconnect_rate: float = typer.Option(0.0, min=0.0, max=1.0,
                                          help="Per online instance and tick."),
    batch_size: int = typer.Option(200, min=1, help="Events per callback delivery."),
    login_accounts: bool = typer.Option(
        False, help="Demo shortcut: learn the instances from the platform's database and "
                    "log in the offline ones."),
    seed: int = typer.Option(None, help="Random seed (repeatable runs)."),
) -> None:
    """Serve the gateway SIMULATOR: sends over HTTP, signed callbacks posted to the API.
    With WEWORK_GATEWAY_TOKEN set, sends and logins must carry it as a bearer token."""
    import uvicorn

    from wework.gateway.sim_server import SimServerConfig, create_app, register_platform_accounts
    from wework.gateway.simulator import WeComGatewaySimulator

    s = reload_settings()
    secret = secret_file.read_text().strip() if secret_file else s.gateway_sim_secret
    url = callback_url or s.gateway_sim_callback_url
    if url and not secret:
        fail("posting callbacks needs the gateway secret: --secret-file or "
              "WEWORK_GATEWAY_SIM_SECRET (issue one with `wework gateway secrets create`)")
    if not url:
        typer.echo("warning: no callback URL: callbacks are counted and dropped", err=True)
    sim = WeComGatewaySimulator(latency_ms=(0.0, latency_ms), failure_rate=failure_rate,
                                delivery_failure_rate=delivery_failure_rate,
                                disconnect_rate=disconnect_rate, reconnect_rate=0.3, seed=seed)
    if login_accounts:
        typer.echo(f"registered {register_platform_accounts(sim)} instances", err=True)
    try:
        app = create_app(sim, SimServerConfig(url, secret, batch_size=batch_size,
                                              activity_seconds=activity_every,
                                              token=s.gateway_token))
    except ValueError as exc:
        fail(str(exc))
    uvicorn.run(app, host=host or s.gateway_sim_host, port=port or s.gateway_sim_port,
                access_log=False, server_header=False)

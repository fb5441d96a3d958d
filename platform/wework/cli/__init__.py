"""The ``wework`` command (Typer). Thin: each command calls into the package and prints.

One module per command group; this file only assembles them. To add a group, write
``wework/cli/<group>.py`` with its own ``command_group(...)`` and register it below with one
``app.add_typer`` line; ``db`` subcommands go on ``db_app``.

Groups that live outside the platform package plug in through the ``wework.cli``
entry-point group (``[project.entry-points."wework.cli"]`` in pyproject.toml), so the
platform never imports them: the pipelines' ``wework etl`` (``pipelines/cli.py``).
"""

from __future__ import annotations

from importlib.metadata import entry_points

from wework.cli.api import api
from wework.cli.cache import cache_app
from wework.cli.common import command_group, fail
from wework.cli.config import config_app
from wework.cli.db import db_app
from wework.cli.gateway import gateway_app, gateway_sim_app
from wework.cli.keys import keys_app
from wework.cli.messaging import callbacks_app, simulate
from wework.cli.metrics import metrics_app
from wework.cli.monitor import add_monitor_commands, alerts_app
from wework.cli.ops import add_ops_commands
from wework.cli.privileges import add_privilege_commands
from wework.cli.schema import add_schema_commands
from wework.cli.webapp import app_app
from wework.cli.worker import worker_app
from wework.config import SettingsError, reload_settings

app = command_group("WeWork Platform: databases, pipelines and the app.")


@app.callback()
def _check_settings() -> None:
    """Refuse to run any command on settings that do not validate, naming each variable."""
    try:
        reload_settings()
    except SettingsError as exc:
        fail(str(exc))


add_schema_commands(db_app)  # db migrate | partitions | ddl | seed
add_ops_commands(db_app)  # db backup | backups | restore | maintain
add_privilege_commands(db_app)  # db check | grants
add_monitor_commands(db_app)  # db monitor
app.add_typer(db_app, name="db")
app.add_typer(metrics_app, name="metrics")
app.add_typer(cache_app, name="cache")
app.add_typer(keys_app, name="keys")
app.add_typer(app_app, name="app")
app.add_typer(callbacks_app, name="callbacks")
app.add_typer(config_app, name="config")
app.add_typer(worker_app, name="worker")
app.add_typer(alerts_app, name="alerts")
app.command("simulate")(simulate)
app.command("api")(api)
app.add_typer(gateway_app, name="gateway")
app.add_typer(gateway_sim_app, name="gateway-sim")
for plugin in sorted(entry_points(group="wework.cli"), key=lambda ep: ep.name):
    app.add_typer(plugin.load(), name=plugin.name)

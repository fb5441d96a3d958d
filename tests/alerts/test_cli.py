"""``wework db monitor`` and ``wework alerts``, run in-process on the session's databases."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from wework.cli import app

runner = CliRunner()


def test_db_monitor_reads_both_servers_as_json(settings):
    result = runner.invoke(app, ["db", "monitor", "--json", "--top", "3"])
    assert result.exit_code == 0, result.output
    health = json.loads(result.output)
    servers = {s["server"]: s for s in health["servers"]}
    assert set(servers) == {"primary", "replica"}
    assert all(s["error"] is None for s in servers.values())
    assert 0 < len(servers["primary"]["statements"]) <= 3
    assert {h["table"] for h in servers["primary"]["headroom"]} >= {"messages"}
    assert health["replication"]["sql_running"] == "Yes"


def test_alerts_rules_lists_the_rules_and_refuses_a_bad_override(settings, tmp_path):
    result = runner.invoke(app, ["alerts", "rules"])
    assert result.exit_code == 0, result.output
    assert len(result.output.splitlines()) == 10 and "replica_lag" in result.output
    bad = tmp_path / "rules.yaml"
    bad.write_text("rules:\n  - name: disk_free\n    below: lots\n")
    result = runner.invoke(app, ["alerts", "rules"], env={"WEWORK_ALERT_RULES_FILE": str(bad)})
    assert result.exit_code != 0
    assert "rule disk_free: below: must be a number" in result.stderr

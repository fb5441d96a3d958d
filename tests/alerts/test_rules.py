"""Alert rules are data: the repository's defaults, merged with a deployment's override
file by name; a bad file is refused naming the file, the rule and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from wework.alerts.rules import RuleError, load_rules
from wework.config import Settings

ISSUE_DEFAULTS = {  # the issue's table
    "replica_lag": ("replica_lag_seconds", "above", 1.0, 60.0),
    "replication_stopped": ("replication_stopped", "above", 0.0, 0.0),
    "partition_headroom": ("partition_headroom_days", "below", 30.0, 0.0),
    "backup_full_age": ("backup_full_age_seconds", "above", 86400.0, 0.0),
    "backup_recovery_point_age": ("backup_recovery_point_age_seconds", "above", 900.0, 0.0),
    "callback_failure_rate": ("callback_failure_rate", "above", 0.05, 0.0),
    "tenant_accounts_unhealthy": ("tenant_accounts_unhealthy_ratio", "above", 0.20, 0.0),
    "marts_stale": ("marts_age_seconds", "above", 7200.0, 0.0),
    "cache_hit_rate": ("cache_hit_rate", "below", 0.90, 300.0),
    "disk_free": ("disk_free_ratio", "below", 0.10, 0.0),
}


def with_overrides(settings: Settings, tmp_path: Path, body: str) -> Settings:
    path = tmp_path / "overrides.yaml"
    path.write_text(body, encoding="utf-8")
    return settings.model_copy(update={"alert_rules_file": path})


def test_the_defaults_are_the_issues_rules(settings):
    rules = {r.name: r for r in load_rules(settings)}
    assert set(rules) == set(ISSUE_DEFAULTS)
    for name, (signal, side, threshold, hold) in ISSUE_DEFAULTS.items():
        r = rules[name]
        assert (r.signal, getattr(r, side), r.for_seconds) == (signal, threshold, hold), name
    assert rules["tenant_accounts_unhealthy"].scope == "tenant"
    assert rules["callback_failure_rate"].params == {"window_seconds": 600}


def test_an_override_changes_only_what_it_names_and_can_add_or_disable(settings, tmp_path):
    s = with_overrides(settings, tmp_path, """
rules:
  - name: replica_lag
    above: 5
  - name: cache_hit_rate
    enabled: false
  - name: disk_free_critical
    signal: disk_free_ratio
    below: 0.02
    severity: critical
""")
    rules = {r.name: r for r in load_rules(s)}
    assert rules["replica_lag"].above == 5 and rules["replica_lag"].for_seconds == 60
    assert rules["replica_lag"].summary.startswith("replica lag")
    assert "cache_hit_rate" not in rules
    assert rules["disk_free_critical"].below == 0.02
    assert rules["partition_headroom"].below == 30  # untouched


@pytest.mark.parametrize(("body", "message"), [
    ("rules:\n  - name: replica_lag\n    above: fast\n",
     "rule replica_lag: above: must be a number"),
    ("rules:\n  - name: replica_lag\n    above: 1\n    below: 2\n",
     "above / below: give exactly one"),
    ("rules:\n  - name: x\n    signal: nope\n    above: 1\n", "signal: 'nope' is not a signal"),
    ("rules:\n  - name: replica_lag\n    severity: loud\n", "severity: must be one of"),
    ("rules:\n  - name: replica_lag\n    for: -1\n", "for: must be at least 0"),
    ("rules:\n  - name: replica_lag\n    colour: red\n", "unknown field(s) colour"),
    ("rules: [1, 2]\n", "rules[0]: must be a mapping with a name"),
    ("rules:\n  - name: a\n    signal: disk_free_ratio\n    below: 1\n"
     "  - name: a\n    signal: disk_free_ratio\n    below: 1\n", "the name appears twice"),
    ("rules: {", "not valid YAML"),
])
def test_a_bad_override_is_refused_naming_the_field(settings, tmp_path, body, message):
    s = with_overrides(settings, tmp_path, body)
    with pytest.raises(RuleError) as caught:
        load_rules(s)
    assert message in str(caught.value)
    assert "overrides.yaml" in str(caught.value)


def test_a_missing_override_file_is_named(settings, tmp_path):
    s = settings.model_copy(update={"alert_rules_file": tmp_path / "absent.yaml"})
    with pytest.raises(RuleError, match=r"absent\.yaml: cannot read the rules file"):
        load_rules(s)

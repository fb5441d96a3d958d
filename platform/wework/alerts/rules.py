"""Alert rules as data: ``alerts/rules.yaml`` in the repository, merged with a
deployment's overrides (``WEWORK_ALERT_RULES_FILE``, same shape, entries matched by name).

A file that does not load says which file, which rule and which field is wrong, and why:
the worker refuses to evaluate half a rule set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from wework.config import REPO_ROOT, Settings, get_settings

DEFAULT_RULES = REPO_ROOT / "alerts" / "rules.yaml"
SEVERITIES = ("critical", "warning", "info")
SCOPES = ("platform", "tenant")
FIELDS = {"name", "signal", "above", "below", "for", "repeat", "severity", "scope", "params",
          "summary", "enabled"}


class RuleError(ValueError):
    """A rules file is unusable; the message names the file, the rule and the field."""


@dataclass(frozen=True)
class Rule:
    name: str
    signal: str
    above: float | None = None
    below: float | None = None
    for_seconds: float = 0.0
    repeat_seconds: float = 0.0
    severity: str = "warning"
    scope: str = "platform"
    params: dict[str, Any] = field(default_factory=dict)
    summary: str = "{subject}: {value} (threshold {threshold})"
    enabled: bool = True

    @property
    def threshold(self) -> float:
        return self.above if self.above is not None else self.below  # type: ignore[return-value]

    def holds(self, value: float | None) -> bool:
        """Whether ``value`` breaks the rule; no value (not applicable) never does."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        return value > self.above if self.above is not None else value < self.below

    def describe(self, subject: str, value: float | None) -> str:
        if value is None:
            return f"{subject}: no value"
        try:
            return self.summary.format(value=value, threshold=self.threshold, subject=subject)
        except (KeyError, ValueError, IndexError):  # a bad format string: still say something
            return f"{self.name} {subject}: {value} (threshold {self.threshold})"


def _number(where: str, key: str, value: Any, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RuleError(f"{where}: {key}: must be a number, got {value!r}")
    if minimum is not None and value < minimum:
        raise RuleError(f"{where}: {key}: must be at least {minimum}, got {value!r}")
    return float(value)


def _rule(where: str, raw: dict[str, Any]) -> Rule:
    from wework.alerts.signals import SIGNALS

    unknown = set(raw) - FIELDS
    if unknown:
        raise RuleError(f"{where}: unknown field(s) {', '.join(sorted(unknown))} "
                        f"(known: {', '.join(sorted(FIELDS))})")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 64:
        raise RuleError(f"{where}: name: must be a non-empty string of at most 64 characters")
    signal = raw.get("signal")
    if signal not in SIGNALS:
        raise RuleError(f"{where}: signal: {signal!r} is not a signal "
                        f"(known: {', '.join(sorted(SIGNALS))})")
    has_above, has_below = raw.get("above") is not None, raw.get("below") is not None
    if has_above == has_below:
        raise RuleError(f"{where}: above / below: give exactly one threshold")
    severity = raw.get("severity", "warning")
    if severity not in SEVERITIES:
        raise RuleError(f"{where}: severity: must be one of {', '.join(SEVERITIES)}, "
                        f"got {severity!r}")
    scope = raw.get("scope", "platform")
    if scope not in SCOPES:
        raise RuleError(f"{where}: scope: must be one of {', '.join(SCOPES)}, got {scope!r}")
    params = raw.get("params") or {}
    if not isinstance(params, dict):
        raise RuleError(f"{where}: params: must be a mapping, got {params!r}")
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise RuleError(f"{where}: enabled: must be true or false, got {enabled!r}")
    summary = raw.get("summary", Rule.summary)
    if not isinstance(summary, str):
        raise RuleError(f"{where}: summary: must be a string")
    return Rule(
        name=name, signal=signal,
        above=_number(where, "above", raw["above"]) if has_above else None,
        below=_number(where, "below", raw["below"]) if has_below else None,
        for_seconds=_number(where, "for", raw.get("for", 0), 0),
        repeat_seconds=_number(where, "repeat", raw.get("repeat", 0), 0),
        severity=severity, scope=scope, params=dict(params), summary=summary, enabled=enabled,
    )


def _entries(path: Path) -> list[dict[str, Any]]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise RuleError(f"{path}: cannot read the rules file: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise RuleError(f"{path}: not valid YAML: {e}") from None
    if data is None:
        return []
    if not isinstance(data, dict) or not isinstance(data.get("rules", []), list):
        raise RuleError(f"{path}: rules: the file must be a mapping with a 'rules' list")
    entries = data.get("rules") or []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise RuleError(f"{path}: rules[{i}]: must be a mapping with a name")
    return entries


def load_rules(settings: Settings | None = None, defaults: Path = DEFAULT_RULES) -> list[Rule]:
    """The rules in effect: the defaults, each override merged into its rule by name (a
    new name adds a rule). Disabled rules are left out."""
    s = settings or get_settings()
    merged: dict[str, dict[str, Any]] = {}
    origin: dict[str, str] = {}
    for path in [defaults, *([s.alert_rules_file] if s.alert_rules_file else [])]:
        seen: set[str] = set()
        for i, entry in enumerate(_entries(Path(path))):
            name = entry["name"]
            if name in seen:
                raise RuleError(f"{path}: rules[{i}] ({name}): the name appears twice")
            seen.add(name)
            base = merged.get(name, {})
            if "above" in entry or "below" in entry:  # an override replaces the threshold
                base = {k: v for k, v in base.items() if k not in ("above", "below")}
            merged[name] = {**base, **entry}
            origin[name] = f"{path}: rule {name}"
    rules = [_rule(origin[name], raw) for name, raw in merged.items()]
    return [r for r in rules if r.enabled]

"""The one settings object: every WEWORK_ variable is a field of wework.config.Settings,
documented in .env.example, and takes effect when set in .env."""

from __future__ import annotations

import re
import types
from datetime import date, timedelta
from pathlib import Path
from typing import Any, get_args, get_origin

import pytest

from wework import config
from wework.config import REPO_ROOT, Settings, reload_settings

EXAMPLE = REPO_ROOT / ".env.example"


def example_variables() -> set[str]:
    return set(re.findall(r"^#?\s*(WEWORK_[A-Z0-9_]+)=", EXAMPLE.read_text(), re.MULTILINE))


def field_variables() -> set[str]:
    return {f"WEWORK_{name.upper()}" for name in Settings.model_fields}


def sample_value(name: str, tmp_path: Path) -> Any:
    """A valid value for setting ``name`` that differs from its default."""
    field = Settings.model_fields[name]
    kinds = get_args(field.annotation) if isinstance(field.annotation, types.UnionType) else ()
    kind = next((k for k in kinds if k is not type(None)), field.annotation)
    default = field.get_default(call_default_factory=True)
    if kind is Path:
        return tmp_path / name
    if kind is bool:
        return not default
    if kind is int:
        return default + 1
    if kind is float:
        return default + 0.5
    if kind is date:
        return default + timedelta(days=1)
    if get_origin(kind) is list:  # written as JSON, the form pydantic-settings reads
        return [item + 0.5 for item in default]
    choices = {"replica_fallback": "wait"}
    return choices.get(name, f"{name}-from-dotenv")


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No WEWORK_ variable in the process environment, and .env moved to a temp file."""
    import os

    for variable in [v for v in os.environ if v.startswith("WEWORK_") or v == "DAGSTER_HOME"]:
        monkeypatch.delenv(variable)
    env_file = tmp_path / ".env"
    monkeypatch.setattr(config, "ENV_FILE", env_file)
    return env_file


def test_every_setting_is_in_env_example_and_nothing_else():
    assert example_variables() == field_variables()


# Where WEWORK_ variables are read or set outside the settings object.
READERS = ("platform", "app", "pipelines", "notebooks", "bench", "scripts", ".ci", "deploy",
           "README.md", ".env.example")


def test_every_wework_variable_the_project_names_is_a_setting():
    """A WEWORK_ name used anywhere (a script, the README, the code) that Settings does not
    know would be silently ignored when set in .env."""
    named: dict[str, set[str]] = {}
    for top in READERS:
        root = REPO_ROOT / top
        for path in [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file()):
            if "__pycache__" in path.parts or path.suffix in (".pyc", ".duckdb", ".json"):
                continue
            for name in re.findall(r"WEWORK_[A-Z0-9_]*[A-Z0-9]", path.read_text(errors="ignore")):
                named.setdefault(name, set()).add(str(path.relative_to(REPO_ROOT)))
    unknown = {name: sorted(paths) for name, paths in named.items()
               if name not in field_variables()}
    assert unknown == {}


def test_config_show_masks_secrets_and_get_refuses_them(clean_environment: Path):
    from typer.testing import CliRunner

    from wework.cli import app

    clean_environment.write_text(
        "WEWORK_LOCAL_DB_PASSWORD=hunter2-db\nWEWORK_ENCRYPTION_KEYS=key-material\n"
        "WEWORK_INFLUX_TOKEN=tok-secret\n"
        "WEWORK_PRIMARY_URL=mysql+pymysql://app:pw-in-url@db1:3306\nWEWORK_APP_PORT=8600\n"
    )
    runner = CliRunner()
    shown = runner.invoke(app, ["config", "show"])
    assert shown.exit_code == 0, shown.output
    for secret in ("hunter2-db", "key-material", "tok-secret", "pw-in-url"):
        assert secret not in shown.output
    assert "app_port = 8600" in shown.output and "mysql+pymysql://app:***@db1:3306" in shown.output
    assert runner.invoke(app, ["config", "get", "app_port"]).output == "8600\n"
    refused = runner.invoke(app, ["config", "get", "local_db_password"])
    assert refused.exit_code == 1 and "hunter2" not in refused.output
    assert "is a secret" in refused.stderr
    unknown = runner.invoke(app, ["config", "get", "no_such_setting"])
    assert unknown.exit_code == 1 and "no such setting" in unknown.stderr


def test_each_setting_set_in_dotenv_takes_effect(clean_environment: Path, tmp_path: Path):
    expected = {name: sample_value(name, tmp_path) for name in Settings.model_fields}
    clean_environment.write_text(
        "".join(f"WEWORK_{name.upper()}={value}\n" for name, value in expected.items())
    )
    settings = reload_settings()
    for name, value in expected.items():
        assert getattr(settings, name) == value, name
        assert value != Settings.model_fields[name].get_default(call_default_factory=True)


def test_local_env_is_read_from_the_data_dir_that_dotenv_names(
    clean_environment: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    data_dir = tmp_path / "elsewhere"
    data_dir.mkdir()
    (data_dir / "local.env").write_text(
        "WEWORK_LOCAL_DB_PASSWORD=from-local-env\nWEWORK_DB_NAME=from_local_env\n"
        "WEWORK_SHARD_COUNT=3\n"
    )
    clean_environment.write_text(f"WEWORK_DATA_DIR={data_dir}\nWEWORK_DB_NAME=from_dotenv\n")
    monkeypatch.setenv("WEWORK_SHARD_COUNT", "5")
    settings = reload_settings()
    assert settings.data_dir == data_dir
    assert settings.local_db_password == "from-local-env"  # generated secrets: local.env
    assert settings.db_name == "from_dotenv"  # .env beats local.env
    assert settings.shard_count == 5  # the process environment beats both
    assert settings.backup_path == data_dir / "sets" / "from_dotenv" / "backups"


def test_a_bad_value_is_refused_naming_the_variable_and_the_reason(clean_environment: Path):
    from typer.testing import CliRunner

    from wework.cli import app

    clean_environment.write_text("WEWORK_APP_IDLE_MINUTES=-1\nWEWORK_SHARD_COUNT=many\n")
    result = CliRunner().invoke(app, ["config", "show"])
    assert result.exit_code == 1
    assert "WEWORK_APP_IDLE_MINUTES: Input should be greater than 0 (got '-1')" in result.stderr
    assert "WEWORK_SHARD_COUNT: Input should be a valid integer" in result.stderr
    assert "Traceback" not in result.output


def test_a_misspelt_variable_is_reported_not_silently_ignored(clean_environment: Path):
    from typer.testing import CliRunner

    from wework.cli import app

    clean_environment.write_text("WEWORK_APP_IDEL_MINUTES=5\n")
    result = CliRunner().invoke(app, ["config", "show"])
    assert result.exit_code == 0
    assert f"WEWORK_APP_IDEL_MINUTES (in {clean_environment}) is not a setting" in result.stderr

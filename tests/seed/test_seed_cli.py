"""`wework db seed` through the command: what it generates belongs to its database set."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from wework.cli import app
from wework.config import Settings
from wework.db import migrate

runner = CliRunner()


def command_env(settings: Settings, data_dir: Path, db_name: str) -> dict[str, str]:
    """The session's servers and secrets, another data dir and database set."""
    values = {
        "DATA_DIR": data_dir, "DB_NAME": db_name, "SHARD_COUNT": 1,
        "PRIMARY_URL": settings.primary_url, "REPLICA_URL": settings.replica_url,
        "PRIMARY_PORT": settings.primary_port, "REPLICA_PORT": settings.replica_port,
        "LOCAL_DB_PASSWORD": settings.local_db_password,
        # each database user's password (local.env of the session's data dir, not this one)
        **{f"DB_{user}_PASSWORD": getattr(settings, f"db_{user}_password")
           for user in ("migrator", "etl", "backup", "monitor", "repl")},
        "ENCRYPTION_KEYS": settings.encryption_keys, "LOOKUP_KEY": settings.lookup_key,
    }
    return {f"WEWORK_{k}": "" if v is None else str(v) for k, v in values.items()}


def test_two_database_sets_in_one_data_dir_keep_their_own_demo_logins(settings, tmp_path):
    sets = [f"{settings.db_name}_a", f"{settings.db_name}_b"]
    try:
        logins = {}
        for name in sets:
            migrate.upgrade(settings=settings.model_copy(update={"db_name": name,
                                                                 "shard_count": 1}))
            env = command_env(settings, tmp_path, name)
            seeded = runner.invoke(app, ["db", "seed", "--tenants", "1", "--accounts", "3",
                                         "--days", "1", "--messages", "50"], env=env)
            assert seeded.exit_code == 0, seeded.output
            where = runner.invoke(app, ["config", "get", "demo_logins_file"], env=env)
            path = Path(where.output.strip())
            assert path == tmp_path / "sets" / name / "demo-logins.txt"
            logins[name] = path.read_text()
            assert f"(saved to {path})" in seeded.output
        first, second = (logins[name].splitlines()[0] for name in sets)
        assert first.startswith("password for every demo login: ")
        assert first != second  # each set's own generated password, each in its own file
    finally:
        for name in sets:
            migrate.drop_databases(settings.model_copy(update={"db_name": name,
                                                               "shard_count": 1}))

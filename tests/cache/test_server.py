"""`wework cache up | down | status`: the local redis-server, against the real binary."""

from __future__ import annotations

import os
import stat

import psutil
import pytest
import redis
from ports import listening
from typer.testing import CliRunner

from wework.cache.server import PASSWORD_KEY, CacheServerError, LocalRedis
from wework.localenv import read_env_file


def test_up_twice_keeps_the_running_server(local_redis):
    pid = local_redis.running_pid()
    assert pid is not None
    assert "already running" in local_redis.up()
    assert local_redis.running_pid() == pid


def test_listens_on_localhost_only_and_runs_unprivileged(local_redis):
    proc = psutil.Process(local_redis.running_pid())
    assert listening(proc.pid) == {("127.0.0.1", local_redis.port)}
    if os.geteuid() == 0:
        assert proc.username() == "redis"
    assert proc.uids().real != 0


def test_requires_the_generated_password(local_redis):
    env = read_env_file(local_redis.env_file)
    password = env[PASSWORD_KEY]
    assert stat.S_IMODE(local_redis.env_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(local_redis.config_file.stat().st_mode) == 0o600
    anonymous = redis.Redis(host="127.0.0.1", port=local_redis.port, socket_timeout=1)
    with pytest.raises(redis.AuthenticationError):
        anonymous.ping()
    wrong = redis.Redis(host="127.0.0.1", port=local_redis.port, password="nope",
                        socket_timeout=1)
    with pytest.raises(redis.AuthenticationError):
        wrong.ping()
    right = redis.Redis(host="127.0.0.1", port=local_redis.port, password=password)
    assert right.ping()
    # The password is in no process's command line.
    assert password not in " ".join(psutil.Process(local_redis.running_pid()).cmdline())


def test_keeps_nothing_on_disk_and_forgets_least_recently_used_keys(local_redis):
    password = read_env_file(local_redis.env_file)[PASSWORD_KEY]
    client = redis.Redis(host="127.0.0.1", port=local_redis.port, password=password,
                         decode_responses=True)
    assert client.config_get("save") == {"save": ""}
    assert client.config_get("appendonly") == {"appendonly": "no"}
    assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "allkeys-lru"}
    assert int(client.config_get("maxmemory")["maxmemory"]) == 256 * 1024 * 1024
    # CONFIG SET dir/dbfilename is the classic way to make Redis write a file anywhere.
    with pytest.raises(redis.ResponseError, match="protected config"):
        client.config_set("dir", "/tmp")


def test_port_in_use_is_a_clear_error(local_redis, tmp_path):
    other = LocalRedis(tmp_path, local_redis.port, echo=lambda _: None)
    with pytest.raises(CacheServerError, match=f"port {local_redis.port} .*in use"):
        other.up()


def test_cli_status_down_and_up(local_redis, monkeypatch):
    from wework.cli import app

    monkeypatch.setenv("WEWORK_DATA_DIR", str(local_redis.data_dir))
    monkeypatch.setenv("WEWORK_REDIS_PORT", str(local_redis.port))
    monkeypatch.delenv("WEWORK_REDIS_URL", raising=False)
    runner = CliRunner()
    result = runner.invoke(app, ["cache", "status"])
    assert result.exit_code == 0, result.output
    assert "answers" in result.output and f"127.0.0.1:{local_redis.port}" in result.output
    result = runner.invoke(app, ["cache", "down"])
    assert "stopped" in result.output
    assert runner.invoke(app, ["cache", "down"]).output.strip() == "redis-server: not running"
    result = runner.invoke(app, ["cache", "status"])
    assert result.exit_code == 1 and "not running" in result.output
    result = runner.invoke(app, ["cache", "up"])
    assert result.exit_code == 0 and "started" in result.output, result.output
    assert local_redis.running_pid() is not None

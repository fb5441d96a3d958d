"""Local servers run as an unprivileged OS user that must reach their directories."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from stacks import server_dir

from wework.osuser import ServiceUserError, _can_traverse, ensure_reachable, service_user

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="only root runs servers as others")


def test_not_root_runs_servers_as_itself():
    user = service_user("mysql")
    if os.geteuid() != 0:
        assert user.is_self
    else:
        assert user.name == "mysql" and user.uid != 0 and not user.is_self


@root_only
def test_a_private_parent_gets_a_traverse_only_acl_for_that_user():
    user = service_user("mysql")
    with server_dir("osuser") as base:
        private = base / "checkout"
        private.mkdir(mode=0o700)
        target = private / "data" / "mysql"
        target.mkdir(parents=True)
        assert not _can_traverse(target, user)
        said: list[str] = []
        ensure_reachable(target, user, said.append)
        assert _can_traverse(target, user)
        assert any(f"setfacl -m u:mysql:x {private}" in line for line in said), said
        # Only passing through: the user still cannot list the private directory.
        assert oct(private.stat().st_mode & 0o007) == "0o0"
        again: list[str] = []
        ensure_reachable(target, user, again.append)
        assert again == []  # nothing left to do


@root_only
def test_pytest_temp_root_is_refused_with_the_way_out(tmp_path: Path):
    with pytest.raises(ServiceUserError, match=r"pytest's temp root .*server_dir"):
        ensure_reachable(tmp_path / "mysql", service_user("mysql"), lambda _: None)


def test_a_missing_os_user_is_a_clear_error():
    if os.geteuid() != 0:
        pytest.skip("only root looks the user up")
    with pytest.raises(ServiceUserError, match=r"does not exist.*useradd"):
        service_user("no-such-wework-user")

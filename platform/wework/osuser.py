"""The unprivileged OS user a local server (mariadbd, redis-server) runs as.

Run as root (CI, containers), the local stack starts each server as the OS user its
Debian package created (``mysql``, ``redis``), never as root: a server process that can be
made to write or read a file (``SELECT … INTO OUTFILE``, ``CONFIG SET dir``) must not be
able to touch root's files. Run as anyone else, the servers simply run as that user.

The server's directories are owned by that user, and it must be able to traverse every
directory above them. A checkout under ``/root`` or a ``mktemp -d`` folder (mode 700)
blocks it; then the missing traverse right is granted to that one user with a POSIX ACL
(``setfacl -m u:mysql:x DIR``: it may pass through, not list or read), and the command
says so. If that is not possible the error names the directory and the fix.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SETFACL = shutil.which("setfacl") or "/usr/bin/setfacl"
TEST = shutil.which("test") or "/usr/bin/test"


class ServiceUserError(RuntimeError):
    """The server cannot run as its unprivileged user; the message says why and the fix."""


@dataclass(frozen=True)
class ServiceUser:
    name: str
    uid: int
    gid: int

    @property
    def is_self(self) -> bool:
        return self.uid == os.geteuid()


def service_user(preferred: str) -> ServiceUser:
    """``preferred`` (e.g. Debian's ``mysql``) when running as root, else the current user."""
    if os.geteuid() != 0:
        entry = pwd.getpwuid(os.geteuid())
        return ServiceUser(entry.pw_name, entry.pw_uid, entry.pw_gid)
    try:
        entry = pwd.getpwnam(preferred)
    except KeyError:
        raise ServiceUserError(
            f"running as root, the local server runs as the unprivileged OS user "
            f"{preferred!r}, which does not exist: install the Debian package that creates "
            f"it (scripts/setup.sh does), or create it: useradd --system {preferred}"
        ) from None
    if entry.pw_uid == 0:
        raise ServiceUserError(f"the OS user {preferred!r} is root; it must be unprivileged")
    return ServiceUser(entry.pw_name, entry.pw_uid, entry.pw_gid)


def _can_traverse(path: Path, user: ServiceUser) -> bool:
    """Whether ``user`` can reach into ``path`` (every directory on the way, ACLs included):
    asked of the kernel, as that user."""
    return (
        subprocess.run(
            [TEST, "-x", str(path)],
            user=user.uid,
            group=user.gid,
            extra_groups=[],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ).returncode
        == 0
    )


def ensure_reachable(path: Path, user: ServiceUser, echo: Callable[[str], None]) -> None:
    """Make sure ``user`` can traverse every directory from ``/`` down to ``path``."""
    if user.is_self:
        return
    existing = path
    while not existing.exists():
        existing = existing.parent
    if _can_traverse(existing, user):
        return
    for directory in [*reversed(existing.parents), existing]:
        if _can_traverse(directory, user):
            continue
        if directory.name.startswith("pytest-of-"):
            # pytest chmods its temp root back to 700 whenever any session starts, which
            # masks an ACL: the server would lose its way in the middle of a run.
            raise ServiceUserError(
                f"{path} lies under pytest's temp root {directory}, which pytest keeps "
                f"private (mode 700, reset at every session start), so the OS user "
                f"{user.name} cannot reach it for long: start test servers in a directory "
                "of their own (tests/stacks.py: server_dir)"
            )
        fix = f"setfacl -m u:{user.name}:x {directory}"
        try:
            subprocess.run(
                [SETFACL, "-m", f"u:{user.name}:x", str(directory)],
                check=True,
                capture_output=True,
                text=True,
            )
        except (OSError, subprocess.CalledProcessError) as e:
            detail = getattr(e, "stderr", None) or str(e)
            raise ServiceUserError(
                f"the local server runs as the unprivileged OS user {user.name}, which cannot "
                f"enter {directory} (on the way to {path}), and granting it failed: "
                f"{detail.strip()}. Put the data dir where {user.name} can reach it "
                f"(WEWORK_DATA_DIR), or allow it: `{fix}` (or `chmod o+x {directory}`)"
            ) from None
        echo(
            f"gave the OS user {user.name} the right to pass through {directory} "
            f"(`{fix}`: no listing, no reading), so it can reach {path}"
        )


def own(path: Path, user: ServiceUser, mode: int = 0o750) -> None:
    """Create ``path`` (a directory) owned by ``user`` if missing; fix owner and mode."""
    path.mkdir(parents=True, exist_ok=True)
    if not user.is_self:
        os.chown(path, user.uid, user.gid)
    path.chmod(mode)


def chown_tree(path: Path, user: ServiceUser) -> int:
    """Give ``user`` everything under ``path`` that it does not own; the number changed."""
    changed = 0
    if user.is_self or not path.exists():
        return 0
    for root, dirs, files in os.walk(path):
        for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
            st = os.lstat(name)
            if (st.st_uid, st.st_gid) != (user.uid, user.gid):
                os.chown(name, user.uid, user.gid, follow_symlinks=False)
                changed += 1
    return changed

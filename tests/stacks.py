"""Directories for the private servers a test starts of its own (MariaDB pairs, Redis).

Not under pytest's ``tmp_path``: pytest keeps ``/tmp/pytest-of-<user>`` at mode 700 (and
resets it whenever any session starts), and the servers run as unprivileged OS users
(``mysql``, ``redis``) that must be able to pass through every directory above their data.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from wework.db.localstack import LocalStack


@contextmanager
def server_dir(prefix: str) -> Iterator[Path]:
    """A fresh directory under the system temp dir, removed afterwards (stop the servers
    in it first)."""
    path = Path(tempfile.mkdtemp(prefix=f"wework-{prefix}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def private_stack(prefix: str) -> Iterator[LocalStack]:
    """A MariaDB pair of the test's own (small InnoDB sizes, free ports), up, and stopped
    and deleted afterwards (also when ``up`` failed half-way: no server is left behind)."""
    from ports import free_ports

    from wework.db.engines import dispose_engines

    with server_dir(prefix) as base:
        stack = LocalStack(base, *free_ports(2), buffer_pool_size="64M", log_file_size="48M")
        try:
            stack.up()
            yield stack
        finally:
            dispose_engines()
            stack.down()

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


@contextmanager
def server_dir(prefix: str) -> Iterator[Path]:
    """A fresh directory under the system temp dir, removed afterwards (stop the servers
    in it first)."""
    path = Path(tempfile.mkdtemp(prefix=f"wework-{prefix}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)

"""Where the CPU goes during a benchmark: seconds per named process tree (the local
MariaDB pair, the load generator, workers …), imported from beside it as ``bench_cpu``."""

from __future__ import annotations

import os


class CpuMeter:
    """CPU seconds (user + system) of named process trees, between two readings. A tree
    is read as its root and every descendant alive at the reading."""

    def __init__(self, roots: dict[str, list[int]]):
        import psutil

        self._psutil = psutil
        self.roots = roots
        self._start = self.read()

    def _tree(self, pid: int) -> float:
        psutil = self._psutil
        try:
            root = psutil.Process(pid)
            procs = [root] if pid == os.getpid() else [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0.0
        total = 0.0
        for proc in procs:
            try:
                times = proc.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                pass
        return total

    def read(self) -> dict[str, float]:
        return {name: sum(self._tree(pid) for pid in pids) for name, pids in self.roots.items()}

    def used(self) -> dict[str, float]:
        now = self.read()
        return {name: now[name] - self._start.get(name, 0.0) for name in now}


def mariadb_pids() -> dict[str, list[int]]:
    """The local pair's server processes (none when the databases are elsewhere)."""
    from wework.config import get_settings
    from wework.db.localstack import LocalStack

    settings = get_settings()
    if not settings.uses_local_stack:
        return {}
    stack = LocalStack.from_settings(settings)
    return {f"MariaDB {srv.role}": [int(srv.pid_file.read_text().strip())]
            for srv in stack.servers if srv.pid_file.exists()}

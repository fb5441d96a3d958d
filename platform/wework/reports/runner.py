"""Executing report notebooks with papermill on a pool of reused kernels.

papermill rather than dagstermill: dagstermill needs an ``.ipynb`` file on disk as the
asset's source and a Dagster context inside the kernel, so the notebooks would either be
committed twice or run only under Dagster. papermill takes the notebook that jupytext reads
from the ``.py`` source in memory, injects the run's values after the cell tagged
``parameters`` (as dagstermill, which is built on it, does) and names the failing cell when
one raises; the same notebook still runs unchanged in JupyterLab.

Starting a kernel and importing polars, plotly and duckdb into it costs about as much CPU
as running one of the notebooks, so each worker thread keeps one kernel and clears its
namespace (``%reset -f``) before every notebook instead of starting a new one.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import jupytext
import nbformat
from jupyter_client.manager import KernelManager

from wework.reports.notebooks import NOTEBOOKS_DIR, REPORT_MIME, Notebook

log = logging.getLogger(__name__)
logging.getLogger("papermill").setLevel(logging.WARNING)  # one INFO line per cell otherwise

KERNEL_NAME = "python3"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
T = TypeVar("T")
Item = TypeVar("Item")


@dataclass(frozen=True)
class Job:
    notebook: Notebook
    scope: str
    parameters: dict
    output: Path  # papermill writes the executed .ipynb here


@dataclass(frozen=True)
class CellError:
    """Why a notebook failed: the cell (0-based index in the executed notebook, which has
    the injected parameters cell), its source and the error."""

    cell_index: int | None
    source: str
    ename: str
    evalue: str
    traceback: str = ""

    def summary(self) -> str:
        where = f"cell {self.cell_index}" if self.cell_index is not None else "the notebook"
        return f"{where} raised {self.ename}: {self.evalue}"

    def as_dict(self) -> dict:
        return {
            "cell_index": self.cell_index,
            "source": self.source,
            "ename": self.ename,
            "evalue": self.evalue,
            "traceback": self.traceback,
        }


@dataclass
class Executed:
    job: Job
    notebook: nbformat.NotebookNode | None
    record: dict | None  # what nbhelpers.findings recorded
    error: CellError | None
    seconds: float

    @property
    def ok(self) -> bool:
        return self.error is None


def report_record(notebook: nbformat.NotebookNode) -> dict | None:
    """The last record ``nbhelpers.findings`` left in the executed notebook's outputs."""
    found = None
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            record = output.get("data", {}).get(REPORT_MIME)
            if record is not None:
                found = record
    return found


class Kernel:
    """One Python kernel (IPC transport, private socket folder) that runs notebook after
    notebook, cleared in between."""

    def __init__(self, cwd: Path, env: dict[str, str], sockets: Path) -> None:
        self.cwd, self.env, self.sockets = cwd, env, sockets
        self.km: KernelManager | None = None
        self.runs = 0

    def start(self) -> None:
        self.sockets.mkdir(parents=True, exist_ok=True)
        self.km = KernelManager(
            kernel_name=KERNEL_NAME, transport="ipc", ip=str(self.sockets / "kernel")
        )
        self.km.start_kernel(cwd=str(self.cwd), env=self.env)
        self.runs = 0

    def shutdown(self) -> None:
        if self.km is not None:
            try:
                self.km.shutdown_kernel(now=True)
            except Exception:  # already dead: nothing to stop
                log.debug("kernel shutdown failed", exc_info=True)
            self.km = None

    def ready(self, recycle_after: int) -> KernelManager:
        """A live kernel with an empty namespace: restarted when it died or has run
        ``recycle_after`` notebooks (memory the namespace reset does not give back)."""
        if self.km is None or not self.km.is_alive() or self.runs >= recycle_after:
            self.shutdown()
            self.start()
        elif self.runs:
            self._run("%reset -f\nimport gc\ngc.collect()")
        self.runs += 1
        assert self.km is not None
        return self.km

    def _run(self, code: str) -> None:
        assert self.km is not None
        kc = self.km.blocking_client()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=60)
            reply = kc.execute_interactive(
                code, store_history=False, timeout=60, output_hook=lambda _msg: None
            )
            if reply["content"]["status"] != "ok":
                raise RuntimeError(f"kernel reset failed: {reply['content'].get('evalue')}")
        finally:
            kc.stop_channels()


class KernelPool:
    """``workers`` threads, each with its own :class:`Kernel`, started on first use and
    shut down when the pool closes. Kernels get this process's environment (so the same
    WEWORK_* settings), plus ``env``."""

    def __init__(
        self,
        workers: int = 2,
        *,
        cwd: Path = NOTEBOOKS_DIR,
        timeout: int = 600,
        recycle_after: int = 50,
        env: dict[str, str] | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers: must be at least 1, not {workers}")
        self.workers, self.cwd, self.timeout = workers, cwd, timeout
        self.recycle_after = recycle_after
        self._local = threading.local()
        self._kernels: list[Kernel] = []
        self._lock = threading.Lock()
        self._sockets = Path(tempfile.mkdtemp(prefix="wework-kernels-"))
        # nbhelpers is importable whichever folder a notebook comes from.
        path = os.pathsep.join(p for p in (str(NOTEBOOKS_DIR), os.environ.get("PYTHONPATH")) if p)
        self._env = {**os.environ, "PYTHONPATH": path, **(env or {})}

    def __enter__(self) -> KernelPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            kernels, self._kernels = self._kernels, []
        for kernel in kernels:
            kernel.shutdown()
        shutil.rmtree(self._sockets, ignore_errors=True)

    def _kernel(self) -> Kernel:
        kernel = getattr(self._local, "kernel", None)
        if kernel is None:
            with self._lock:
                n = len(self._kernels)
                kernel = Kernel(self.cwd, self._env, self._sockets / f"k{n}")
                self._kernels.append(kernel)
            self._local.kernel = kernel
        return kernel

    def map(self, fn: Callable[[Item, KernelPool], T], items: Iterable[Item]) -> Iterator[T]:
        """``fn(item, pool)`` for every item on the worker threads, results in the order
        they finish; ``fn`` runs its notebook with :meth:`execute` (on that thread's
        kernel) and does the rest (rendering, storing) beside the other workers."""
        with ThreadPoolExecutor(self.workers, thread_name_prefix="notebook") as executor:
            futures = [executor.submit(fn, item, self) for item in items]
            for future in as_completed(futures):
                yield future.result()

    def execute(self, job: Job) -> Executed:
        """Run ``job`` on this thread's kernel; a failing cell is reported, not raised."""
        import papermill
        from papermill.exceptions import PapermillExecutionError

        kernel = self._kernel()
        started = time.perf_counter()
        source = jupytext.read(job.notebook.path)
        notebook, record, error = None, None, None
        try:
            km = kernel.ready(self.recycle_after)
            notebook = papermill.execute_notebook(
                source,
                str(job.output),
                parameters=job.parameters,
                kernel_name=KERNEL_NAME,
                progress_bar=False,
                request_save_on_cell_execute=False,
                km=km,
                execution_timeout=self.timeout,
            )
        except PapermillExecutionError as e:
            error = CellError(
                e.cell_index, e.source, e.ename, e.evalue, _ANSI.sub("", "\n".join(e.traceback))
            )
            if job.output.exists():  # papermill writes the notebook up to the failure
                notebook = nbformat.read(job.output, as_version=4)
        except Exception as e:  # a timeout, a dead kernel: that kernel is not reused
            kernel.shutdown()
            error = CellError(None, "", type(e).__name__, _ANSI.sub("", str(e)))
        if notebook is not None:
            record = report_record(notebook)
        if error is None and record is None:
            error = CellError(
                None,
                "",
                "MissingFindings",
                "the notebook ended without calling findings(marts, lines) (or "
                "findings(marts, no_data=...)): nothing to publish",
            )
        return Executed(job, notebook, record, error, time.perf_counter() - started)

"""Execute the analyst notebooks top to bottom, as the tests (and a reviewer) do.

The jupytext ``.py`` files are the source; this converts each to a notebook in memory,
runs it with nbclient on the project's ``python3`` kernel with this folder as the working
directory (so ``nbhelpers`` imports), and raises on the first cell that fails.

    .venv/bin/python notebooks/execute.py                # every notebook
    .venv/bin/python notebooks/execute.py 02 --out /tmp  # one, keeping the executed .ipynb
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent


def notebook_sources() -> list[Path]:
    """The notebooks: ``NN_name.py`` files in this folder, in order."""
    return sorted(p for p in HERE.glob("[0-9][0-9]_*.py"))


def execute(source: Path, timeout: int = 600) -> nbformat.NotebookNode:
    """Run ``source`` (a jupytext percent file) and return the executed notebook.

    The kernel inherits this process's environment, so ``WEWORK_*`` settings (for
    example ``WEWORK_PUBLISH_DIR``) choose which published marts it reads.
    Raises ``nbclient.exceptions.CellExecutionError`` naming the failing cell.
    """
    notebook = jupytext.read(source)
    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(HERE)}},
    )
    client.execute()
    return notebook


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="prefixes of notebooks to run (default: all)")
    parser.add_argument("--out", type=Path, help="write the executed .ipynb files here")
    args = parser.parse_args(argv)
    sources = [
        p for p in notebook_sources() if not args.names or p.name.startswith(tuple(args.names))
    ]
    if not sources:
        print(f"no notebook matches {args.names}", file=sys.stderr)
        return 1
    for source in sources:
        executed = execute(source)
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            nbformat.write(executed, args.out / source.with_suffix(".ipynb").name)
        print(f"ok: {source.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

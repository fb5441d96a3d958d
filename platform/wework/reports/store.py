"""The report store: every build of a report kept as a version on disk.

    <reports_dir>/<scope>/<notebook>/<version>/manifest.json
                                              /report.html.gz (self-contained page)
                                              /report.ipynb   (the executed notebook)

``scope`` is ``platform`` or a tenant id, ``version`` a UTC timestamp (so names sort by
time). The manifest says what the version was built from (marts snapshot, parameters,
input fingerprint, notebook code version), what it found and how long it took; a failed
build is a version too, with the failing cell instead of a page.

Why files and not MariaDB: a report is derived from the warehouse and lives beside it; a
version is written into a hidden folder and renamed into place in one step, so a reader
(the app) never sees half a version, and nothing needs keeping two stores in step. The
tenant boundary is the path: readers ask for one scope's folder, and every name that makes
up a path is checked against a strict pattern first.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import secrets
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from wework.reports.notebooks import NAME_RE
from wework.reports.scope import ScopeError, check_scope

MANIFEST = "manifest.json"
PAGE = "report.html.gz"
IPYNB = "report.ipynb"
_VERSION_RE = re.compile(r"^[0-9]{8}T[0-9]{12}Z-[0-9a-f]{6}$")
_STALE_STAGING_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Version:
    """One build of one report (its manifest, and the folder holding its files)."""

    path: Path
    manifest: dict

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def ok(self) -> bool:
        return self.manifest.get("status") == "ok"

    def file(self, name: str) -> Path | None:
        """``report.html.gz`` or ``report.ipynb`` of this version, if it has it."""
        if name not in (PAGE, IPYNB):
            raise ValueError(f"file: {name!r} is not a report file")
        path = self.path / name
        return path if path.is_file() else None

    def page(self) -> bytes | None:
        """The report's HTML page (a failed version has none)."""
        path = self.file(PAGE)
        return gzip.decompress(path.read_bytes()) if path is not None else None


def _check_notebook(name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ScopeError(f"notebook: {name!r} is not a report notebook name")
    return name


def new_version_id(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%S%f}Z-{secrets.token_hex(3)}"


def _write(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


class Staging:
    """A version being written: files go into a hidden folder that :meth:`ReportStore.stage`
    renames into place once the manifest is written."""

    def __init__(self, path: Path, version: str) -> None:
        self.path, self.version = path, version

    def write(self, name: str, data: str | bytes) -> Path:
        target = self.path / name
        _write(target, data.encode("utf-8") if isinstance(data, str) else data)
        return target

    def write_page(self, html: str) -> Path:
        return self.write(PAGE, gzip.compress(html.encode("utf-8"), compresslevel=6))

    def write_manifest(self, manifest: dict) -> None:
        self.write(MANIFEST, json.dumps(manifest, indent=1, ensure_ascii=False, default=str))


class ReportStore:
    def __init__(self, root: Path, keep: int = 20) -> None:
        if keep < 1:
            raise ValueError(f"keep: must keep at least 1 version, not {keep}")
        self.root, self.keep = root, keep

    def _folder(self, scope: str, notebook: str) -> Path:
        return self.root / check_scope(scope) / _check_notebook(notebook)

    @contextmanager
    def stage(self, scope: str, notebook: str) -> Iterator[Staging]:
        """A new version of ``notebook`` for ``scope``: visible once the block ends after
        ``write_manifest``; removed without a trace if the block raises."""
        folder = self._folder(scope, notebook)
        for level in (self.root, folder.parent, folder):  # 0700 at every level
            level.mkdir(exist_ok=True, mode=0o700)
        version = new_version_id()
        staging = Staging(folder / f".staging-{version}", version)
        staging.path.mkdir(mode=0o700)
        try:
            yield staging
            if not (staging.path / MANIFEST).is_file():
                raise RuntimeError("a report version needs its manifest before it is kept")
            os.rename(staging.path, folder / version)
        except BaseException:
            shutil.rmtree(staging.path, ignore_errors=True)
            raise

    def versions(self, scope: str, notebook: str) -> list[Version]:
        """Every kept version, newest first."""
        folder = self._folder(scope, notebook)
        if not folder.is_dir():
            return []
        found = []
        for path in sorted(folder.iterdir(), reverse=True):
            if not _VERSION_RE.match(path.name):
                continue  # staging and trash folders
            try:
                manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue  # removed by retention while we listed
            found.append(Version(path, manifest))
        return found

    def version(self, scope: str, notebook: str, version_id: str) -> Version | None:
        """One version of this scope's report, or None (also for a malformed id)."""
        if not isinstance(version_id, str) or not _VERSION_RE.match(version_id):
            return None
        path = self._folder(scope, notebook) / version_id
        try:
            return Version(path, json.loads((path / MANIFEST).read_text(encoding="utf-8")))
        except (OSError, ValueError):
            return None

    def notebooks(self, scope: str) -> list[str]:
        """The notebooks that have versions for ``scope``."""
        folder = self.root / check_scope(scope)
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if NAME_RE.match(p.name))

    def latest(self, scope: str, notebook: str) -> tuple[Version | None, Version | None]:
        """(the newest version, the newest good one): they differ when the last build
        failed, and the good one is what readers see."""
        versions = self.versions(scope, notebook)
        newest = versions[0] if versions else None
        good = next((v for v in versions if v.ok), None)
        return newest, good

    def prune(self, scope: str, notebook: str) -> int:
        """Retention: keep the newest ``keep`` versions, and the newest good one even when
        it is older; drop staging folders a killed build left. Returns versions removed."""
        folder = self._folder(scope, notebook)
        versions = self.versions(scope, notebook)
        keep = {v.id for v in versions[: self.keep]}
        good = next((v for v in versions if v.ok), None)
        if good is not None:
            keep.add(good.id)
        removed = 0
        for v in versions:
            if v.id in keep:
                continue
            trash = folder / f".trash-{v.id}"
            try:
                os.rename(v.path, trash)  # gone for readers in one step
            except OSError:
                continue
            shutil.rmtree(trash, ignore_errors=True)
            removed += 1
        now = time.time()
        for stale in folder.glob(".staging-*"):
            if now - stale.stat().st_mtime > _STALE_STAGING_SECONDS:
                shutil.rmtree(stale, ignore_errors=True)
        return removed

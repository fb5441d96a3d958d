"""The report store on its own: versions appear whole or not at all, retention keeps the
newest N and always the newest good one, and no name a caller passes can lead outside a
scope's folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from wework.reports.markdown import code, to_html
from wework.reports.scope import PLATFORM, ScopeError
from wework.reports.store import PAGE, ReportStore

TENANT = "019f2173-8658-7714-8d5d-755aa5d30b9c"
OTHER = "019f3212-8b80-759b-9ff1-e3932e4d1186"


def add(store: ReportStore, status: str, scope: str = PLATFORM, name: str = "01_delivery"):
    with store.stage(scope, name) as staging:
        if status == "ok":
            staging.write_page("<html>report</html>")
        staging.write_manifest({"status": status, "scope": scope})
    return staging.version


def test_retention_keeps_the_newest_versions_and_the_newest_good_one(tmp_path: Path) -> None:
    store = ReportStore(tmp_path, keep=2)
    good = add(store, "ok")
    for _ in range(3):
        add(store, "failed")
    assert len(store.versions(PLATFORM, "01_delivery")) == 4
    assert store.prune(PLATFORM, "01_delivery") == 1
    kept = [v.id for v in store.versions(PLATFORM, "01_delivery")]
    # The two newest (both failed) and the last good version, which readers still see.
    assert len(kept) == 3 and kept[-1] == good
    assert store.latest(PLATFORM, "01_delivery")[1].id == good
    newer_good = add(store, "ok")
    assert store.prune(PLATFORM, "01_delivery") == 2
    assert store.versions(PLATFORM, "01_delivery")[0].id == newer_good
    assert good not in {v.id for v in store.versions(PLATFORM, "01_delivery")}
    assert not list((tmp_path / PLATFORM / "01_delivery").glob(".trash-*"))


def test_a_version_appears_whole_or_not_at_all(tmp_path: Path) -> None:
    store = ReportStore(tmp_path)
    with (
        pytest.raises(RuntimeError, match="the render failed"),
        store.stage(PLATFORM, "01_delivery") as staging,
    ):
        staging.write_page("<html>half</html>")
        raise RuntimeError("the render failed")
    with (
        pytest.raises(RuntimeError, match="needs its manifest"),
        store.stage(PLATFORM, "01_delivery") as staging,
    ):
        staging.write_page("<html>no manifest</html>")
    assert store.versions(PLATFORM, "01_delivery") == []
    assert not any((tmp_path / PLATFORM / "01_delivery").iterdir())
    version = add(store, "ok")
    path = tmp_path / PLATFORM / "01_delivery" / version
    assert oct(path.stat().st_mode & 0o777) == "0o700"
    assert oct((path / PAGE).stat().st_mode & 0o777) == "0o600"


def test_scopes_are_separate_and_names_cannot_leave_them(tmp_path: Path) -> None:
    store = ReportStore(tmp_path)
    mine = add(store, "ok", scope=TENANT)
    assert store.version(TENANT, "01_delivery", mine) is not None
    assert store.version(OTHER, "01_delivery", mine) is None  # another tenant's folder
    assert store.notebooks(OTHER) == [] and store.notebooks(TENANT) == ["01_delivery"]
    for scope in ("..", f"{TENANT}/..", "/etc", "", "PLATFORM"):
        with pytest.raises(ScopeError, match="scope"):
            store.versions(scope, "01_delivery")
    for name in ("../01_delivery", "01_delivery/..", "x"):
        with pytest.raises(ScopeError, match="notebook"):
            store.versions(TENANT, name)
    for version in (f"../{mine}", f"{mine}/..", "..", ""):
        assert store.version(TENANT, "01_delivery", version) is None


def test_markdown_shows_user_text_as_text() -> None:
    name = "<img src=x onerror=alert(1)> ![p](http://example.com/p.png) [x](javascript:alert(1))"
    page = to_html(f"Account {code(name)} and plain {name}")
    assert "<img" not in page and "<a " not in page and "&lt;img src=x" in page
    # A backtick inside the name cannot close the code span early.
    assert to_html(code("a`<b>`c")) == "<p><code>a`&lt;b&gt;`c</code></p>\n"
    assert code("`x`") == "`` `x` ``"

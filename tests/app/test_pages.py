"""Every page renders without exceptions for each role; pages a role may not use are
neither listed nor reachable."""

from __future__ import annotations

import pytest

from ui.nav import PAGES, PAGES_DIR, allowed_pages  # app/ is on sys.path (conftest.py)
from wework.services import auth


def titles(at) -> list[str]:
    return [t.value for t in at.title]


def page_path(file: str) -> str:
    return str(PAGES_DIR / file)


@pytest.mark.parametrize("role", ["admin", "operator", "analyst", "super_admin"])
def test_each_allowed_page_renders(app_as, app_world, role):
    at = app_as(role)
    assert not at.exception, at.exception
    actor = auth.actor_for(app_world.users[role].id)
    for spec in allowed_pages(actor):
        at.switch_page(page_path(spec.file)).run()
        assert not at.exception, (spec.file, at.exception)
        assert spec.title in titles(at), (spec.file, titles(at))


@pytest.mark.parametrize("role", ["operator", "analyst"])
def test_hidden_pages_stay_hidden(app_as, app_world, role):
    at = app_as(role)
    actor = auth.actor_for(app_world.users[role].id)
    allowed = allowed_pages(actor)
    hidden = [p for p in PAGES if p not in allowed]
    assert hidden, "every role below super-admin has pages it may not see"
    for spec in hidden:
        # Only pages registered with st.navigation can be opened at all.
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(page_path(spec.file))


def test_expected_visibility_per_role(app_world):
    def visible(role):
        return {p.title for p in allowed_pages(auth.actor_for(app_world.users[role].id))}

    reports = {p.title for p in PAGES if p.group == "Reports"}
    assert visible("analyst") == reports
    assert visible("operator") == reports | {"WeCom accounts", "Templates", "Batch sends",
                                             "Callback events"}
    assert visible("admin") == visible("operator") | {"Users & roles", "Webhooks", "Audit log"}
    assert visible("super_admin") == {p.title for p in PAGES}


# Pages outside the signed-in navigation (shown by app/main.py itself).
SHELL_PAGES = {"login.py", "no_access.py"}


def test_every_page_is_declared_once_and_takes_title_and_permission_from_it():
    """Adding a page means a file in app/app_pages/ and one PageSpec in ui/nav.py: a file
    without a spec, a spec without a file, or a page repeating its title or permission
    (which would drift from the spec) fails here."""
    import ast

    files = {p.name for p in PAGES_DIR.glob("*.py")}
    declared = [p.file for p in PAGES]
    assert len(declared) == len(set(declared)), "a page is declared twice"
    assert set(declared) == files - SHELL_PAGES
    assert len({p.url_path for p in PAGES}) == len(PAGES)
    for name in declared:
        tree = ast.parse((PAGES_DIR / name).read_text(encoding="utf-8"))
        calls = [ast.unparse(node.func) for node in ast.walk(tree)
                 if isinstance(node, ast.Call)]
        starts = [c for c in calls if c in ("nav.start", "reports.start")]
        assert len(starts) == 1, f"{name} must start with nav.start(__file__)"
        assert "st.title" not in calls and "session.require" not in calls, (
            f"{name} repeats its title or permission; ui.nav.PAGES declares them")

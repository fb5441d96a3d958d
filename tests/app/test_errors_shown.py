"""Issue 16 item 12, the app side: no traceback, SQL or driver error reaches a user.

- the app's Streamlit settings (``app/.streamlit/config.toml``, read next to the main
  script as ``streamlit run`` does) redact uncaught errors and hide the developer toolbar;
- an unexpected error on a page shows a friendly note with an error id, and the server log
  holds that id with the traceback;
- a raw database error stored on a callback event is shown to platform admins only.
"""

from __future__ import annotations

import logging
import re
import uuid

import pytest
from published_copy import republish
from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from ui.errors import HIDDEN_ERROR, stored_error
from ui.nav import PAGES_DIR
from wework.config import reload_settings
from wework.services import accounts

APP_MAIN = PAGES_DIR.parent / "main.py"
RAW_DB_ERROR = ("database error: IntegrityError: (pymysql.err.IntegrityError) (1062, "
                "\"Duplicate entry 'x' for key 'PRIMARY'\") [SQL: INSERT INTO messages "
                "(id, tenant_id) VALUES (%(id)s, %(tenant_id)s)]")


@pytest.fixture
def app_config():
    """Streamlit's config as ``streamlit run app/main.py`` loads it (the CLI stores the
    main script's path before parsing, so the app folder's .streamlit/config.toml counts,
    whatever the working directory)."""
    from streamlit import config

    saved = config._main_script_path
    config._main_script_path = str(APP_MAIN)
    config.get_config_options(force_reparse=True)
    try:
        yield config
    finally:
        config._main_script_path = saved
        config.get_config_options(force_reparse=True)


def test_app_settings_hide_error_details_toolbar_and_raw_export(app_config, tmp_path,
                                                                monkeypatch):
    monkeypatch.chdir(tmp_path)  # not the repo root: the file next to main.py still counts
    app_config.get_config_options(force_reparse=True)
    assert app_config.get_option("client.showErrorDetails") == "none"
    assert app_config.get_option("client.toolbarMode") == "viewer"
    assert app_config.get_option("client.disableDataExport") is True

    def broken_page():
        raise RuntimeError("SELECT password_hash FROM users -- secret-detail")

    at = AppTest.from_function(broken_page).run()
    shown = " ".join(str(e.proto) for e in at.exception)
    assert at.exception and "secret-detail" not in shown and "password_hash" not in shown


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_unexpected_error_shows_an_id_that_the_log_explains(app_as, tmp_path, monkeypatch):
    """Published marts that lost a column the landing page reads (a schema drift no
    "no published marts" note covers): the page fails, the user sees an id."""
    published = republish(
        reload_settings().publish_path, tmp_path / "published",
        edit=lambda con: con.execute(
            "ALTER TABLE marts.message_stats_daily DROP COLUMN total_count"),
    )
    monkeypatch.setenv("WEWORK_PUBLISH_DIR", str(published))
    reload_settings()

    log = Records()
    logging.getLogger("wework.app").addHandler(log)
    try:
        at = app_as("analyst")
    finally:
        logging.getLogger("wework.app").removeHandler(log)
    assert not at.exception  # nothing reached Streamlit's own error display
    notes = [e.value for e in at.error]
    assert len(notes) == 1 and "error id" in notes[0], notes
    error_id = re.search(r"error id ([0-9a-f]{12})", notes[0]).group(1)
    assert "duckdb" not in notes[0].lower() and str(published) not in notes[0]
    logged = [r for r in log.records if error_id in r.getMessage()]
    assert logged and logged[0].exc_info is not None  # the details, for the platform team


@pytest.fixture
def failed_callback(app_world, primary):
    """A failed callback event of the app tenant's account whose stored error is a raw
    database error (as callbacks._db_error stores one)."""
    guid = f"guid-{uuid.uuid4().hex[:10]}"
    accounts.create_account(app_world.admin_ctx, account_name=f"cb-{guid}", guid=guid)
    event_id = str(uuid.uuid4())
    with primary.begin() as conn:
        conn.execute(text(
            "INSERT INTO callback_events (id, guid, notify_type, event_type, raw_data, "
            "status, error_message) VALUES (:id, :guid, 20001, 'message.receipt', '{}', "
            "'failed', :err)"), {"id": event_id, "guid": guid, "err": RAW_DB_ERROR})
    return event_id


def callback_errors(at) -> dict[str, str]:
    df = at.dataframe[0].value
    return dict(zip(df["id"], df["error"], strict=True))


def test_tenant_users_see_a_sanitized_callback_error(app_as, failed_callback, app_world):
    at = app_as("admin").switch_page(str(PAGES_DIR / "admin_callbacks.py")).run()
    assert not at.exception
    shown = callback_errors(at)
    assert shown[failed_callback] == HIDDEN_ERROR

    at = app_as("super_admin", acting_tenant=app_world.tenant_id)
    at = at.switch_page(str(PAGES_DIR / "admin_callbacks.py")).run()
    assert callback_errors(at)[failed_callback] == RAW_DB_ERROR


@pytest.mark.parametrize("message", [
    "database error: OperationalError: (2013, 'Lost connection')",
    "(pymysql.err.DataError) (1406, \"Data too long for column 'category'\")",
    "bad [SQL: UPDATE roles SET permissions=%s]",
])
def test_raw_errors_are_hidden_from_tenants(message):
    assert stored_error(message, full=False) == HIDDEN_ERROR
    assert stored_error(message, full=True) == message


def test_the_platforms_own_reasons_stay_readable():
    reason = "guid: no account has guid 'abc'"
    assert stored_error(reason, full=False) == reason
    assert stored_error(None, full=False) is None

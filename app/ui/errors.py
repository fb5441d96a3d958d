"""Errors as users see them.

An unexpected error (a bug, a corrupt file, a server gone) never shows its traceback, SQL
or parameters: the page says what happened in plain words with an error id, and the server
log (the app's stderr) has that id with the full details. Every page runs inside
:func:`guarded` (the entry script wraps ``page.run()``), and so does every fragment that
reruns on its own (:func:`guard`). ``client.showErrorDetails = "none"`` in
``app/.streamlit/config.toml`` is the second line: whatever escapes still shows no details.

Stored error texts can hold raw database errors (a callback that failed to apply keeps
``database error: <exception>``); :func:`stored_error` shows those to platform admins only.
"""

from __future__ import annotations

import functools
import logging
import re
import secrets
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

import streamlit as st

from wework.errors import PrimaryUnavailable

log = logging.getLogger("wework.app")
if not log.handlers:  # Streamlit configures only its own loggers
    _handler = logging.StreamHandler(sys.stderr)
    _handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    log.addHandler(_handler)
    log.setLevel(logging.INFO)

P = ParamSpec("P")
R = TypeVar("R")


def new_error_id() -> str:
    return secrets.token_hex(6)


def _who() -> str:
    user = st.session_state.get("wework_user_id")
    tenant = st.session_state.get("wework_acting_tenant")
    return f"user={user} tenant={tenant}"


def show_unexpected(exc: BaseException) -> str:
    """Log ``exc`` with a new error id and show the user a note carrying that id."""
    error_id = new_error_id()
    if isinstance(exc, PrimaryUnavailable):
        log.warning("error %s (%s): %s", error_id, _who(), exc)
        st.error("The database cannot be reached right now, so nothing was saved. Please "
                 f"try again in a moment (error id {error_id}).", icon=":material/cloud_off:")
        return error_id
    log.error("error %s (%s): unexpected %s", error_id, _who(), type(exc).__name__,
              exc_info=exc)
    st.error("Something went wrong on our side and this page could not be shown in full. "
             f"The details are logged: please quote error id {error_id} when you report it.",
             icon=":material/error:")
    return error_id


@contextmanager
def guarded() -> Iterator[None]:
    """Run a page body; an unexpected error ends it with :func:`show_unexpected`.
    Streamlit's own control flow (``st.stop``, ``st.rerun``) derives from BaseException
    and passes through."""
    try:
        yield
    except Exception as exc:
        show_unexpected(exc)


def guard(fn: Callable[P, R]) -> Callable[P, R | None]:
    """:func:`guarded` for a function (a fragment that reruns without its page)."""

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R | None:
        with guarded():
            return fn(*args, **kwargs)
        return None

    return run


# What a stored error text looks like when it carries a raw exception rather than one of
# the platform's own field-named reasons.
_RAW_ERROR = re.compile(r"^database error\b|\(pymysql\.|\[SQL:|Traceback \(most recent|"
                        r"sqlalchemy\.|duckdb\.|\bOperationalError\b|\bIntegrityError\b",
                        re.IGNORECASE)
HIDDEN_ERROR = "internal error while applying it (details are kept for the platform team)"


def stored_error(message: str | None, *, full: bool) -> str | None:
    """A stored error text as this user may see it: in full when ``full`` (platform
    admins), else with raw database or driver errors replaced by a neutral reason."""
    if not message or full or not _RAW_ERROR.search(message):
        return message
    return HIDDEN_ERROR

"""Forms that write through the services: each input gets a slot right under it where
the service's ValidationError for that field is shown; other errors go above the form's
submit result. The services validate and write in one transaction, so a refused save
changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import streamlit as st

from wework.errors import (
    NotFoundError,
    PermissionDeniedError,
    PrimaryUnavailable,
    ServiceError,
    ValidationError,
)

T = TypeVar("T")


class FieldErrors:
    """Placeholders keyed by service field name (``variables.name`` falls back to
    ``variables``, ``target_config.rows[0]`` to ``target_config``)."""

    def __init__(self) -> None:
        self.slots: dict[str, Any] = {}

    def slot(self, *fields: str) -> None:
        holder = st.empty()
        for field in fields:
            self.slots[field] = holder

    def _holder(self, field: str):
        probe = field
        while probe:
            if probe in self.slots:
                return self.slots[probe]
            cut = max(probe.rfind("."), probe.rfind("["))
            probe = probe[:cut] if cut > 0 else ""
        return None

    def show(self, exc: ServiceError) -> None:
        if isinstance(exc, ValidationError):
            holder = self._holder(exc.field)
            if holder is not None:
                holder.error(f"{exc.field}: {exc.reason}", icon=":material/error:")
                return
            st.error(f"{exc.field}: {exc.reason}", icon=":material/error:")
        elif isinstance(exc, PermissionDeniedError | NotFoundError):
            st.error(str(exc), icon=":material/block:")
        elif isinstance(exc, PrimaryUnavailable):  # nothing was written; the user may retry
            st.error(str(exc), icon=":material/cloud_off:")
        else:
            st.error(str(exc), icon=":material/error:")


_DONE = "wework_page_done"


def show_done() -> None:
    """The success note of the write made in the previous run (see :func:`attempt`)."""
    done = st.session_state.pop(_DONE, None)
    if done:
        st.success(done, icon=":material/check_circle:")


def attempt(action: Callable[[], T], errors: FieldErrors | None = None,
            success: str | None = None, *, rerun: bool = True) -> T | None:
    """Run a service call; on a domain error show it (next to the field when known) and
    return None. On success, rerun the page so lists above the form show the change, with
    ``success`` shown at the top (``rerun=False``: show it here and return the result)."""
    try:
        result = action()
    except ServiceError as exc:
        (errors or FieldErrors()).show(exc)
        return None
    if rerun:
        st.session_state[_DONE] = success or "Saved."
        st.rerun()
    if success:
        st.success(success, icon=":material/check_circle:")
    return result


def parse_json(text: str, field: str, *, default: Any = None) -> Any:
    """JSON from a text area, or a ValidationError naming the form's field."""
    import json

    if not text.strip():
        return default
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ValidationError(field, f"is not valid JSON ({e.msg} at line {e.lineno})") from None

"""Keyset-paged lists: the services return ``Page(items, next_cursor)``; the page keeps
the stack of cursors it came through so "Previous" needs no OFFSET either."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from wework.services.pagination import Page

PAGE_SIZE = 20  # rows per page of every admin list


def paged(key: str, fetch: Callable[[str | None], Page[Any]]) -> Page[Any]:
    stack_key = f"{key}_cursors"
    stack: list[str | None] = st.session_state.setdefault(stack_key, [None])
    page = fetch(stack[-1])
    prev_col, info_col, next_col = st.columns([1, 3, 1])
    if prev_col.button("◀ Previous", key=f"{key}_prev", disabled=len(stack) == 1):
        stack.pop()
        st.rerun()
    info_col.caption(f"Page {len(stack)}")
    if next_col.button("Next ▶", key=f"{key}_next", disabled=page.next_cursor is None):
        stack.append(page.next_cursor)
        st.rerun()
    return page


def reset(key: str) -> None:
    st.session_state.pop(f"{key}_cursors", None)

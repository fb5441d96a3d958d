"""The signed-in user of this browser session: login, logout, idle timeout, the tenant
acted on, and the permission gate every page calls first.

Only the user's id is trusted from ``st.session_state``; the actor (and so the permission
set) is re-read from the primary on every run via ``auth.actor_for``. The session ends at
the next run, or the next 3-s tick of an auto-refreshing fragment, once the user is
deactivated, locked or deleted, the tenant suspended, or the password or permissions
changed since sign-in (``auth.session_stamp``; issue 16 item 10).
"""

from __future__ import annotations

import time

import streamlit as st

from wework.config import get_settings
from wework.errors import AuthenticationError, NotFoundError
from wework.services import auth
from wework.services.context import Actor, ServiceContext
from wework.services.permissions import PLATFORM_ADMIN

_USER = "wework_user_id"
_HOME_TENANT = "wework_home_tenant"
_ACTING_TENANT = "wework_acting_tenant"
_LAST_SEEN = "wework_last_seen"
_FLASH = "wework_flash"
_ACTOR = "wework_actor"  # refreshed each run; never restored without a DB check
_STAMP = "wework_session_stamp"  # auth.session_stamp at sign-in
_GONE = "Your user can no longer sign in. Ask an administrator."
_CHANGED = "Your password or permissions changed since you signed in. Please sign in again."


def client_ip() -> str | None:
    try:
        ip = st.context.ip_address
    except Exception:
        return None
    return ip if isinstance(ip, str) else None  # AppTest hands back a mock


def sign_in(username: str, password: str, tenant_code: str | None = None) -> Actor:
    """Check the credentials with the platform's auth service (argon2id, lockout) and
    start the session. Raises AuthenticationError with the service's single message."""
    actor = auth.login(username, password, client_ip(), tenant_code=tenant_code or None)
    st.session_state[_USER] = actor.user_id
    st.session_state[_HOME_TENANT] = actor.tenant_id
    st.session_state[_ACTING_TENANT] = actor.tenant_id
    st.session_state[_LAST_SEEN] = time.time()
    st.session_state[_ACTOR] = actor
    st.session_state[_STAMP] = actor.session_stamp
    return actor


def sign_out(message: str | None = None) -> None:
    for key in (_USER, _HOME_TENANT, _ACTING_TENANT, _LAST_SEEN, _ACTOR, _STAMP):
        st.session_state.pop(key, None)
    # Widget state of the admin pages must not leak into the next user's session.
    for key in [k for k in st.session_state if not str(k).startswith("wework_")]:
        del st.session_state[key]
    if message:
        st.session_state[_FLASH] = message


def pop_flash() -> str | None:
    return st.session_state.pop(_FLASH, None)


def refresh() -> Actor | None:
    """Run once per script run (by the entry script): end an idle or revoked session,
    otherwise reload the actor from the database and mark the session as active."""
    user_id = st.session_state.get(_USER)
    if user_id is None:
        return None
    now = time.time()
    last = st.session_state.get(_LAST_SEEN, now)
    limit = get_settings().app_idle_minutes
    if now - last > limit * 60:
        sign_out(f"Your session expired after {limit:g} minutes without activity. "
                 "Please sign in again.")
        return None
    try:
        actor = _current(user_id)
    except NotFoundError:
        sign_out(_GONE)
        return None
    if actor is None:
        sign_out(_CHANGED)
        return None
    st.session_state[_LAST_SEEN] = now
    st.session_state[_ACTOR] = actor
    if not actor.is_super_admin:
        # Pinned: whatever was stored, everyone else acts on their own tenant only.
        st.session_state[_ACTING_TENANT] = actor.tenant_id
    return actor


def _current(user_id: str) -> Actor | None:
    """The user's actor as the database has it now; None when the password or the
    permissions changed since sign-in (the session stamp differs); NotFoundError when the
    user or the tenant is no longer active. A session without a stamp (started by code
    rather than by :func:`sign_in`: session state is server-side) takes the current one."""
    actor = auth.actor_for(user_id, st.session_state.get(_HOME_TENANT))
    stamp = st.session_state.setdefault(_STAMP, actor.session_stamp)
    return actor if actor.session_stamp == stamp else None


def still_active() -> bool:
    """For auto-refreshing fragments, which rerun without the entry script: False once
    the idle limit has passed or the session has ended (:func:`_current`, one read of the
    primary per tick); the caller then reruns the whole app, which signs out.
    Auto-refreshes themselves never count as activity."""
    last = st.session_state.get(_LAST_SEEN)
    user_id = st.session_state.get(_USER)
    return (user_id is not None and last is not None
            and time.time() - last <= get_settings().app_idle_minutes * 60
            and _still_current(user_id))


def _still_current(user_id: str) -> bool:
    try:
        return _current(user_id) is not None
    except NotFoundError:
        return False


def current_actor() -> Actor | None:
    return st.session_state.get(_ACTOR)


def can(actor: Actor | None, permission: str) -> bool:
    return actor is not None and (permission in actor.permissions
                                  or PLATFORM_ADMIN in actor.permissions)


def acting_tenant() -> str | None:
    return st.session_state.get(_ACTING_TENANT)


def set_acting_tenant(tenant_id: str) -> None:
    """Super-admins only; anyone else stays pinned (the service refuses too)."""
    actor = current_actor()
    if actor is not None and actor.is_super_admin:
        st.session_state[_ACTING_TENANT] = tenant_id


def context() -> ServiceContext:
    """The service context of the signed-in user on the tenant being acted on."""
    actor = current_actor()
    if actor is None:
        raise AuthenticationError("not signed in")
    return auth.context_for(actor, acting_tenant(), client_ip())


def require(permission: str) -> ServiceContext:
    """Gate at the top of every page: stop rendering unless a signed-in user holds
    ``permission``. Navigation hides such pages already; this guards direct script runs."""
    actor = current_actor()
    if actor is None:
        st.warning("Please sign in.")
        st.stop()
    if not can(actor, permission):
        st.error(f"You do not have the permission this page needs ({permission}).")
        st.stop()
    from ui.forms import show_done  # the previous run's successful write, if any

    show_done()
    return context()

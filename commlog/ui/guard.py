"""The login gate every page calls at its top.

A file under pages/ can be run by Streamlit without app.py (legacy pages mode before any session
has called st.navigation), so each page checks the login itself: `principal = require_login()`.
"""

from __future__ import annotations

from datetime import datetime, timezone

import streamlit as st
from streamlit.errors import StreamlitAPIException

from commlog import auth
from commlog.principal import Principal, Role
from commlog.ui.resources import ensure_ready

SESSION_KEY = "commlog_user_id"


def current_principal() -> Principal | None:
    """The logged-in principal, re-read from the database every run (disabling takes effect at once)."""
    user_id = st.session_state.get(SESSION_KEY)
    if user_id is None:
        return None
    with ensure_ready().connect() as conn:
        principal = auth.load_principal(conn, int(user_id))
    if principal is None:
        st.session_state.pop(SESSION_KEY, None)
    return principal


def login_form() -> None:
    """The local-account login. Query parameters are left alone, so a shared link still opens its view."""
    _, middle, _ = st.columns([1, 2, 1])
    with middle:
        _login_form_body()


def _login_form_body() -> None:
    st.title("Communication Log")
    st.caption("Sign in to see your lender's emails and whether they were delivered.")
    with st.form("login", clear_on_submit=False):
        email = st.text_input("Email", max_chars=320, autocomplete="username")
        password = st.text_input("Password", type="password", max_chars=auth.MAX_PASSWORD_LENGTH, autocomplete="current-password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        try:
            with ensure_ready().begin() as conn:
                principal = auth.authenticate(conn, email, password, datetime.now(timezone.utc))
        except auth.AuthError as exc:
            st.error(str(exc))
            return
        st.session_state[SESSION_KEY] = principal.user_id
        st.rerun()


def require_login(role: Role | None = None) -> Principal:
    """Stop the page unless someone is logged in (and, if given, has the role).

    Also lays out the page and its sidebar, identically whether the page runs under app.py's
    st.navigation or directly (Streamlit's legacy pages/ mode on a fresh server)."""
    st.set_page_config(page_title="Communication Log", page_icon="✉️", layout="wide")
    principal = current_principal()
    if principal is None:
        login_form()
        st.stop()
    render_sidebar(principal)
    if role is not None and principal.role != role:
        st.error("This page is for platform ops only.")
        st.stop()
    return principal


def render_sidebar(principal: Principal) -> None:
    """Our own menu (config hides Streamlit's): the same in both modes, and role-aware."""
    links = [("pages/log.py", "log", "Communication Log", "✉️"), ("pages/deliverability.py", "deliverability", "Deliverability", "📈")]
    if principal.role == Role.OPS:
        links.append(("pages/audit.py", "audit", "Audit", "🗒️"))
    with st.sidebar:
        for path, url_path, label, icon in links:
            try:
                st.page_link(path, label=label, icon=icon)
            except StreamlitAPIException:  # a page file run on its own (no page registry): plain link
                st.markdown(f"{icon} [{label}](/{url_path})")
        st.divider()
        st.caption(f"Signed in as `{principal.email}`")
        st.caption("Platform ops: all lenders, read-only" if principal.is_ops else "Lender admin")
        if st.button("Sign out", key="sign_out"):
            logout()
            st.rerun()


def logout() -> None:
    st.session_state.pop(SESSION_KEY, None)
    for key in list(st.session_state.keys()):
        del st.session_state[key]

"""The login gate every page calls at its top.

A file under pages/ can be run by Streamlit without app.py (legacy pages mode before any session
has called st.navigation), so each page checks the login itself: `principal = require_login()`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime

import streamlit as st

from commlog import auth, sso
from commlog.principal import Principal, Role
from commlog.tenancy import principal_scope, set_current_lender
from commlog.ui.boundary import sidebar_drawn
from commlog.ui.links import page_link
from commlog.ui.resources import ensure_ready
from commlog.unit_of_work import platform_reading, platform_writing

SESSION_KEY = "commlog_user_id"
SSO_SEEN_KEY = "commlog_sso_user_id"  # the user whose single sign-on was last recorded in this session


def current_principal() -> Principal | None:
    """The logged-in principal, re-read from the database every run (disabling takes effect at once):
    this session's local login first, then the single sign-on identity (`st.user`) when `[auth]` is set."""
    set_current_lender(None)  # read users unscoped; Streamlit reuses threads, so never keep a past run's scope
    user_id = st.session_state.get(SESSION_KEY)
    if user_id is not None:
        with platform_reading(ensure_ready()) as conn:  # who is asking: read before any scope
            principal = auth.load_principal(conn, int(user_id))
        if principal is not None:
            return principal
        st.session_state.pop(SESSION_KEY, None)
    outcome = sso_outcome()
    return outcome if isinstance(outcome, Principal) else None


def sso_configured() -> bool:
    """Single sign-on is offered when the secrets hold an `[auth]` section for `st.login()`."""
    try:
        section = st.secrets.get("auth")
    except Exception:  # noqa: BLE001 - no secrets file, or an unreadable one: no single sign-on
        return False
    return isinstance(section, Mapping) and bool(section.get("client_id"))


def _sso_claims() -> dict | None:
    """The signed-in single sign-on identity's claims, or None (not configured, or not signed in)."""
    if not sso_configured():
        return None
    try:
        claims = st.user.to_dict()
    except Exception:  # noqa: BLE001 - no identity available in this run
        return None
    return claims if claims.get("is_logged_in") is True else None


def sso_outcome() -> Principal | sso.RefusalReason | None:
    """Who the single sign-on identity is in commlog (or why it is refused); None without one."""
    claims = _sso_claims()
    if claims is None:
        return None
    with platform_reading(ensure_ready()) as conn:
        outcome = sso.principal_for_identity(conn, claims)
    if isinstance(outcome, Principal) and st.session_state.get(SSO_SEEN_KEY) != outcome.user_id:
        with platform_writing(ensure_ready()) as conn:
            sso.record_login(conn, outcome.user_id, datetime.now(UTC))
        st.session_state[SSO_SEEN_KEY] = outcome.user_id
    return outcome


def login_form() -> None:
    """The local-account login, with single sign-on beside it when configured; a refused single
    sign-on identity gets the refusal page instead. Query parameters are left alone, so a shared
    link still opens its view."""
    outcome = sso_outcome()
    _, middle, _ = st.columns([1, 2, 1])
    with middle:
        if isinstance(outcome, sso.RefusalReason):
            _sso_refusal_body(outcome)
        else:
            _login_form_body()


def _sso_refusal_body(reason: sso.RefusalReason) -> None:
    st.title("Communication Log")
    # The email comes from the identity provider: shown as text, never as Markdown.
    st.error(re.sub(r"([\\`*_{}\[\]()<>#+!|~])", r"\\\1", reason.message))
    if st.button("Sign out", key="sso_sign_out", type="primary"):
        logout()
        st.rerun()


def _login_form_body() -> None:
    st.title("Communication Log")
    st.caption("Sign in to see your lender's emails and whether they were delivered.")
    if sso_configured():
        if st.button("Sign in with single sign-on", key="sso_sign_in", width="stretch"):
            st.login()
        st.caption("Or with a commlog account:")
    with st.form("login", clear_on_submit=False):
        email = st.text_input("Email", max_chars=320, autocomplete="username")
        password = st.text_input("Password", type="password", max_chars=auth.MAX_PASSWORD_LENGTH, autocomplete="current-password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        refusal = None
        with platform_writing(ensure_ready()) as conn:
            try:
                principal = auth.authenticate(conn, email, password, datetime.now(UTC))
            except auth.AuthError as exc:
                refusal = exc  # caught inside the transaction: the failed attempt is committed (throttling)
        if refusal is not None:
            st.error(str(refusal))
            return
        st.session_state[SESSION_KEY] = principal.user_id
        st.rerun()


def require_login(role: Role | None = None) -> Principal:
    """Stop the page unless someone is logged in (and, if given, has the role).

    Also lays out the page and its sidebar, identically whether the page runs under app.py's
    st.navigation or directly (Streamlit's legacy pages/ mode on a fresh server)."""
    st.set_page_config(page_title="Communication Log", page_icon="✉️", layout="wide")
    sidebar_drawn.set(False)  # threads are reused: this run has not drawn its sidebar yet
    set_current_lender(None)  # every run starts unscoped (threads are reused), logged in or not
    principal = current_principal()
    if principal is None:
        login_form()
        st.stop()
    set_current_lender(principal_scope(principal))  # PostgreSQL row-level security for this run (commlog.tenancy)
    render_sidebar(principal)
    if role is not None and principal.role != role:
        st.error("This page is for platform ops only.")
        st.stop()
    return principal


def render_sidebar(principal: Principal) -> None:
    """Our own menu (config hides Streamlit's): the same in both modes, and role-aware."""
    links = [("pages/log.py", "Communication Log", "✉️"), ("pages/deliverability.py", "Deliverability", "📈")]
    if principal.role == Role.OPS:
        links.append(("pages/audit.py", "Audit", "🗒️"))
    with st.sidebar:
        for path, label, icon in links:
            page_link(path, label, icon=icon)
        st.divider()
        st.caption(f"Signed in as `{principal.email}`")
        st.caption("Platform ops: all lenders, read-only" if principal.is_ops else "Lender admin")
        sign_out_button()
    sidebar_drawn.set(True)


def sign_out_button() -> None:
    if st.button("Sign out", key="sign_out"):
        logout()
        st.rerun()


def logout() -> None:
    """End the local login and, when signed on, the single sign-on identity (`st.logout()`).

    After st.logout() the run stops: the browser is on its way to /auth/logout (which clears the
    identity cookie), and a rerun's page update could cancel that navigation."""
    signed_on = _sso_claims() is not None
    st.session_state.pop(SESSION_KEY, None)
    for key in list(st.session_state.keys()):
        del st.session_state[key]
    if signed_on:
        st.logout()
        st.stop()

"""The login gate every page calls at its top.

A file under pages/ can be run by Streamlit without app.py (legacy pages mode before any session
has called st.navigation), so each page checks the login itself: `principal = require_login()`.

Sessions end by time (commlog.session_lifetime): the sign-in time and the last activity (any script
run of a page for this session) are kept in session state, read from `clock` (tests replace it).
An ended session's login is cleared, an audit row written, and the sign-in form says why; the URL is
left alone, so the same view comes back after sign-in. A session runs only when its browser sends
something, so a page also carries a small timer (`_session_watch`) that asks now and then, and
clears the screen of a session left open.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

import streamlit as st

from commlog import audit, auth, session_lifetime, sso
from commlog.client_address import client_ip as client_ip_of
from commlog.principal import Principal, Role
from commlog.settings import settings
from commlog.tenancy import principal_scope, set_current_lender
from commlog.ui.boundary import safe_callback, show_callback_incident
from commlog.ui.menu import menu_drawn, render_menu
from commlog.ui.resources import ensure_ready
from commlog.ui.warm_up import warm_up_pages
from commlog.unit_of_work import platform_reading, platform_writing, writing

SESSION_KEY = "commlog_user_id"
SSO_SEEN_KEY = "commlog_sso_user_id"  # the user whose single sign-on was last recorded in this session
SSO_REFUSAL_SEEN_KEY = "commlog_sso_refusal"  # the refusal last recorded in this session (kind, email)
SIGNED_IN_AT_KEY = "commlog_signed_in_at"  # when this session's login began (UTC)
ACTIVITY_KEY = "commlog_last_activity_at"  # this session's last script run while signed in (UTC)
SIGNED_OUT_NOTICE_KEY = "commlog_signed_out_notice"  # why the last login ended by time, for the form


def _utcnow() -> datetime:
    return datetime.now(UTC)


clock: Callable[[], datetime] = _utcnow  # what "now" is for session lifetimes (tests replace it)


def utcnow() -> datetime:
    """The time sign-ins and sign-outs are judged and recorded at (tests replace it: throttling
    delays are tested with a clock they move, never by waiting); `clock` unless replaced."""
    return clock()


def client_ip() -> str | None:
    """This session's client IP (None: a local connection), by commlog.client_address's rule: the
    connection's peer, or what trusted proxies (COMMLOG_TRUSTED_PROXIES) say in X-Forwarded-For."""
    forwarded = ", ".join(st.context.headers.get_all("X-Forwarded-For")) or None
    return client_ip_of(st.context.ip_address, forwarded, settings().trusted_proxies)


def current_principal() -> Principal | None:
    """The logged-in principal, re-read from the database every run (disabling takes effect at once):
    this session's local login first, then the single sign-on identity (`st.user`) when `[auth]` is set."""
    set_current_lender(None)  # no scope (sees nothing); Streamlit reuses threads, so never keep a past run's scope
    user_id = st.session_state.get(SESSION_KEY)
    if user_id is not None:
        with platform_reading(ensure_ready()) as conn:  # who is asking: the platform's read, before any lender
            principal = auth.load_principal(conn, int(user_id))
        if principal is not None:
            return None if _ended_by_time(principal, signed_on=False) else principal
        st.session_state.pop(SESSION_KEY, None)
    outcome = sso_outcome()
    if isinstance(outcome, Principal):
        return None if _ended_by_time(outcome, signed_on=True) else outcome
    return None


def _limits() -> session_lifetime.Limits:
    return session_lifetime.Limits.from_settings(settings())


def _start_session_clock(signed_in_at: datetime) -> None:
    """A login began: the lifetime counts from `signed_in_at`, the idle time from now."""
    st.session_state[SIGNED_IN_AT_KEY] = signed_in_at
    st.session_state[ACTIVITY_KEY] = clock()
    st.session_state.pop(SIGNED_OUT_NOTICE_KEY, None)


def _ended_by_time(principal: Principal, *, signed_on: bool) -> bool:
    """This run is activity, unless the session is over: then its login ends (and, signed on, the
    single sign-on identity with `st.logout()`), an audit row says why, and the form will say so."""
    now = clock()
    # A login this session saw begin has both times; one set by other means (a test) starts now.
    signed_in_at = st.session_state.setdefault(SIGNED_IN_AT_KEY, now)
    last_activity_at = st.session_state.get(ACTIVITY_KEY, now)
    ended = session_lifetime.expiry(_limits(), signed_in_at, last_activity_at, now)
    if ended is None:
        st.session_state[ACTIVITY_KEY] = now
        return False
    with writing(ensure_ready(), principal) as conn:
        session_lifetime.record_sign_out(conn, principal, ended.reason, now, client_ip())
    for key in list(st.session_state.keys()):  # a shared computer: nothing of the session stays
        del st.session_state[key]
    st.session_state[SIGNED_OUT_NOTICE_KEY] = ended.message
    if signed_on:  # the identity cookie outlives this session: end it at the identity's own logout
        st.logout()
        st.stop()
    return True


def _sso_signed_in_at(claims: dict) -> datetime:
    """When the single sign-on identity signed in: its token's `iat` (the identity cookie outlives a
    tab, so a new tab does not restart the lifetime), else now."""
    issued = claims.get("iat")
    if isinstance(issued, int | float) and not isinstance(issued, bool):
        return min(datetime.fromtimestamp(issued, UTC), clock())
    return clock()


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
            sso.record_login(conn, outcome, utcnow(), client_ip())
        st.session_state[SSO_SEEN_KEY] = outcome.user_id
        _start_session_clock(_sso_signed_in_at(claims))
    elif isinstance(outcome, sso.RefusalReason) and st.session_state.get(SSO_REFUSAL_SEEN_KEY) != outcome:
        with platform_writing(ensure_ready()) as conn:  # once per session and identity, not once per rerun
            sso.record_refusal(conn, outcome, utcnow(), client_ip())
        st.session_state[SSO_REFUSAL_SEEN_KEY] = outcome
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
    notice = st.session_state.get(SIGNED_OUT_NOTICE_KEY)
    if notice:
        st.info(notice, icon=":material/schedule:")
    st.caption("Sign in to see your lender's emails and whether they were delivered.")
    if sso_configured():
        if st.button("Sign in with single sign-on", key="sso_sign_in", width="stretch"):
            st.login()
        st.caption("Or with a commlog account:")
    show_callback_incident()  # the sign-in itself failed on our side (the database): the calm message
    with st.form("login", clear_on_submit=False):
        st.text_input("Email", max_chars=320, autocomplete="username", key=_EMAIL_KEY)
        st.text_input("Password", type="password", max_chars=auth.MAX_PASSWORD_LENGTH, autocomplete="current-password",
                      key=_PASSWORD_KEY)
        st.form_submit_button("Sign in", type="primary", on_click=_sign_in)
    warm_up_pages()  # the code of the pages after sign-in loads while the person types (commlog.ui.warm_up)
    refusal = st.session_state.pop(_REFUSAL_KEY, None)
    if refusal is not None:
        st.error(refusal)


_EMAIL_KEY, _PASSWORD_KEY, _REFUSAL_KEY = "login_email", "login_password", "login_refusal"


@safe_callback
def _sign_in() -> None:
    """Sign in's callback. Streamlit runs it before the script run the click starts, so that run
    already draws the page asked for (its URL), signed in: one run, not the form's run and a rerun.
    A refusal is kept for the form to show in that run."""
    email, password = st.session_state.get(_EMAIL_KEY, ""), st.session_state.get(_PASSWORD_KEY, "")
    refusal = None
    with platform_writing(ensure_ready()) as conn:
        try:
            principal = auth.authenticate(conn, email, password, utcnow(), client_ip())
        except auth.AuthError as exc:
            refusal = exc  # caught inside the transaction: the failed attempt and its audit entry are committed
    if refusal is not None:
        st.session_state[_REFUSAL_KEY] = str(refusal)
        return
    st.session_state[SESSION_KEY] = principal.user_id
    _start_session_clock(clock())


def require_login(role: Role | None = None) -> Principal:
    """Stop the page unless someone is logged in (and, if given, has the role).

    Also lays out the page and its menu, identically whether the page runs under app.py's
    st.navigation or directly (Streamlit's legacy pages/ mode on a fresh server)."""
    st.set_page_config(page_title="Communication Log", page_icon="✉️", layout="wide")
    menu_drawn.set(False)  # threads are reused: this run has not drawn its menu yet
    set_current_lender(None)  # every run starts with no scope, seeing nothing (threads are reused), logged in or not
    principal = current_principal()
    if principal is None:
        login_form()
        st.stop()
    set_current_lender(principal_scope(principal))  # PostgreSQL row-level security for this run (commlog.tenancy)
    render_menu(principal)
    _session_watch()
    if role is not None and principal.role != role:
        st.error("This page is for platform ops only.")
        st.stop()
    return principal


def fragment_gate() -> None:
    """Before a fragment's body: a fragment's own run skips the page's login gate, so it checks the
    session's time here. Ended: the whole page runs again, which signs the session out and shows the
    form (a click on Download after the idle time starts nothing). Else the click is activity."""
    signed_in_at, last_activity_at = st.session_state.get(SIGNED_IN_AT_KEY), st.session_state.get(ACTIVITY_KEY)
    if signed_in_at is None or last_activity_at is None:
        return  # not signed in through this gate (the page's own run decides)
    now = clock()
    if session_lifetime.expiry(_limits(), signed_in_at, last_activity_at, now) is not None:
        st.rerun(scope="app")
    st.session_state[ACTIVITY_KEY] = now


def _session_watch() -> None:
    """A timer on the page: every quarter of the idle limit it asks the server (a fragment run, not
    activity), and a session that has ended by then is rerun to the sign-in form, clearing the
    screen of a session left open within 1.25 times the idle limit. Streamlit keeps one interval per
    fragment across runs, so with the default limit it fires every 7.5 minutes."""
    limits = _limits()

    def session_watch() -> None:
        signed_in_at, last_activity_at = st.session_state.get(SIGNED_IN_AT_KEY), st.session_state.get(ACTIVITY_KEY)
        if signed_in_at is None or last_activity_at is None:
            return
        if session_lifetime.expiry(limits, signed_in_at, last_activity_at, clock()) is not None:
            st.rerun(scope="app")

    st.fragment(session_watch, run_every=max(limits.idle / 4, timedelta(seconds=1)))()


def _signed_in(user_id, claims: dict | None) -> Principal | None:
    """Who a session with this local login and single sign-on identity was signed in as; records nothing."""
    if user_id is None and claims is None:
        return None
    with platform_reading(ensure_ready()) as conn:
        principal = auth.load_principal(conn, int(user_id)) if user_id is not None else None
        if principal is None and claims is not None:
            outcome = sso.principal_for_identity(conn, claims)
            principal = outcome if isinstance(outcome, Principal) else None
    return principal


def logout(reason: str = "user") -> None:
    """End the local login and, when signed on, the single sign-on identity (`st.logout()`); the
    audit trail gets a `sign_out` with `reason` (user, idle_timeout, lifetime) when someone was
    signed in. The session (and identity) are ended whether or not that write succeeds.

    After st.logout() the run stops: the browser is on its way to /auth/logout (which clears the
    identity cookie), and a rerun's page update could cancel that navigation."""
    claims = _sso_claims()
    user_id = st.session_state.get(SESSION_KEY)
    for key in list(st.session_state.keys()):
        del st.session_state[key]
    try:
        principal = _signed_in(user_id, claims)
        if principal is not None:
            with platform_writing(ensure_ready()) as conn:
                audit.record_sign_out(conn, principal, at=utcnow(), ip=client_ip(), reason=reason)
    finally:  # the identity is signed out even when the audit write fails (the error then shows as usual)
        if claims is not None:
            st.logout()
    if claims is not None:
        st.stop()

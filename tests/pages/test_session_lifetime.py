"""Sessions end by time (issue 14, point 4), in AppTest with the guard's clock replaced: an idle
session is signed out at its next run, an active one at its lifetime; the sign-in form says why,
the URL (and so the view) survives, and the audit trail has the sign-out with its reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from commlog.models import AuditEntry
from commlog.ui import guard
from tests.support.app import PASSWORD, app, build_two_lenders, buttons, data_tables, page_text

ADMIN = "admin@alpha.example"
IDLE_NOTICE = "You were signed out after 30 minutes without activity."


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def world(sqlite_engine, sqlite_url, monkeypatch):
    monkeypatch.setenv("COMMLOG_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("COMMLOG_PROVIDER", "sandbox")
    return build_two_lenders(sqlite_engine)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(guard, "clock", fake)
    return fake


def sign_in(at, email: str = ADMIN, password: str = PASSWORD):
    at.text_input[0].input(email)
    at.text_input[1].input(password)
    at.button[0].click().run()
    assert not at.exception
    return at


def signed_in(at) -> bool:
    return bool(at.dataframe) and "Sign in" not in [b.label for b in at.button]


def sign_outs(engine) -> list[tuple[str, str, int | None, datetime]]:
    with engine.connect() as c:
        rows = c.execute(select(AuditEntry.user_email, AuditEntry.detail, AuditEntry.lender_id, AuditEntry.at)
                         .where(AuditEntry.action == "sign_out").order_by(AuditEntry.id)).all()
    return [tuple(r) for r in rows]


def test_an_idle_session_is_signed_out_at_its_next_run_and_the_view_comes_back(world, clock, sqlite_engine):
    at = sign_in(app(params={"delivery": "NOT_DELIVERED", "range": "7d"}).run())
    assert signed_in(at) and list(at.dataframe[0].value["To"]) == ["bob.ng@outlook.com"]

    clock.advance(minutes=29)
    at.run()  # activity: the idle time starts again
    clock.advance(minutes=29)
    at.run()
    assert signed_in(at) and not sign_outs(sqlite_engine)

    clock.advance(minutes=30)
    at.run()  # the next interaction after 30 idle minutes
    assert not at.exception
    assert not data_tables(at) and buttons(at) == ["Sign in"]
    assert [i.value for i in at.info] == [IDLE_NOTICE]
    assert "bob.ng@outlook.com" not in page_text(at)
    assert (at.query_params["delivery"], at.query_params["range"]) == ("NOT_DELIVERED", "7d")
    assert sign_outs(sqlite_engine) == [(ADMIN, "idle_timeout", world["a"], clock.now)]

    sign_in(at)  # the same view, from the URL
    assert signed_in(at) and at.selectbox(key="log_delivery").value == "NOT_DELIVERED"
    assert list(at.dataframe[0].value["To"]) == ["bob.ng@outlook.com"]
    assert IDLE_NOTICE not in page_text(at)


def test_an_active_session_ends_at_its_lifetime(world, clock, sqlite_engine, monkeypatch):
    monkeypatch.setenv("COMMLOG_SESSION_MAX_HOURS", "1")
    at = sign_in(app().run(), "ops@commlog.example")
    for _ in range(2):
        clock.advance(minutes=25)
        at.run()
        assert signed_in(at)
    clock.advance(minutes=10)  # 60 minutes after the sign-in, 10 after the last run
    at.run()
    assert buttons(at) == ["Sign in"] and not data_tables(at)
    assert [i.value for i in at.info] == ["You were signed out after 1 hour; sign in again."]
    assert sign_outs(sqlite_engine) == [("ops@commlog.example", "lifetime", None, clock.now)]


def test_the_idle_limit_is_a_setting(world, clock, sqlite_engine, monkeypatch):
    monkeypatch.setenv("COMMLOG_SESSION_IDLE_MINUTES", "5")
    at = sign_in(app().run())
    clock.advance(minutes=4, seconds=59)
    at.run()
    assert signed_in(at)
    clock.advance(minutes=5)
    at.run()
    assert [i.value for i in at.info] == ["You were signed out after 5 minutes without activity."]
    assert [detail for _, detail, _, _ in sign_outs(sqlite_engine)] == ["idle_timeout"]


def test_an_expired_session_forgets_what_it_held(world, clock):
    at = sign_in(app().run())
    at.selectbox(key="log_delivery").select("NOT_DELIVERED").run()
    clock.advance(hours=1)
    at.run()
    assert guard.SESSION_KEY not in at.session_state
    assert "log_delivery" not in at.session_state


# --- single sign-on: the identity cookie outlives a tab, so its lifetime counts from the token ------


@pytest.fixture
def signed_on(world, clock, monkeypatch):
    """A single sign-on identity for Lender A's admin (st.user's claims), and st.logout() recorded."""
    identity = {"is_logged_in": True, "email": ADMIN, "email_verified": True, "iat": clock.now.timestamp()}
    logouts: list[bool] = []
    monkeypatch.setattr(guard, "_sso_claims", lambda: None if logouts else identity)
    monkeypatch.setattr(guard.st, "logout", lambda: logouts.append(True))
    return identity, logouts


def test_a_single_sign_on_session_ends_with_its_identity(signed_on, clock, sqlite_engine):
    _, logouts = signed_on
    at = app().run()
    assert signed_in(at)
    clock.advance(minutes=31)
    at.run()
    assert logouts == [True]  # st.logout(): the identity cookie is cleared, not just this session's state
    assert not data_tables(at)
    assert [detail for _, detail, _, _ in sign_outs(sqlite_engine)] == ["idle_timeout"]


def test_a_new_tab_with_an_old_identity_is_past_its_lifetime(signed_on, clock, sqlite_engine):
    identity, logouts = signed_on
    identity["iat"] = (clock.now - timedelta(hours=12, minutes=1)).timestamp()  # signed on yesterday evening
    at = app().run()  # a fresh Streamlit session: no activity for 12 hours is not what counts here
    assert logouts == [True] and not data_tables(at)
    assert [detail for _, detail, _, _ in sign_outs(sqlite_engine)] == ["lifetime"]


def _page_with_a_fragment() -> None:
    """A page as the guard lays it out: the whole run checks the session first (here: forgets the
    login when it has ended, as `require_login` does), then a fragment draws its part."""
    import streamlit as st

    from commlog.session_lifetime import expiry
    from commlog.ui import guard
    from commlog.ui.boundary import fragment

    signed_in_at, last = st.session_state.get(guard.SIGNED_IN_AT_KEY), st.session_state.get(guard.ACTIVITY_KEY)
    if signed_in_at is not None and expiry(guard._limits(), signed_in_at, last, guard.clock()) is not None:
        st.session_state.clear()
        st.session_state["whole_page_ended_it"] = True
    elif not st.session_state.get("whole_page_ended_it"):  # signed in at the first run
        st.session_state.setdefault(guard.SIGNED_IN_AT_KEY, guard.clock())
        st.session_state.setdefault(guard.ACTIVITY_KEY, guard.clock())

    @fragment
    def panel() -> None:
        st.button("Download failures CSV", key="download")

    panel()


def test_a_click_in_a_fragment_is_activity_and_after_the_idle_time_runs_the_whole_page(clock):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_page_with_a_fragment).run()
    clock.advance(minutes=20)
    at.button(key="download").click().run()  # a click in the fragment: the idle time starts again
    assert at.session_state[guard.ACTIVITY_KEY] == clock.now
    clock.advance(minutes=31)
    at.button(key="download").click().run()  # after the idle time: the whole page runs and ends it
    assert not at.exception
    assert at.session_state["whole_page_ended_it"] is True

"""The sign-in form and the Audit page (AppTest) for issue 14: the form's words while throttled,
the same for unknown addresses; the real user's own network is not slowed; sign-ins and sign-outs
land in the audit trail with the client IP; the Audit page filters them and states the retention."""

from __future__ import annotations

from datetime import timedelta

import pytest
import streamlit as st
from sqlalchemy import select

from commlog.models import AuditEntry
from commlog.ui import guard
from tests.support import factories as f
from tests.support.app import PASSWORD, app, build_two_lenders, buttons

ADMIN = "admin@alpha.example"
NOT_RIGHT = "Email or password is not right."


class Clock:
    """The sign-in form's clock (commlog.ui.guard.utcnow), moved by the test."""

    def __init__(self):
        self.now = f.T0

    def __call__(self):
        return self.now


@pytest.fixture
def world(sqlite_engine, sqlite_url, monkeypatch):
    st.cache_data.clear()
    st.cache_resource.clear()
    monkeypatch.setenv("COMMLOG_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("COMMLOG_PROVIDER", "sandbox")
    clock, network = Clock(), {"ip": "203.0.113.66"}
    monkeypatch.setattr(guard, "utcnow", clock)
    monkeypatch.setattr(guard, "client_ip", lambda: network["ip"])  # which network the browser is on
    yield {**build_two_lenders(sqlite_engine), "clock": clock, "network": network, "engine": sqlite_engine}
    st.cache_data.clear()
    st.cache_resource.clear()


def sign_in(email: str, password: str):
    at = app().run()
    at.text_input[0].input(email)
    at.text_input[1].input(password)
    at.button[0].click().run()
    assert not at.exception
    return at


def errors(at) -> list[str]:
    return [e.value for e in at.error]


def test_the_form_says_the_same_for_unknown_and_known_addresses_and_names_the_wait(world):
    def messages(email):
        said = [errors(sign_in(email, "wrong-password-x")) for _ in range(6)]
        world["clock"].now += timedelta(seconds=1)
        said.append(errors(sign_in(email, "wrong-password-x")))
        return said

    known = messages(ADMIN)
    world["network"]["ip"] = "192.0.2.44"
    unknown = messages("nobody@alpha.example")
    wait = "Too many sign-in attempts from your network. Try again in {} s."
    assert known == unknown == [[NOT_RIGHT]] * 4 + [[wait.format(2)]] * 2 + [[wait.format(1)]]


def test_the_attackers_network_waits_and_the_real_user_signs_in_at_once(world):
    for _ in range(4):
        sign_in(ADMIN, "wrong-password-x")
    assert errors(sign_in(ADMIN, PASSWORD)) == ["Too many sign-in attempts from your network. Try again in 2 s."]
    world["network"]["ip"] = "198.51.100.7"  # the real user, at their desk
    at = sign_in(ADMIN, PASSWORD)
    assert errors(at) == [] and at.session_state["commlog_user_id"] == world["users"]["admin_a"]
    assert at.button(key="sign_out").label == "Sign out"


def test_sign_in_and_sign_out_are_in_the_audit_trail_with_the_client_ip(world):
    world["network"]["ip"] = "198.51.100.7"
    sign_in(ADMIN, "wrong-password-x")
    at = sign_in(ADMIN, PASSWORD)
    at.button(key="sign_out").click().run()
    assert not at.exception and buttons(at) == ["Sign in"]
    with world["engine"].connect() as c:
        rows = c.execute(select(AuditEntry.action, AuditEntry.user_email, AuditEntry.lender_id, AuditEntry.detail,
                                AuditEntry.client_ip).order_by(AuditEntry.id)).all()
    a, ip = world["a"], "198.51.100.7"
    assert rows == [("sign_in_failed", ADMIN, a, "wrong_password", ip), ("sign_in", ADMIN, a, "local", ip),
                    ("sign_out", ADMIN, a, "user", ip)]


def test_the_audit_page_filters_sign_ins_and_refusals_and_states_the_retention(world):
    world["network"]["ip"] = "198.51.100.7"
    sign_in("nobody@alpha.example", "wrong-password-x")
    sign_in(ADMIN, PASSWORD)
    world["clock"].now = f.T0  # the entries' time; the page lists the last 30 days by default: widen below
    at = app(user_id=world["users"]["ops"]).run()
    at.switch_page("pages/audit.py")
    at.run()
    assert not at.exception
    assert any("kept 400 days" in c.value for c in at.caption)
    at.date_input(key="audit_dates").set_value((f.T0.date() - timedelta(days=1), f.T0.date() + timedelta(days=1)))
    at.run()
    at.selectbox(key="audit_kind").set_value("sign_ins").run()
    table = at.dataframe[0].value
    assert sorted(table["Action"]) == ["sign_in", "sign_in_failed"] and set(table["IP"]) == {"198.51.100.7"}
    at.selectbox(key="audit_result").set_value("refused").run()
    table = at.dataframe[0].value
    assert list(table["Action"]) == ["sign_in_failed"] and list(table["User"]) == ["nobody@alpha.example"]
    assert list(table["Scope"]) == ["No lender (ops only)"] and list(table["Detail"]) == ["unknown_address"]


def test_signing_in_draws_the_log_in_the_run_the_click_starts(world, monkeypatch):
    """Sign in is handled in the button's callback, before the run: that one run draws the page
    asked for, signed in (no run of the form that ends in a rerun, drawing its page twice)."""
    world["network"]["ip"] = "198.51.100.7"
    at = app().run()
    at.text_input[0].input(ADMIN)
    at.text_input[1].input(PASSWORD)

    def no_rerun(*_args, **_kwargs):
        raise AssertionError("signing in asked for a second run")

    monkeypatch.setattr(st, "rerun", no_rerun)
    at.button[0].click().run()
    assert not at.exception and errors(at) == []
    assert at.session_state["commlog_user_id"] == world["users"]["admin_a"]
    assert at.button(key="sign_out").label == "Sign out" and at.dataframe


def test_a_refused_sign_in_says_why_under_the_form_and_keeps_the_email(world):
    world["network"]["ip"] = "198.51.100.7"
    at = sign_in(ADMIN, "wrong-password-x")
    assert errors(at) == [NOT_RIGHT] and buttons(at) == ["Sign in"]
    assert at.text_input[0].value == ADMIN
    at.run()  # the next run (any widget) no longer shows the refusal
    assert errors(at) == []

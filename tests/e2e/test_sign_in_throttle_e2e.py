"""Throttling, not lockout, in a real browser against a real server (issue 14): two browsers on two
networks (told apart by `X-Forwarded-For` from a proxy the server trusts, COMMLOG_TRUSTED_PROXIES
= loopback). The attacker's wrong passwords soon make its network wait, with the form's words; the
real lender admin, on their own network, signs in at once; the audit trail has each event with
its client IP.
"""

from __future__ import annotations

import re
import sqlite3
import warnings

import pytest
from playwright.sync_api import expect

from commlog.bench.browser_probe import RUN_COUNTER
from tests.e2e.servers import StreamlitServer
from tests.e2e.support import login, open_app, wait_for_run

pytestmark = [pytest.mark.e2e]

ATTACKER, USER = "203.0.113.66", "198.51.100.7"


@pytest.fixture(scope="module")
def server(demo, tmp_path_factory):
    """This module's server trusts the loopback proxy's X-Forwarded-For (the browsers send it)."""
    env = {**demo.env, "COMMLOG_TRUSTED_PROXIES": "127.0.0.1/32, ::1/128"}
    srv = StreamlitServer(env, tmp_path_factory.mktemp("server") / "throttle.log").start()
    yield srv
    srv.stop()
    if "Traceback (most recent call last)" in srv.log_text():
        warnings.warn(f"the streamlit server logged a traceback:\n{srv.log_tail()}", stacklevel=1)


@pytest.fixture
def context(fresh_context):
    """A context of the test's own: this module changes it (every page's X-Forwarded-For)."""
    return fresh_context


def on_network(context, ip: str):
    context.set_extra_http_headers({"X-Forwarded-For": ip})
    return context.new_page()


def try_password(page, email: str, password: str) -> None:
    page.get_by_role("textbox", name="Email", exact=True).fill(email)
    page.get_by_role("textbox", name="Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    wait_for_run(page)


def test_the_attackers_network_waits_and_the_real_user_signs_in_at_once(server, demo, browser, context):
    attacker = on_network(context, ATTACKER)
    open_app(attacker, server.url("/"))
    alert = attacker.get_by_test_id("stAlertContentError")
    for _ in range(4):
        try_password(attacker, demo.admin, "not-the-password-at-all")
        expect(alert).to_have_text("Email or password is not right.")
    try_password(attacker, demo.admin, demo.password)  # even the right password waits, on that network
    expect(alert).to_have_text(re.compile(r"^Too many sign-in attempts from your network\. Try again in [12] s\.$"))

    user_context = browser.new_context(timezone_id="Europe/Berlin", locale="en-US")
    try:
        user_context.add_init_script(RUN_COUNTER)
        user = on_network(user_context, USER)
        open_app(user, server.url("/"))
        login(user, demo.admin, demo.password)  # at once: no wait, no message
    finally:
        user_context.close()

    with sqlite3.connect(demo.url.removeprefix("sqlite:///")) as c:
        events = c.execute("SELECT action, detail, client_ip FROM audit_entry WHERE user_email = ? AND client_ip IN (?, ?) "
                           "ORDER BY id", (demo.admin, ATTACKER, USER)).fetchall()
    assert events == [
        *[("sign_in_failed", "wrong_password", ATTACKER)] * 4,
        ("sign_in_throttled", events[4][1], ATTACKER),
        ("sign_in", "local", USER),
    ]
    assert events[4][1].startswith("address_ip; try again in ")

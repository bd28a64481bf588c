"""An idle session is signed out in the browser (issue 14, point 4), on a server whose idle limit
is 12 seconds: the page's own timer asks the server, the sign-in form comes back by itself with
the reason, the URL keeps the view, and signing in again shows it. The audit trail has the row.

The wait is `expect` on the sign-in form (the server's clock runs; no sleep here)."""

from __future__ import annotations

import sqlite3
import warnings

import pytest
from playwright.sync_api import expect

from tests.e2e.servers import StreamlitServer
from tests.e2e.support import data_tables, expect_selected, login, open_app, url_params

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("navigation_mode")]

IDLE_MINUTES = "0.2"  # 12 seconds: room for a slow sign-in on a busy machine


@pytest.fixture(scope="module")
def server(demo, tmp_path_factory):
    """This module's own server, with the tiny idle limit (overrides conftest's `server`)."""
    log_path = tmp_path_factory.mktemp("server") / "session_timeout.log"
    srv = StreamlitServer({**demo.env, "COMMLOG_SESSION_IDLE_MINUTES": IDLE_MINUTES}, log_path).start()
    yield srv
    srv.stop()
    if "Traceback (most recent call last)" in srv.log_text():
        warnings.warn(f"the streamlit server logged a traceback:\n{srv.log_tail()}", stacklevel=1)


def _idle_sign_outs(demo) -> int:
    with sqlite3.connect(demo.url.removeprefix("sqlite:///")) as c:
        return c.execute("SELECT count(*) FROM audit_entry WHERE action = 'sign_out' AND detail = 'idle_timeout' "
                         "AND user_email = ?", (demo.admin,)).fetchone()[0]


def test_an_idle_session_is_signed_out_and_the_view_comes_back(server, demo, page):
    before = _idle_sign_outs(demo)
    open_app(page, server.url("/log?delivery=NOT_DELIVERED&range=7d"))
    login(page, demo.admin, demo.password)
    expect_selected(page, "Delivery status", "NOT_DELIVERED")

    notice = page.get_by_text("You were signed out after 12 seconds without activity.")
    # Nobody touches the page: its timer (every quarter of the limit) asks the server.
    expect(notice).to_be_visible(timeout=30_000)
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    expect(data_tables(page)).to_have_count(0)
    assert url_params(page) == {"delivery": "NOT_DELIVERED", "range": "7d"}
    assert _idle_sign_outs(demo) == before + 1
    assert "Traceback" not in server.log_text()

    login(page, demo.admin, demo.password)
    expect_selected(page, "Delivery status", "NOT_DELIVERED")
    expect(page.get_by_test_id("stDataFrame")).to_have_count(1)
    expect(notice).to_have_count(0)

"""The Content-Security-Policy the app runs under (issue 14, point 5), in Chromium: every page, as
a lender admin (log, a message, why, deliverability with its charts) and as ops (the audit trail),
with no `securitypolicyviolation` event and no console message about the policy. The headers as
curl sees them: tests/db/test_security_headers_http.py.

A binding collects the violations across page loads (each `goto` is a new document)."""

from __future__ import annotations

import sqlite3

import pytest
from playwright.sync_api import expect

from tests.e2e.support import expect_no_error, login, menu, open_app, wait_for_run

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("navigation_mode")]

REPORT_VIOLATIONS = """
document.addEventListener('securitypolicyviolation', (e) => {
  window.__commlogCsp(`${e.effectiveDirective} blocked ${e.blockedURI || '(inline)'} at ${e.sourceFile}:${e.lineNumber}`);
});
"""


@pytest.fixture
def context(fresh_context):
    """A context of the test's own: this module changes it (a binding and an init script that report policy violations)."""
    return fresh_context


@pytest.fixture
def violations(context) -> list[str]:
    """Every CSP violation and every console message about the policy, from any page of this context."""
    found: list[str] = []
    context.expose_binding("__commlogCsp", lambda _source, text: found.append(text))
    context.add_init_script(REPORT_VIOLATIONS)
    context.on("console", lambda msg: found.append(f"console {msg.type}: {msg.text}")
               if "Content Security Policy" in msg.text or "Refused to" in msg.text else None)
    return found


def _own_message(demo) -> int:
    with sqlite3.connect(demo.url.removeprefix("sqlite:///")) as c:
        return c.execute("SELECT id FROM message WHERE lender_id = ? AND send_status = 'sent' "
                         "ORDER BY sent_at DESC LIMIT 1", (demo.lender_id,)).fetchone()[0]


def _visit(page, server, path: str, email: str, password: str) -> None:
    open_app(page, server.url(path))  # a new page load is a new session: sign in again
    login(page, email, password)
    expect_no_error(page)


def _charts_drawn(page) -> None:
    """Deliverability's charts, a tab away from health and findings, drawn under the policy."""
    expect(page.get_by_role("heading", name="Findings in this period")).to_be_visible()
    page.get_by_role("tab", name="Rates over time").click()
    wait_for_run(page)
    charts = page.get_by_test_id("stVegaLiteChart").filter(visible=True)
    expect(charts.first).to_be_visible()
    for i in range(charts.count()):
        charts.nth(i).scroll_into_view_if_needed()
        expect(charts.nth(i).locator("canvas, svg").first).to_be_attached()


def test_every_page_runs_under_the_policy_without_a_violation(server, demo, page, violations):
    message_id = _own_message(demo)
    _visit(page, server, "/log", demo.admin, demo.password)
    expect(page.get_by_test_id("stDataFrame")).to_have_count(1)
    expect(page.get_by_test_id("stDataFrame").locator("canvas").first).to_be_attached()

    _visit(page, server, f"/message?id={message_id}", demo.admin, demo.password)
    expect(page.get_by_test_id("stMain")).not_to_contain_text("not found")

    _visit(page, server, f"/why?message={message_id}", demo.admin, demo.password)
    expect(page.get_by_role("heading", name="Why didn't they get it?")).to_be_visible()

    _visit(page, server, "/deliverability", demo.admin, demo.password)
    _charts_drawn(page)

    _visit(page, server, "/deliverability", demo.ops, demo.password)
    _charts_drawn(page)
    menu(page).get_by_role("link", name="Audit").click()
    wait_for_run(page)
    expect(page.get_by_role("heading", name="Audit trail")).to_be_visible()
    expect_no_error(page)

    assert violations == [], "\n".join(violations)

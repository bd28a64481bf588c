"""Security in a real browser: a signed-in lender admin types another lender's ids into the URLs
(attack table: tests/test_security_tenancy.py, row 20). Direct page URLs before any login, on a
freshly started server, are tests/e2e/test_direct_urls.py.

* `/log?lender=<other>&account=<other's borrower>`: a notice, the admin's own lender log, the
  rewritten URL carries no lender and no foreign account, no other lender's name on the page;
* `/message?id=<other lender's message>`: "not found", nothing of it shown;
* `/audit`: not a page for a lender admin (no Audit heading, no audit table);
* a URL value written as Markdown (`type=[Sign in](https://evil.example/)`): shown as text, no link
  (before the fix in commlog/ui/log_controls.py the escaped URL was still auto-linked).

A login lives in the browser's Streamlit session: every `page.goto` is a new session and signs in again.
"""

from __future__ import annotations

import sqlite3

import pytest
from playwright.sync_api import expect

from tests.e2e.support import login, main_text, open_app, url_params

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("navigation_mode")]


@pytest.fixture(scope="module")
def foreign(demo) -> dict:
    """Another lender's id, one of its borrowers and one of its messages (from the demo database)."""
    with sqlite3.connect(demo.url.removeprefix("sqlite:///")) as c:
        lender_id, name = c.execute("SELECT id, name FROM lender WHERE id != ? ORDER BY id LIMIT 1", (demo.lender_id,)).fetchone()
        borrower = c.execute("SELECT id, name, email FROM account WHERE lender_id = ? AND kind = 'borrower' LIMIT 1",
                             (lender_id,)).fetchone()
        message = c.execute("SELECT id, subject, recipient_email FROM message WHERE lender_id = ? ORDER BY sent_at DESC LIMIT 1",
                            (lender_id,)).fetchone()
    return {"lender_id": lender_id, "name": name, "borrower": borrower, "message": message}


def _signed_in(page, server, demo, path: str) -> None:
    open_app(page, server.url(path))
    login(page, demo.admin, demo.password)


def _nothing_foreign(page, demo, foreign) -> str:
    text = main_text(page)
    for other in demo.other_lender_names:
        assert other not in text, f"{other!r} shown to a lender admin"
    b_id, b_name, b_email = foreign["borrower"]
    assert b_name not in text and b_email not in text
    assert foreign["message"][2] not in text
    assert "Traceback" not in text
    return text


def test_foreign_lender_and_account_in_the_log_url(server, demo, foreign, page):
    b_id = foreign["borrower"][0]
    _signed_in(page, server, demo, f"/log?lender={foreign['lender_id']}&account={b_id}&range=30d")
    expect(page.get_by_test_id("stMain")).to_contain_text("not available to you")
    expect(page.get_by_test_id("stMain")).to_contain_text(f"{demo.lender_name}: lender's own log")
    _nothing_foreign(page, demo, foreign)
    params = url_params(page)
    assert "lender" not in params and params.get("account") != str(b_id)

    page.context.clear_cookies()
    _signed_in(page, server, demo, f"/log?lender={foreign['lender_id']}&account=all&q={foreign['message'][2]}")
    expect(page.get_by_test_id("stMain")).to_contain_text("not available to you")
    _nothing_foreign(page, demo, foreign)


def test_foreign_message_id_and_the_audit_page(server, demo, foreign, page):
    _signed_in(page, server, demo, f"/message?id={foreign['message'][0]}")
    expect(page.get_by_test_id("stMain")).to_contain_text("not found in the logs you can see")
    text = _nothing_foreign(page, demo, foreign)
    assert foreign["message"][1] not in text

    _signed_in(page, server, demo, "/audit")  # a new page load is a new session: sign in again
    expect(page.get_by_role("heading", name="Audit trail")).to_have_count(0)
    expect(page.get_by_test_id("stSidebar").get_by_role("link", name="Audit")).to_have_count(0)
    assert "Exports and delivery checks" not in main_text(page)


def test_url_values_are_shown_as_text_not_links(server, demo, page):
    _signed_in(page, server, demo, "/log?type=%5BSign%20in%5D(https://evil.example/x)&domain=!%5Bi%5D(https://evil.example/p.png)")
    expect(page.get_by_test_id("stMain")).to_contain_text("Ignored type=")
    expect(page.locator("a[href*='evil.example']")).to_have_count(0)
    expect(page.locator("img[src*='evil.example']")).to_have_count(0)
    text = main_text(page).replace("\u2060", "")
    assert "[Sign in](https://evil.example/x)" in text  # the value itself, as typed, as text

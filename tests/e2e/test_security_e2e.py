"""Security in a real browser: a signed-in lender admin types another lender's ids into the URLs
(attack table: tests/pages/test_security_tenancy.py, row 20). Direct page URLs before any login, on a
freshly started server, are tests/e2e/test_direct_urls.py.

* `/log?lender=<other>&account=<other's borrower>`: a notice, the admin's own lender log, the
  rewritten URL carries no lender and no foreign account, no other lender's name on the page;
* `/message?id=<other lender's message>`: "not found", nothing of it shown;
* `/audit`: not a page for a lender admin (no Audit heading, no audit table);
* a URL value written as Markdown (`type=[Sign in](https://evil.example/)`): shown as text, no link
  (before the fix in commlog/ui/log_controls.py the escaped URL was still auto-linked);
* the failures CSV's download URL (`/export/<token>`, issue 14): one click one file, a new URL per
  click; replayed from curl or another browser context 404, a second fetch 404.

A login lives in the browser's Streamlit session: every `page.goto` is a new session and signs in again.
"""

from __future__ import annotations

import re
import sqlite3

import httpx
import pytest
from playwright.sync_api import expect

from commlog.export_route import NOT_FOUND
from tests.e2e.support import click_sent, expect_no_error, login, main_text, menu, open_app, url_params, wait_for_run

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("navigation_mode")]


@pytest.fixture(scope="module")
def foreign(demo) -> dict:
    """Another lender's id, one of its borrowers and one of its messages (from the demo database)."""
    with sqlite3.connect(demo.url.removeprefix("sqlite:///")) as c:
        lender_id, name = c.execute("SELECT id, name FROM lender WHERE id != ? ORDER BY id LIMIT 1", (demo.lender_id,)).fetchone()
        borrower = c.execute("SELECT id, name, email FROM account WHERE lender_id = ? AND kind = 'borrower' LIMIT 1",
                             (lender_id,)).fetchone()
        message = c.execute("SELECT id, COALESCE(subject_text, subject) AS subject, recipient_email FROM message "
                            "WHERE lender_id = ? ORDER BY sent_at DESC LIMIT 1",
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
    expect(menu(page).get_by_role("link", name="Communication Log")).to_be_visible()  # the bar is drawn…
    expect(menu(page).get_by_role("link", name="Audit")).to_have_count(0)  # …without the ops-only page
    assert "Exports and delivery checks" not in main_text(page)


def test_url_values_are_shown_as_text_not_links(server, demo, page):
    _signed_in(page, server, demo, "/log?type=%5BSign%20in%5D(https://evil.example/x)&domain=!%5Bi%5D(https://evil.example/p.png)")
    expect(page.get_by_test_id("stMain")).to_contain_text("Ignored type=")
    expect(page.locator("a[href*='evil.example']")).to_have_count(0)
    expect(page.locator("img[src*='evil.example']")).to_have_count(0)
    text = main_text(page).replace("\u2060", "")
    assert "[Sign in](https://evil.example/x)" in text  # the value itself, as typed, as text


def _open_export(page, server, demo) -> None:
    _signed_in(page, server, demo, "/log?delivery=NOT_DELIVERED")
    page.get_by_test_id("stExpander").filter(has_text="Export failures").get_by_text("Export failures").first.click()
    expect(page.get_by_test_id("stMain")).to_contain_text(re.compile(r"[\d,]+ failures? match"))


def _download(page):
    with page.expect_download() as info:
        click_sent(page, page.get_by_role("button", name="Download failures CSV"))
    wait_for_run(page)
    body = info.value.path().read_bytes().decode("utf-8-sig")
    assert body.startswith("Lender,Log,"), body[:200]
    return info.value


def test_one_click_downloads_each_time_and_the_url_is_worth_nothing_afterwards(server, demo, page, browser):
    """The failures CSV: one click, one file; a second click, another file from a new URL. Replayed,
    a used URL is 404 in the same browser; an unused one is 404 from a fresh browser context and
    from curl (httpx, no cookie), and still the page's browser's file after that."""
    _open_export(page, server, demo)
    first = _download(page)
    second = _download(page)
    assert re.fullmatch(rf"{re.escape(server.url('/export/'))}[A-Za-z0-9_-]{{43}}", first.url), first.url
    assert second.url != first.url and first.suggested_filename == second.suggested_filename
    for used in (first.url, second.url):
        again = page.request.get(used)  # this very browser, its cookie: spent
        assert again.status == 404 and "A download link works once" in again.text()
    expect_no_error(page)

    # A URL the page's iframe never fetched (we block it), replayed elsewhere first.
    page.route("**/export/*", lambda route: route.abort())
    # Until the iframe's request has been refused here: after the unroute below it would fetch the file.
    with page.expect_event("requestfailed", predicate=lambda r: "/export/" in r.url):
        click_sent(page, page.get_by_role("button", name="Download failures CSV"))
    wait_for_run(page)
    link = page.get_by_test_id("stMain").get_by_role("link", name="click here")
    expect(link).to_have_count(1)
    unused = server.url(link.get_attribute("href"))
    page.unroute("**/export/*")
    assert httpx.get(unused, timeout=10).status_code == 404  # curl: no cookie
    stranger = browser.new_context()
    try:
        r = stranger.request.get(unused)  # another browser (its own commlog_browser cookie, if any)
        assert r.status == 404 and r.text() == NOT_FOUND
    finally:
        stranger.close()
    # The fallback link, in the browser that asked: still its file, once (the tab it opens becomes
    # the download, which Chromium reports on this page).
    with page.expect_download() as fallback:
        link.click()
    assert fallback.value.url == unused
    assert fallback.value.path().read_bytes().decode("utf-8-sig").startswith("Lender,Log,")
    assert page.request.get(unused).status == 404
    expect_no_error(page)
    assert server.incidents() == [], server.incidents()
    log = server.log_text()
    assert "refused: another browser" in log or "refused: no browser cookie" in log
    assert unused.rsplit("/", 1)[1] not in log  # the token never reaches a log line

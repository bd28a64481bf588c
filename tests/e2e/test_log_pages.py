"""A lender admin finds a borrower, then turns the pages of every log, changes the rows per page and
opens an email. Typing in "Find a borrower" reruns the box and its matches alone, and picking one
opens their log. The log under the filters reruns alone (a fragment: the lender, the Account, its
borrower finder and the filters above are not run again); the URL keeps the page and the size, a
pasted link opens that page, and a filter change still reruns the whole page from page 1."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.support import (
    choose,
    click_row,
    close_dialog,
    dialog,
    expect_no_error,
    expect_selected,
    last_rerun,
    login,
    open_app,
    screenshot,
    url_params,
    wait_for_run,
)

pytestmark = pytest.mark.e2e
PAGE_OF = re.compile(r"Page (\d+) of ([\d,]+)\.")


def page_of(main) -> tuple[int, int]:
    expect(main).to_contain_text(PAGE_OF)
    m = PAGE_OF.search(main.inner_text())
    return int(m.group(1)), int(m.group(2).replace(",", ""))


def test_pages_size_and_a_ticked_row_rerun_the_log_alone_and_stay_in_the_url(server, demo, context):
    page = context.new_page()
    open_app(page, server.url("/log"))
    login(page, demo.admin, demo.password)
    main = page.get_by_test_id("stMain")
    page.get_by_role("textbox", name="Find a borrower (name or email)").fill(demo.borrower.search)
    wait_for_run(page)
    assert last_rerun(page) == "fragment"
    match = page.locator(".st-key-log_matches").get_by_role("button", name=demo.borrower.name).first
    expect(match).to_be_visible()
    match.click()  # the finder's run hands on to the whole page: the Account and the log change
    wait_for_run(page)
    expect_selected(page, "Account", demo.borrower.email)
    expect(main).to_contain_text(f"{demo.borrower.name}'s log")
    expect_no_error(page)

    choose(page, "Sent", "Last 30 days")
    choose(page, "Account", f"All of {demo.lender_name}'s logs")
    assert last_rerun(page) == "fragment"  # the Account and the filters rerun with the log, not the page above
    expect(main).to_contain_text(f"in all of {demo.lender_name}'s logs")
    choose(page, "Rows per page", "25")
    assert last_rerun(page) == "fragment"
    assert url_params(page).get("size") == "25", page.url
    _, pages = page_of(main)
    assert pages >= 3, "the demo's lender needs three pages of 25 for this walk"

    page.get_by_test_id("stPaginationNext").click()
    wait_for_run(page)
    assert last_rerun(page) == "fragment"
    assert page_of(main) == (2, pages)
    assert url_params(page).get("page") == "2", page.url
    expect_selected(page, "Account", f"All of {demo.lender_name}'s logs")  # the controls above are as they were
    expect_no_error(page)
    screenshot(page, "log-page-2")

    click_row(page, 0)  # one row ticked opens its email
    assert last_rerun(page) == "fragment"
    expect(dialog(page).get_by_role("link", name="Open on its own page")).to_be_visible()
    close_dialog(page)
    assert page_of(main) == (2, pages)
    expect_no_error(page)

    # The address bar pasted into a new tab: after the sign-in the same page of the same log.
    pasted = context.new_page()
    open_app(pasted, page.url)
    login(pasted, demo.admin, demo.password)
    assert page_of(pasted.get_by_test_id("stMain")) == (2, pages)
    expect_selected(pasted, "Rows per page", "25")
    expect_no_error(pasted)

    # A filter is above the log: the filters and the log run again (not the page above them), from page 1.
    choose(page, "Delivery status", "NOT_DELIVERED")
    assert last_rerun(page) == "fragment"
    assert url_params(page).get("delivery") == "NOT_DELIVERED", page.url
    assert page_of(main)[0] == 1
    assert "page" not in url_params(page), page.url
    assert url_params(page).get("size") == "25", page.url
    expect_no_error(page)
    assert server.incidents() == [], server.incidents()

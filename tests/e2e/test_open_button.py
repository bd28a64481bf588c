"""A row's Open button opens its email, in the log and in "Find emails to…": the email of the row
the person pressed opens in a dialog, nothing is ticked, and the click reruns the log alone. The
column is pinned, so a narrow window that scrolled the grid sideways still shows it. Ticking rows
still selects them for a check together."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.support import (
    click_row,
    close_dialog,
    data_tables,
    dialog,
    expect_no_error,
    grid_rows,
    last_rerun,
    login,
    open_app,
    open_row,
    screenshot,
    type_and_enter,
)

pytestmark = pytest.mark.e2e


def test_a_rows_open_button_opens_that_email_and_ticks_nothing(server, demo, context):
    page = context.new_page()
    open_app(page, server.url("/log"))
    login(page, demo.admin, demo.password)
    main = page.get_by_test_id("stMain")
    expect(main).to_contain_text("Open an email from its row")
    rows = grid_rows(page)
    assert [r[""] for r in rows[:3]] == ["Open"] * 3  # the first column, without a header

    open_row(page, 2)
    assert last_rerun(page) == "fragment"  # the log alone, not the controls above it
    expect(dialog(page)).to_contain_text(f"To: {rows[2]['To']}")
    expect(dialog(page).get_by_role("link", name="Open on its own page")).to_be_visible()
    expect_no_error(page)
    screenshot(page, "log-open-button-dialog")
    close_dialog(page)
    assert not any(r["ticked"] for r in grid_rows(page, ticked=0))  # opening is not selecting

    click_row(page, 0)  # one tick opens its email too (the keyboard's way)
    expect(dialog(page)).to_contain_text(f"To: {rows[0]['To']}")
    close_dialog(page)
    click_row(page, 1)
    expect(main).to_contain_text("2 emails selected")
    expect(dialog(page)).to_have_count(0)
    expect_no_error(page)


def test_the_open_column_stays_when_a_narrow_window_scrolls_the_grid_sideways(server, demo, context):
    page = context.new_page()
    page.set_viewport_size({"width": 800, "height": 900})
    open_app(page, server.url("/log"))
    login(page, demo.admin, demo.password)
    rows = grid_rows(page)
    grid = data_tables(page).first
    grid.scroll_into_view_if_needed()
    grid.hover()
    page.mouse.wheel(600, 0)  # to the right end: Status, Last event, Email type
    expect(grid.locator("[role=columnheader]", has_text="Email type")).to_be_attached()
    screenshot(page, "log-open-button-scrolled", widths=(800,))
    open_row(page, 1)
    expect(dialog(page)).to_contain_text(f"To: {rows[1]['To']}")
    expect_no_error(page)
    close_dialog(page)


def test_find_emails_to_opens_a_result_from_its_open_button(server, demo, context):
    page = context.new_page()
    open_app(page, server.url("/log"))
    login(page, demo.admin, demo.password)
    type_and_enter(page, "Find emails to…", demo.borrower.email)
    expect(page.get_by_test_id("stMain")).to_contain_text(f"to 1 recipient matching “{demo.borrower.email}”")
    found = grid_rows(page)  # the results, in place of the log
    assert found and all(r["To"] == demo.borrower.email for r in found)
    open_row(page, 0)
    expect(dialog(page)).to_contain_text(f"To: {demo.borrower.email}")
    expect_no_error(page)
    close_dialog(page)

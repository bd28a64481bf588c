"""The Communication Log's journeys as combinations, as people click them: every Account mode
(the lender's own log, one borrower, all logs) × every action (open a row, check it, bulk-check
three, page forward, change a filter, open the export panel and download) × every role (lender
admin, ops). After each step: no error of any kind on the page, the grid still there, and what the
step should show. The actions run one after another in each walk, as a person would, so each one
also runs on top of the state the previous ones left (the crash of issue 10 was such a
combination: pick a borrower, then click a row)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.support import (
    choose,
    click_row,
    click_sent,
    close_dialog,
    dialog,
    expect_no_error,
    expect_selected,
    login,
    open_app,
    open_row,
    pick_borrower,
    screenshot,
    sent_to_server,
    type_and_enter,
    url_params,
    wait_for_run,
)

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("navigation_mode")]

MODES = ("lender log", "one borrower", "all logs")
ROLES = ("lender admin", "ops")
CHECK = re.compile(r"^(Check again|Check delivery status)$")

DOWNLOAD_TIMEOUT_MS = 60_000  # the click's run, the link, the file: three expect timeouts on a busy machine


def step_ok(page: Page) -> None:
    """What every step must leave: no error anywhere, the log's grid on the page."""
    expect_no_error(page)
    expect(page.get_by_test_id("stDataFrame").first).to_be_visible()


def set_mode(page: Page, demo, mode: str) -> None:
    if mode == "one borrower":
        pick_borrower(page, demo.borrower.search, demo.borrower.name)
        expect_selected(page, "Account", demo.borrower.email)
        expect(page.get_by_test_id("stMain")).to_contain_text(f"{demo.borrower.name}'s log")
    elif mode == "all logs":
        choose(page, "Account", f"All of {demo.lender_name}'s logs")
        expect(page.get_by_test_id("stMain")).to_contain_text(f"all of {demo.lender_name}'s logs")
    else:
        expect(page.get_by_test_id("stMain")).to_contain_text(f"{demo.lender_name}: lender's own log")
    step_ok(page)


def open_a_row(page: Page) -> None:
    """Open the first email that was sent (a failed send has nothing to check) from its row's Open
    button."""
    for row in range(5):
        open_row(page, row)
        expect(dialog(page).get_by_role("link", name="Open on its own page")).to_be_visible()
        if dialog(page).get_by_role("button", name=CHECK).count():
            return
        close_dialog(page)
    pytest.fail("none of the first five emails was sent")


def walk(page: Page, demo, mode: str, server) -> None:
    main = page.get_by_test_id("stMain")
    set_mode(page, demo, mode)

    # 1. open a row: the email opens in a dialog over the grid, with where to go next.
    open_a_row(page)
    expect(dialog(page).get_by_role("link", name="Why didn't they get it?")).to_be_visible()
    expect(dialog(page)).to_contain_text("Events")
    step_ok(page)

    # 2. check it: the provider answers (or says why not); the same email stays open.
    subject = dialog(page).get_by_test_id("stHeading").filter(has=page.locator("h3")).first.inner_text()
    dialog(page).get_by_role("button", name=CHECK).click()
    wait_for_run(page)
    expect(dialog(page)).to_contain_text(re.compile(r"Checked with the provider at|try again|could not", re.IGNORECASE))
    expect(dialog(page).get_by_test_id("stHeading").filter(has_text=subject).first).to_be_visible()
    step_ok(page)
    close_dialog(page)

    # 3. bulk-check three: tick three (the first, ticked on its own, opens its email: close it) and
    # check them together in a dialog; the grid behind shows the new statuses.
    click_row(page, 0)
    close_dialog(page)
    for r in (1, 2):
        click_row(page, r)
    expect(main).to_contain_text("3 emails selected")
    page.get_by_role("button", name="Check delivery status of these 3").click()
    wait_for_run(page)
    expect(dialog(page)).to_contain_text(re.compile(r"Checked \d of 3 with the provider"))
    step_ok(page)
    close_dialog(page)

    # 4. page forward (a short log has one page: then it says so).
    following = page.get_by_test_id("stPaginationNext")
    if following.is_enabled():
        following.click()
        wait_for_run(page)
        expect(main).to_contain_text(re.compile(r"Page 2 of [\d,]+\."))
        assert url_params(page).get("page") == "2", page.url
    else:
        expect(main).to_contain_text("Page 1 of 1.")
    step_ok(page)

    # 5. change a filter: back to page 1 of the filtered log, in the URL.
    choose(page, "Delivery status", "DELIVERED")
    expect(page).to_have_url(re.compile(r"[?&]delivery=DELIVERED"))
    expect(main).to_contain_text(re.compile(r"[\d,]+ emails? in "))
    assert "page" not in url_params(page)
    expect_no_error(page)

    # 6. open the export panel and download the failures of this view.
    page.get_by_test_id("stExpander").filter(has_text="Export failures").get_by_text("Export failures").first.click()
    expect(main).to_contain_text(re.compile(r"[\d,]+ failures? match"))
    button = page.get_by_role("button", name="Download failures CSV")
    expect(button).to_be_visible()
    expect(button).to_be_enabled()
    served: list[tuple[int, str]] = []  # the download's own fetch: GET /export/<token> (commlog.export_route)
    page.on("response", lambda r: served.append((r.status, r.url.rsplit("/", 1)[0])) if "/export/" in r.url else None)
    try:
        # The click's run counts the failures again and mints the link before the browser fetches
        # it: on a loaded machine that can take longer than one expect's timeout.
        with page.expect_download(timeout=DOWNLOAD_TIMEOUT_MS) as download:
            click_sent(page, button)
    except Exception as exc:  # say what the browser fetched, and where the click's run is
        server_lines = server.log_text().splitlines()
        state = page.locator("[data-testid='stApp']").get_attribute("data-test-script-state")
        raise AssertionError(f"no download; /export responses: {served}; runs: {page.evaluate('window.__commlogRuns')}; "
                             f"script state: {state}; link drawn: {main.get_by_text('If the download did not start').count()}; "
                             f"messages sent: {sent_to_server(page)}; "
                             f"server log: {server_lines[-15:]}") from exc
    body = download.value.path().read_bytes().decode("utf-8-sig")
    assert body.startswith("Lender,Log,"), body[:200]
    expect_no_error(page)
    assert server.incidents() == [], server.incidents()


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("mode", MODES)
def test_a_walk_through_the_log(server, demo, page, mode, role):
    open_app(page, server.url("/log"))
    login(page, demo.admin if role == "lender admin" else demo.ops, demo.password)
    if role == "ops":
        choose(page, "Lender", demo.lender_name)
    walk(page, demo, mode, server)
    if (mode, role) == ("one borrower", "lender admin"):
        screenshot(page, "journey-borrower")


def test_find_a_borrower_read_why_and_check_what_was_never_checked(server, demo, page):
    """The seed's own case, as a new lender admin: part of the borrower's email, every email to them
    across logs, "Why didn't they get it?", the next step, and the never-checked email checked."""
    open_app(page, server.url("/log"))
    login(page, demo.admin, demo.password)
    main = page.get_by_test_id("stMain")
    type_and_enter(page, "Find emails to…", "nora.quin")
    expect(main).to_contain_text("2 emails to 1 recipient matching")
    expect(main).to_contain_text("Lender's own log")  # her account confirmation
    expect(main).to_contain_text("Nora Quinn's log")  # her password reset
    assert url_params(page).get("find") == "nora.quin"
    screenshot(page, "find-emails-to")

    main.get_by_role("link", name="Why didn't they get it?").first.click()
    wait_for_run(page)
    expect(page.get_by_role("heading", name="Why didn't they get it?")).to_be_visible()
    expect(main).to_contain_text("Check delivery status first")
    expect(main).to_contain_text("Nora Quinn (borrower)")
    page.get_by_role("button", name="Check delivery status of 1 email").click()
    wait_for_run(page)
    expect(main).to_contain_text("Checked just now: 1 DELIVERED.")
    expect(main).to_contain_text("Ask them to look in their spam folder")
    expect_no_error(page)
    screenshot(page, "why")
    assert server.incidents() == []


def test_ops_find_a_mistyped_address_in_every_lender(server, demo, page):
    open_app(page, server.url("/log"))
    login(page, demo.ops, demo.password)
    main = page.get_by_test_id("stMain")
    page.get_by_text("Every lender").click()
    wait_for_run(page)
    type_and_enter(page, "Find emails to…", "owen.hargrove")
    expect(main).to_contain_text("owen.hargrove@gmial.com")
    assert url_params(page).get("lenders") == "all"
    main.get_by_role("link", name="Why didn't they get it?").first.click()
    wait_for_run(page)
    expect(main).to_contain_text("Correct the address")
    expect(main).to_contain_text("Did you mean owen.hargrove@gmail.com?")
    expect_no_error(page)
    screenshot(page, "why-typo")

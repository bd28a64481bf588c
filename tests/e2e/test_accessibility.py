"""Accessibility: axe-core (the engine behind Lighthouse and Deque's axe) finds no serious or critical
violation of WCAG 2.x A/AA on any page or state a person reaches: the sign-in page, the log (lender
admin and ops), the email dialog, the bulk check dialog, "Why didn't they get it?", the message
page (also one quoting a reply that names an address), Deliverability (ops and lender admin; its
tiles under the minimum volume), Audit, and the menu popover open.

axe-core comes from PyPI's `axe-playwright-python`, which ships `axe.min.js`; Playwright evaluates it
in the page (a `<script>` tag would be refused by the app's Content-Security-Policy, as it should)
and it runs with `axe.run()` on the whole document: no rule and no element is left out. axe reads
st.dataframe through the table Glide Data Grid keeps beside its canvas (cells and roles); the
pixels drawn on the canvas are beyond its colour-contrast rule.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import axe_playwright_python
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.support import (
    borrower_log,
    choose,
    click_row,
    close_dialog,
    dialog,
    login,
    menu,
    open_app,
    screenshot,
    wait_for_run,
)

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("navigation_mode")]

AXE_JS = Path(axe_playwright_python.__file__).with_name("axe.min.js")  # the package ships axe-core
BLOCKING = ("serious", "critical")
# WCAG 2.0-2.2 level A and AA, and axe's best practices.
RULES = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]}}


def axe_violations(page: Page) -> list[dict]:
    """Run axe-core on the page as it is now: the violations, each with its impact."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # Evaluated by the test driver, not added as a <script>: the app's Content-Security-Policy
        # (commlog.security_headers) refuses inline scripts, as it should.
        page.evaluate(AXE_JS.read_text(encoding="utf-8"))
    return page.evaluate("(options) => axe.run(document, options).then(r => r.violations)", RULES)


def describe(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        lines.append(f"{v['id']} ({v['impact']}): {v['help']}")
        for node in v["nodes"][:8]:
            summary = (node.get("failureSummary") or "").replace("\n", " ")
            lines.append(f"    {' > '.join(map(str, node['target']))}: {summary[:300]}")
    return "\n".join(lines)


def expect_accessible(page: Page) -> None:
    """No serious or critical axe-core violation on the page as a person leaves it: the pointer moved
    off whatever it last clicked, and the tooltip that hover opened gone (a tooltip caught fading
    out reads as text without contrast, #f7f8f8 on white: seen once in CI)."""
    page.mouse.move(2, 2)
    expect(page.get_by_test_id("stTooltipContent")).to_have_count(0)
    serious = [v for v in axe_violations(page) if v["impact"] in BLOCKING]
    assert not serious, "axe-core finds serious or critical violations:\n" + describe(serious)


def signed_in_log(page: Page, server, demo, who: str, path: str = "/log") -> None:
    open_app(page, server.url(path))
    login(page, demo.admin if who == "lender admin" else demo.ops, demo.password)


def test_the_sign_in_page(server, page):
    open_app(page, server.url("/"))
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    expect_accessible(page)


@pytest.mark.parametrize("who", ["lender admin", "ops"])
def test_the_log(server, demo, page, who):
    signed_in_log(page, server, demo, who)
    if who == "ops":
        choose(page, "Lender", demo.lender_name)
    expect(page.get_by_test_id("stDataFrame")).to_have_count(1)
    expect_accessible(page)


def test_the_email_dialog(server, demo, page):
    signed_in_log(page, server, demo, "lender admin", f"/log?account={demo.borrower.id}")
    click_row(page, 0)
    expect(dialog(page).get_by_role("heading", name="Events")).to_be_visible()
    expect_accessible(page)


def test_the_bulk_check_dialog(server, demo, page):
    signed_in_log(page, server, demo, "lender admin", f"/log?account={demo.borrower.id}")
    expect(page.get_by_test_id("stDataFrame")).to_be_visible()
    click_row(page, 0)
    close_dialog(page)
    click_row(page, 1)
    page.get_by_role("button", name="Check delivery status of these 2").click()
    wait_for_run(page)
    expect(dialog(page)).to_contain_text("Checked")
    expect_accessible(page)


def test_why_didnt_they_get_it(server, demo, page):
    signed_in_log(page, server, demo, "lender admin", f"/why?account={demo.borrower.id}")
    expect(page.get_by_role("heading", name="Why didn't they get it?")).to_be_visible()
    expect_accessible(page)


def test_the_message_page(server, demo, page):
    message = borrower_log(demo.url, demo.borrower.id)[0]
    signed_in_log(page, server, demo, "lender admin", f"/message?id={message['id']}")
    expect(page.get_by_role("heading", name="Events")).to_be_visible()
    expect_accessible(page)


def test_the_message_page_quoting_a_reply_that_names_an_address(server, demo, page):
    """A receiving server's reply is shown as a block quote, and an address in it as code: the
    quote's faded text and code's own colour together once fell under AA (3.03:1, seen in CI when the
    demo borrower's newest email happened to be such a bounce)."""
    with sqlite3.connect(demo.url.removeprefix("sqlite:///")) as c:
        message_id, reason = c.execute(
            "SELECT e.message_id, e.reason FROM delivery_event e JOIN message m ON m.id = e.message_id "
            "WHERE m.lender_id = (SELECT lender_id FROM account WHERE id = ?) AND e.reason LIKE '%<%@%>%' "
            "ORDER BY e.id LIMIT 1", (demo.borrower.id,),
        ).fetchone()
    address = reason[reason.index("<") + 1:reason.index(">")]
    signed_in_log(page, server, demo, "lender admin", f"/message?id={message_id}")
    expect(page.locator("blockquote code").filter(has_text=address).first).to_be_visible()
    expect_accessible(page)
    screenshot(page, "message-quoted-reply")


def test_the_message_page_of_a_subject_stored_encoded(server, demo, page):
    """A subject stored MIME-encoded (the demo's mailer episode) is shown decoded, with the stored
    text as code in a caption: caption and code's own colour together once fell under AA (3.03:1,
    seen in CI when the demo borrower's newest email fell in the episode)."""
    with sqlite3.connect(demo.url.removeprefix("sqlite:///")) as c:
        message_id, stored = c.execute(
            "SELECT id, subject FROM message WHERE lender_id = (SELECT lender_id FROM account WHERE id = ?) "
            "AND subject LIKE '=?%' ORDER BY id LIMIT 1", (demo.borrower.id,),
        ).fetchone()
    signed_in_log(page, server, demo, "lender admin", f"/message?id={message_id}")
    expect(page.get_by_test_id("stCaptionContainer").locator("code").filter(has_text=stored[:20]).first).to_be_visible()
    expect_accessible(page)
    screenshot(page, "message-subject-as-stored")


@pytest.mark.parametrize("who", ["lender admin", "ops"])
def test_deliverability(server, demo, page, who):
    signed_in_log(page, server, demo, who, "/deliverability")
    expect(page.get_by_role("heading", name="Deliverability")).to_be_visible()
    expect(page.get_by_role("heading", name="Findings in this period")).to_be_visible()  # the first tab
    expect_accessible(page)
    page.get_by_role("tab", name="Rates over time").click()
    wait_for_run(page)
    expect(page.get_by_test_id("stVegaLiteChart").filter(visible=True).first).to_be_visible()
    expect_accessible(page)


def test_deliverability_under_the_minimum_volume(server, demo, page):
    """The tiles with no figure and their grey "low volume" flags (Settings' minimum raised)."""
    signed_in_log(page, server, demo, "lender admin", "/deliverability")
    page.get_by_role("button", name="Settings").click()
    box = page.get_by_role("spinbutton", name="Minimum volume")
    box.fill("100000")
    box.press("Enter")
    wait_for_run(page)
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("stMetricDelta")).to_have_count(5)
    expect_accessible(page)


def test_the_audit_trail(server, demo, page):
    signed_in_log(page, server, demo, "ops", "/audit")
    expect(page.get_by_role("heading", name="Audit trail")).to_be_visible()
    expect_accessible(page)


def test_the_menu_open(server, demo, page):
    signed_in_log(page, server, demo, "lender admin")
    menu(page).get_by_test_id("stPopoverButton").filter(visible=True).click()
    expect(page.get_by_test_id("stPopoverBody").get_by_role("button", name="Sign out")).to_be_visible()
    expect_accessible(page)


def test_find_emails_to_results(server, demo, page):
    signed_in_log(page, server, demo, "lender admin", f"/log?find={demo.borrower.search}")
    expect(page.get_by_test_id("stMain")).to_contain_text(demo.borrower.email)
    expect(page.get_by_test_id("stDataFrame").first).to_be_visible()
    expect_accessible(page)


@pytest.mark.parametrize("who", ["lender admin", "ops"])
def test_the_suppressions_page(server, demo, page, who):
    signed_in_log(page, server, demo, who, "/suppressions")
    expect(page.get_by_role("heading", name="Suppressions")).to_be_visible()
    expect_accessible(page)


def test_the_log_at_800_px(server, demo, page):
    page.set_viewport_size({"width": 800, "height": 900})
    signed_in_log(page, server, demo, "lender admin", f"/log?account={demo.borrower.id}")
    expect(page.get_by_test_id("stDataFrame")).to_have_count(1)
    expect_accessible(page)


# The element itself or any inside it whose words are wider than its box: shown cut short ("Why didn't
# they ;"). Words only: an icon's glyph may overhang its box by design.
CUT_SHORT = """el => [el, ...el.querySelectorAll('*')]
    .filter(e => /[A-Za-z]/.test(e.textContent) && e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1)
    .map(e => e.textContent.trim())"""


def test_find_emails_to_at_800_px_shows_its_links_and_button_whole(server, demo, page):
    page.set_viewport_size({"width": 800, "height": 900})
    signed_in_log(page, server, demo, "lender admin", f"/log?find={demo.borrower.search}")
    main = page.get_by_test_id("stMain")
    controls = [main.get_by_role("link", name="Why didn't they get it?").first,
                main.get_by_role("link", name=f"{demo.borrower.name.split()[0]}'s log").first,
                main.get_by_role("button", name="Clear search")]
    for control in controls:
        expect(control).to_be_visible()
        assert control.evaluate(CUT_SHORT) == []
        box = control.bounding_box()
        assert box is not None and box["x"] + box["width"] <= 800

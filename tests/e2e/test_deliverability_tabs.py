"""Deliverability's tabs as people click them, as a lender admin and as ops: the page opens on
Health and findings with no chart drawn; each tab in turn is opened, and on each a filter is
changed (the Granularity) and changed back, and the chosen unit clicked again (it stays chosen), so
every tab also runs on the state the previous steps left. After each step: no error of any kind,
the open tab still the one chosen, its own content on the page and no other tab's (only the open
tab is drawn), a chart's tab with its charts drawn."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.support import expect_no_error, login, open_app, screenshot, wait_for_run

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("navigation_mode")]

ROLES = ("lender admin", "ops")


def tabs_of(role: str) -> dict[str, tuple[str, int]]:
    """Each tab the role is offered, in order: a sentence only it shows, and whether it draws charts."""
    return {
        "Health and findings": ("Findings in this period", 0),
        "Rates over time": ("Click a point to open that period in the log", 2),
        "Lenders × providers" if role == "ops" else "Providers": ("darkest red at", 1),
        "Breakdowns": ("Account confirmations go to addresses nobody has verified yet", 3),
        "Domains and reasons": ("Top bouncing recipient domains", 0),
    }


def expect_tab(page: Page, role: str, label: str) -> None:
    """The tab `label` is open and drawn, alone, with no error on the page."""
    expect_no_error(page)
    tabs = tabs_of(role)
    expect(page.get_by_role("tab", name=label, exact=True)).to_have_attribute("aria-selected", "true")
    main = page.get_by_test_id("stMain")
    words, charts = tabs[label]
    expect(main).to_contain_text(words)
    for other, (other_words, _) in tabs.items():
        if other != label:
            expect(main).not_to_contain_text(other_words)
    drawn = page.get_by_test_id("stVegaLiteChart").filter(visible=True)
    if charts:
        expect(drawn.first).to_be_visible()
        expect(drawn.first.locator("canvas, svg").first).to_be_attached()
    else:
        expect(page.get_by_test_id("stVegaLiteChart")).to_have_count(0)


@pytest.mark.parametrize("role", ROLES)
def test_every_tab_opened_and_a_filter_changed_on_each(server, demo, page, role):
    open_app(page, server.url("/deliverability"))
    login(page, demo.admin if role == "lender admin" else demo.ops, demo.password)
    expect(page.get_by_role("heading", name="Deliverability")).to_be_visible()
    labels = list(tabs_of(role))
    expect_tab(page, role, labels[0])  # the page opens on health and findings
    if role == "lender admin":
        expect(page.get_by_test_id("stMain")).not_to_contain_text(demo.other_lender_names[0])
    for label in [*labels[1:], labels[0]]:
        page.get_by_role("tab", name=label, exact=True).click()
        wait_for_run(page)
        expect_tab(page, role, label)
        granularity = page.get_by_role("radiogroup", name="Granularity")
        before = granularity.get_by_role("radio", checked=True).inner_text().strip()
        other = "Month" if before != "Month" else "Week"
        # A filter: a whole-page run, and the tab stays open. The chosen unit clicked again stays
        # chosen (Streamlit's control would clear it while the charts fell back to weeks).
        for unit in (other, other, before):
            granularity.get_by_role("radio", name=unit, exact=True).click()
            wait_for_run(page)
            expect(granularity.get_by_role("radio", name=unit, exact=True)).to_be_checked()
            expect(granularity.get_by_role("radio", checked=True)).to_have_count(1)
            expect_tab(page, role, label)
        if label == "Rates over time":  # the same for its Rate
            rate = page.get_by_role("radiogroup", name="Rate")
            chosen = rate.get_by_role("radio", checked=True).inner_text().strip()
            rate.get_by_role("radio", name=chosen, exact=True).click()
            wait_for_run(page)
            expect(rate.get_by_role("radio", name=chosen, exact=True)).to_be_checked()
            expect_tab(page, role, label)
    screenshot(page, f"deliverability-tabs-{role.replace(' ', '-')}")

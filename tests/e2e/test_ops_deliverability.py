"""The Deliverability page's charts in a real browser, a drilldown into the filtered log, and the
ops-only Audit trail."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.support import (
    click_row,
    expect_no_error,
    expect_selected,
    grid_rows,
    last_rerun,
    login,
    main_text,
    menu,
    open_app,
    screenshot,
    url_params,
    wait_for_run,
)

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("navigation_mode")]


def wait_for_charts(page) -> int:
    """Every visible Vega-Lite chart (other tabs' are hidden) has drawn a canvas or an svg; returns how many."""
    charts = page.get_by_test_id("stVegaLiteChart").filter(visible=True)
    expect(charts.first).to_be_visible()
    n = charts.count()
    for i in range(n):
        chart = charts.nth(i)
        chart.scroll_into_view_if_needed()
        expect(chart.locator("canvas, svg").first).to_be_attached()
        box = chart.bounding_box()
        assert box and box["width"] > 100 and box["height"] > 50, f"chart {i} is not drawn: {box}"
    page.get_by_test_id("stMain").evaluate("m => m.scrollTo(0, 0)")
    return n


def expect_bars_readable(chart) -> None:
    """Each bar of a breakdown chart at least 14 px tall (svg), or the drawing tall enough for two
    bars and the axis (canvas)."""
    chart.scroll_into_view_if_needed()
    drawing = chart.locator("canvas, svg").first
    expect(drawing).to_be_visible()
    if drawing.evaluate("d => d.tagName.toLowerCase()") == "svg":
        heights = chart.evaluate("c => Array.from(c.querySelectorAll('g.mark-rect path')).map(p => p.getBoundingClientRect().height)")
        assert heights and min(heights) >= 14, heights
    else:
        assert drawing.bounding_box()["height"] >= 2 * 28 + 30


def test_deliverability_charts_render_and_a_drilldown_opens_the_filtered_log(server, demo, page):
    open_app(page, server.url("/deliverability"))
    login(page, demo.admin, demo.password)
    expect(page.get_by_role("heading", name="Deliverability")).to_be_visible()
    main = page.get_by_test_id("stMain")
    expect(main).to_contain_text("Bounce rate")
    # Health and findings open first (what needs attention); the charts wait for their tab.
    expect(page.get_by_role("tab", name="Health and findings")).to_have_attribute("aria-selected", "true")
    expect(main.get_by_role("heading", name="Findings in this period")).to_be_visible()
    expect(page.get_by_test_id("stVegaLiteChart")).to_have_count(0)
    text = main_text(page)
    assert demo.lender_name in text
    assert not any(name in text for name in demo.other_lender_names), "another lender's name on a lender admin's page"
    screenshot(page, "deliverability")
    page.get_by_role("tab", name="Rates over time").click()
    wait_for_run(page)
    assert last_rerun(page) == "fragment"  # the tabs rerun, not the page
    assert wait_for_charts(page) >= 2  # the rate over time and the volume chart
    text = main_text(page)
    assert not any(name in text for name in demo.other_lender_names), "another lender's name on a lender admin's page"
    screenshot(page, "deliverability-rates")

    # Switching the Rate reruns its tab alone (a fragment), not the page's other tabs and cards.
    main.get_by_text("Block", exact=True).first.click()
    wait_for_run(page)
    assert last_rerun(page) == "fragment"
    expect(main).to_contain_text("Block rate")
    assert wait_for_charts(page) >= 2
    expect_no_error(page)

    # Only the open tab is drawn; opening another reruns the tabs alone (a fragment) and draws it.
    expect(main).not_to_contain_text("Account confirmations go to addresses nobody has verified yet")
    page.get_by_role("tab", name="Breakdowns").click()
    wait_for_run(page)
    assert last_rerun(page) == "fragment"
    expect(main).to_contain_text("Account confirmations go to addresses nobody has verified yet")
    assert wait_for_charts(page) == 3  # by mailbox provider, by audience, by email type
    for chart in page.get_by_test_id("stVegaLiteChart").filter(visible=True).all():
        expect_bars_readable(chart)  # two audiences' bars were once squeezed to a line
    expect_no_error(page)
    screenshot(page, "deliverability-breakdowns")
    page.get_by_role("tab", name="Rates over time").click()
    wait_for_run(page)
    assert last_rerun(page) == "fragment"
    expect(main.get_by_role("radio", name="Block", exact=True)).to_be_checked()  # its Rate remembered
    assert wait_for_charts(page) >= 2
    page.get_by_role("tab", name="Health and findings").click()
    wait_for_run(page)
    expect(page.get_by_test_id("stVegaLiteChart")).to_have_count(0)

    links = main.get_by_role("link", name="Open them in the log")
    if links.count() == 0:
        pytest.fail("no finding with a drilldown link for the demo's busiest lender (the demo has a block episode)")
    links.first.click()
    wait_for_run(page)
    expect(page.get_by_role("heading", name="Communication Log")).to_be_visible()
    params = url_params(page)
    assert params.get("delivery") == "NOT_DELIVERED", page.url
    assert params.get("sent_from") and params.get("sent_to") and "range" not in params, page.url  # exact UTC bounds
    assert "lender" not in params  # a lender admin's URLs never carry a lender
    expect_selected(page, "Delivery status", "NOT_DELIVERED")
    expect_selected(page, "Sent", "Exact UTC times")
    count = re.compile(r"([\d,]+) emails? in (.+)")
    expect(page.get_by_test_id("stMain")).to_contain_text(count)
    m = count.search(main_text(page))
    assert m and int(m.group(1).replace(",", "")) > 0, main_text(page)[:1500]
    assert demo.lender_name in m.group(2)  # the lender's own log, or all of its logs (lender and borrowers)
    if "event" in params:
        expect_selected(page, "Event type", params["event"])
    expect(page.get_by_test_id("stDataFrame")).to_have_count(1)
    screenshot(page, "deliverability-drilldown")


def test_ops_see_every_lender_and_the_audit_trail(server, demo, page):
    open_app(page, server.url("/deliverability"))
    login(page, demo.ops, demo.password)
    expect(page.get_by_role("heading", name="Deliverability")).to_be_visible()
    expect(page.get_by_test_id("stSelectbox").filter(has_text="Lender")).to_have_count(1)
    main = page.get_by_test_id("stMain")
    expect(main.get_by_role("heading", name="Findings in this period")).to_be_visible()
    for name in demo.other_lender_names[:2]:  # ops: a card for each lender
        expect(main.get_by_text(name, exact=True).first).to_be_visible()
    screenshot(page, "deliverability-ops")
    page.get_by_role("tab", name="Rates over time").click()
    wait_for_run(page)
    wait_for_charts(page)
    expect_no_error(page)

    menu(page).get_by_role("link", name="Audit").click()
    wait_for_run(page)
    expect(page.get_by_role("heading", name="Audit trail")).to_be_visible()
    expect(page.get_by_test_id("stMain")).not_to_contain_text("This page is for platform ops only")
    screenshot(page, "audit")


def test_a_bouncing_domain_opens_the_same_bounces_in_the_log(server, demo, page):
    """Domains and reasons: pick a domain, open its bounces in the log, and the log counts the bounces
    the table counted."""
    open_app(page, server.url("/deliverability"))
    login(page, demo.admin, demo.password)
    main = page.get_by_test_id("stMain")
    page.get_by_role("tab", name="Domains and reasons").click()
    wait_for_run(page)
    expect(main).to_contain_text("Top bouncing recipient domains")
    domains = grid_rows(page)
    top = domains[0]
    click_row(page, 0)
    link = main.get_by_role("link", name=f"Open bounces to {top['Domain']} in the log")
    expect(link).to_be_visible()
    expect_no_error(page)
    screenshot(page, "deliverability-domain-picked")
    link.click()
    wait_for_run(page)
    expect(page.get_by_role("heading", name="Communication Log")).to_be_visible()
    expect(page.get_by_role("textbox", name="Recipient domain")).to_have_value(top["Domain"])
    expect_selected(page, "Delivery status", "NOT_DELIVERED")
    count = re.compile(r"([\d,]+) emails? in (.+)")
    expect(main).to_contain_text(count)
    m = count.search(main_text(page))
    assert m and int(m.group(1).replace(",", "")) == int(top["Bounced"].replace(",", "")), (m and m.group(0), top)
    expect_no_error(page)
    screenshot(page, "deliverability-domain-in-the-log")

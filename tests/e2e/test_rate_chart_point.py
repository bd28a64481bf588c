"""A lender admin clicks a point of Deliverability's bounce-rate chart ("Click a point to open that
period in the log"), follows the link it offers, and the log lists that day's bounces: as many as
the point said, on the point's exact UTC bounds."""

import re
from datetime import datetime, timedelta

import pytest
from playwright.sync_api import expect

from tests.e2e.support import expect_no_error, login, main_text, open_app, screenshot, url_params, wait_for_run

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("navigation_mode")]

POINT = re.compile(r"Period from \(UTC\): (\w{3} \d{2}, \d{4}); .*Messages: (\d+) of ([\d,]+)")


def test_a_click_on_a_point_of_the_rate_chart_opens_that_days_bounces_in_the_log(server, demo, page):
    open_app(page, server.url("/deliverability"))
    login(page, demo.admin, demo.password)
    page.get_by_role("tab", name="Rates over time").click()
    wait_for_run(page)
    chart = page.get_by_test_id("stVegaLiteChart").filter(visible=True).first
    expect(chart.locator("svg").first).to_be_visible()
    chart.scroll_into_view_if_needed()
    # The lender's points (the median's are not named), each described for assistive technology.
    points = chart.locator("g.mark-symbol path[role=graphics-symbol]")
    expect(points.first).to_be_attached()
    described = [(i, POINT.search(label or "")) for i, label in enumerate(points.evaluate_all("ps => ps.map(p => p.getAttribute('aria-label'))"))]
    i, point = next((i, m) for i, m in described if m and int(m.group(2)) > 0)  # a day with bounces
    day, bounced = datetime.strptime(point.group(1), "%b %d, %Y"), int(point.group(2))

    box = points.nth(i).bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    wait_for_run(page)
    link = page.get_by_role("link", name=f"Open bounce messages from {day:%d %b} to {day:%d %b} in the log")
    expect(link).to_be_visible()
    expect_no_error(page)
    screenshot(page, "deliverability-point-picked")

    link.click()
    wait_for_run(page)
    expect(page.get_by_role("heading", name="Communication Log")).to_be_visible()
    params = url_params(page)
    assert params["sent_from"] == f"{day:%Y-%m-%d}T00:00Z" and params["sent_to"] == f"{day + timedelta(days=1):%Y-%m-%d}T00:00Z"
    assert params["delivery"] == "NOT_DELIVERED" and params["event"] == "BOUNCE"
    count = re.compile(r"([\d,]+) emails? in ")
    expect(page.get_by_test_id("stMain")).to_contain_text(count)
    assert int(count.search(main_text(page)).group(1).replace(",", "")) == bounced  # the figure and its log: the same messages
    expect_no_error(page)
    screenshot(page, "deliverability-point-in-the-log")

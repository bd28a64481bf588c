"""The lender × mailbox-provider heatmap as a lender admin sees it in Chromium: one lender's row is
drawn tall enough to read, and every cell prints its value and its verdict."""

import pytest
from playwright.sync_api import Locator, expect

from tests.e2e.support import login, open_app, screenshot, wait_for_run

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("navigation_mode")]

MIN_ROW_PX = 40
VERDICTS = ("Healthy", "Watch", "At risk", "low volume")


def expect_readable_rows(chart: Locator) -> None:
    """Every cell at least MIN_ROW_PX tall and the cells' words drawn (svg); the drawing itself tall
    enough for a row and its axis (canvas)."""
    chart.scroll_into_view_if_needed()
    drawing = chart.locator("canvas, svg").first
    expect(drawing).to_be_visible()
    if drawing.evaluate("d => d.tagName.toLowerCase()") == "svg":
        cells = chart.locator("g.mark-rect path")
        expect(cells.first).to_be_attached()
        heights, texts = chart.evaluate("""c => [
            Array.from(c.querySelectorAll('g.mark-rect path')).map(p => p.getBoundingClientRect().height),
            Array.from(c.querySelectorAll('g.mark-text text')).map(t => t.textContent)]""")
        assert heights and min(heights) >= MIN_ROW_PX, heights
        assert any(t.endswith(" %") for t in texts), texts
        assert any(t.split(" (")[0] in VERDICTS for t in texts), texts
    else:
        assert drawing.bounding_box()["height"] >= MIN_ROW_PX + 30

def test_a_lender_admins_heatmap_row_is_at_least_40_px_tall_and_says_its_values(server, demo, page):
    open_app(page, server.url("/deliverability"))
    login(page, demo.admin, demo.password)
    page.get_by_role("tab", name="Providers").click()
    panel = page.get_by_role("tabpanel").filter(visible=True)
    chart = panel.get_by_test_id("stVegaLiteChart").first
    expect_readable_rows(chart)
    expect(panel).to_contain_text("darkest red at")  # the caption says what the colours mean
    screenshot(page, "deliverability-providers")

    panel.get_by_role("radio", name="Bounce").click()  # another rate: the same rows, redrawn
    wait_for_run(page)
    expect_readable_rows(panel.get_by_test_id("stVegaLiteChart").first)

"""Deliverability's five tiles under the minimum volume, as a lender admin and as ops, at 1440 and
800 px: a person raises the minimum in Settings until no rate is graded; each tile then shows no
figure, a grey "low volume" flag under it and the counts with the rate in the line below, and no
tile's text is cut (the words "low volume" as the figure were cut to "low …" at 800 px). Lowered
again, the figures come back, whole."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.support import expect_no_error, login, open_app, screenshot, wait_for_run

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("navigation_mode")]

TILES = ("Bounce rate", "Block rate", "Defer rate", "All failures", "Delivered")
# The text of every element of the tiles wider than its box: cut off (Streamlit ends a cut figure with "…").
CUT = """(tiles) => tiles.flatMap((tile) => [...tile.querySelectorAll("*")])
    .filter((e) => e.scrollWidth > e.clientWidth + 1).map((e) => e.textContent)"""


def set_minimum_volume(page: Page, value: int) -> None:
    page.get_by_role("button", name="Settings").click()
    box = page.get_by_role("spinbutton", name="Minimum volume")
    box.fill(str(value))
    box.press("Enter")
    wait_for_run(page)
    page.keyboard.press("Escape")
    expect(box).to_be_hidden()


@pytest.mark.parametrize("width", (1440, 800))
@pytest.mark.parametrize("role", ("lender admin", "ops"))
def test_tiles_under_the_minimum_volume_are_flagged_and_whole(server, demo, page, role, width):
    page.set_viewport_size({"width": width, "height": 900})
    open_app(page, server.url("/deliverability"))
    login(page, demo.admin if role == "lender admin" else demo.ops, demo.password)
    tiles = page.get_by_test_id("stMetric")
    expect(tiles).to_have_count(len(TILES))
    expect(tiles.get_by_test_id("stMetricDelta")).to_have_count(0)  # graded: figures, no flag

    set_minimum_volume(page, 100_000)  # more than the demo sends in a month, to anyone
    expect_no_error(page)
    for label in TILES:
        tile = tiles.filter(has_text=label)
        expect(tile.get_by_test_id("stMetricValue")).to_have_text("—")
        expect(tile.get_by_test_id("stMetricDelta")).to_have_text("low volume")
    captions = page.get_by_test_id("stMain").get_by_test_id("stCaptionContainer")
    expect(captions.filter(has_text="attempted: under the minimum of 100,000 · ")).to_have_count(len(TILES))
    assert page.evaluate(CUT, tiles.element_handles()) == []
    if role == "lender admin":
        screenshot(page, "deliverability-low-volume" + ("" if width == 1440 else f"-{width}"), widths=(width,))

    set_minimum_volume(page, 100)
    expect(tiles.get_by_test_id("stMetricDelta")).to_have_count(0)
    for label in TILES:
        expect(tiles.filter(has_text=label).get_by_test_id("stMetricValue")).to_contain_text("%")
    assert page.evaluate(CUT, tiles.element_handles()) == []
    expect_no_error(page)

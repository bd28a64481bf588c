"""A Deliverability finding and the log its link opens count the same messages for a viewer far
from UTC (Los Angeles): the link carries exact UTC bounds, which the log names."""

import re

import pytest
from playwright.sync_api import expect

from commlog.bench.browser_probe import RUN_COUNTER
from tests.e2e.support import expect_selected, login, main_text, open_app, url_params, wait_for_run

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("navigation_mode")]

ZONE = "America/Los_Angeles"  # UTC-8: a UTC send day is two local days here
COUNTED = re.compile(r"The log lists the ([\d,]+) [^\n]*: the ones counted here\.")
SHOWN = re.compile(r"([\d,]+) emails? in ")


@pytest.fixture
def page_far_from_utc(browser):
    ctx = browser.new_context(viewport={"width": 1440, "height": 900}, timezone_id=ZONE, locale="en-US")
    ctx.add_init_script(RUN_COUNTER)
    yield ctx.new_page()
    ctx.close()


def test_a_findings_count_is_the_count_of_the_log_its_link_opens_in_los_angeles(server, demo, page_far_from_utc):
    page = page_far_from_utc
    open_app(page, server.url("/deliverability"))
    login(page, demo.admin, demo.password)
    expect(page.get_by_role("heading", name="Deliverability")).to_be_visible()
    main = page.get_by_test_id("stMain")
    expect(main).to_contain_text(f"Your time zone is {ZONE}")
    links = main.get_by_test_id("stPageLink").filter(has_text="Open them in the log")
    expect(links.first).to_be_visible()
    # The first finding whose messages the log can list exactly (bounces, blocks, deferrals).
    card = next((card for card in (links.nth(i).locator("xpath=ancestor::div[@data-testid='stHorizontalBlock'][1]")
                                   for i in range(links.count())) if COUNTED.search(card.inner_text())), None)
    assert card is not None, f"no finding of bounces, blocks or deferrals on the demo's busiest lender:\n{main_text(page)[:2000]}"
    text = card.inner_text()
    counted = int(COUNTED.search(text).group(1).replace(",", ""))
    assert re.search(rf"\({counted:,} of [\d,]+ attempted\)", text), text  # the figure the finding states
    assert "no provider filter" not in text

    card.get_by_role("link").click()
    wait_for_run(page)
    expect(page.get_by_role("heading", name="Communication Log")).to_be_visible()
    params = url_params(page)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT00:00Z", params.get("sent_from", "")), page.url
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT00:00Z", params.get("sent_to", "")), page.url
    expect_selected(page, "Sent", "Exact UTC times")
    expect(main).to_contain_text(re.compile(rf"Sent \d+ \w+ 00:00 – \d+ \w+ 00:00 UTC \(in {ZONE}: "))
    expect(main).to_contain_text(SHOWN)
    shown = int(SHOWN.search(main_text(page)).group(1).replace(",", ""))
    assert shown == counted, f"Deliverability counted {counted}, the log it links to shows {shown} ({page.url})"

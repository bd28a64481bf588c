"""The Communication Log in a real browser: sign in and out, the Account type-ahead, filters in the
URL (and a pasted URL restoring them), a message and Check delivery status, the bulk check, the
CSV export."""

import csv
import io
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from tests.e2e.support import (
    VIEWER_TZ,
    borrower_log,
    choose,
    click_row,
    expect_selected,
    login,
    main_text,
    open_app,
    screenshot,
    url_params,
    wait_for_run,
)

VIEWER = ZoneInfo(VIEWER_TZ)

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("navigation_mode")]

COUNT = re.compile(r"([\d,]+) emails? in (.+)")


def shown_count(page) -> tuple[int, str]:
    expect(page.get_by_test_id("stMain")).to_contain_text(COUNT)
    m = COUNT.search(main_text(page))
    assert m, f"no email count on the page:\n{main_text(page)[:1500]}"
    return int(m.group(1).replace(",", "")), m.group(2)


def test_sign_in_see_the_log_and_sign_out(server, demo, page):
    open_app(page, server.url("/"))
    login(page, demo.admin, demo.password)
    expect(page.get_by_role("heading", name="Communication Log")).to_be_visible()
    expect(page.get_by_test_id("stDataFrame")).to_have_count(1)
    total, whose = shown_count(page)
    assert total > 50 and whose.startswith(f"{demo.lender_name}: lender's own log")
    expect(page.get_by_test_id("stMain")).to_contain_text("Times in Europe/Berlin")
    expect(page.get_by_test_id("stSidebar")).to_contain_text(demo.admin)
    text = main_text(page)
    assert not any(name in text for name in demo.other_lender_names)
    screenshot(page, "log")

    page.get_by_role("button", name="Sign out").click()
    wait_for_run(page)
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    expect(page.get_by_test_id("stDataFrame")).to_have_count(0)
    assert demo.lender_name not in main_text(page)


def test_account_type_ahead_opens_a_borrowers_log(server, demo, page):
    b = demo.borrower
    open_app(page, server.url("/"))
    login(page, demo.admin, demo.password)
    lender_total, _ = shown_count(page)
    search = page.get_by_role("textbox", name="Find a borrower (name or email)")
    search.click()
    search.press_sequentially(b.search[:-2], delay=40)  # part of the email, typed
    wait_for_run(page)
    expect(page.get_by_test_id("stMain")).to_contain_text("pick one in Account")
    choose(page, "Account", b.email)
    expect_selected(page, "Account", b.email)
    assert url_params(page).get("account") == str(b.id)
    total, whose = shown_count(page)
    assert whose.startswith(f"{b.name}'s log ({b.email})")
    assert 0 < total < lender_total
    expect(page.get_by_test_id("stDataFrame")).to_have_count(1)
    screenshot(page, "account-type-ahead")


def test_filters_go_to_the_url_and_a_pasted_url_restores_them(server, demo, context):
    page = context.new_page()
    open_app(page, server.url("/"))
    login(page, demo.admin, demo.password)
    all_total, _ = shown_count(page)
    choose(page, "Delivery status", "NOT_DELIVERED")
    assert url_params(page).get("delivery") == "NOT_DELIVERED"
    filtered, _ = shown_count(page)
    assert 0 < filtered < all_total
    choose(page, "Sent", "Last 7 days")
    params = url_params(page)
    assert (params.get("delivery"), params.get("range")) == ("NOT_DELIVERED", "7d"), page.url
    week, _ = shown_count(page)
    assert 0 < week <= filtered
    screenshot(page, "filters")

    # The address bar, pasted into a new tab of the same browser: a full page load is a new
    # Streamlit session, so it asks for the login, which keeps the link's view.
    pasted = context.new_page()
    open_app(pasted, page.url)
    expect(pasted.get_by_role("button", name="Sign in")).to_be_visible()
    expect(pasted.get_by_role("dialog")).to_have_count(0)
    login(pasted, demo.admin, demo.password)
    expect_selected(pasted, "Delivery status", "NOT_DELIVERED")
    expect_selected(pasted, "Sent", "Last 7 days")
    params = url_params(pasted)
    assert (params.get("delivery"), params.get("range")) == ("NOT_DELIVERED", "7d"), pasted.url
    assert shown_count(pasted)[0] == week
    screenshot(pasted, "filters-restored")


def test_a_log_link_with_the_log_path_opens_without_a_page_not_found_dialog(server, demo, page):
    open_app(page, server.url("/log?delivery=NOT_DELIVERED&range=7d"))
    expect(page.get_by_role("dialog")).to_have_count(0, timeout=3_000)
    login(page, demo.admin, demo.password)
    expect_selected(page, "Delivery status", "NOT_DELIVERED")


def test_open_a_message_and_check_its_delivery_status(server, demo, page):
    b = demo.borrower
    rows = borrower_log(demo.url, b.id)
    row, msg = next((i, m) for i, m in enumerate(rows) if m["send_status"] == "sent" and m["delivery_status"] is None)
    open_app(page, server.url(f"/?account={b.id}"))
    login(page, demo.admin, demo.password)
    click_row(page, row)
    main = page.get_by_test_id("stMain")
    expect(main.get_by_role("heading", name=msg["subject"])).to_be_visible()
    expect(main).to_contain_text("Not checked with the provider yet.")
    expect(main.get_by_role("heading", name="Events")).to_be_visible()
    check = page.get_by_role("button", name="Check delivery status")
    expect(check).to_be_visible()
    check.click()
    wait_for_run(page)
    expect(main).to_contain_text("Checked with the provider at", timeout=30_000)
    expect(main.get_by_role("heading", name=msg["subject"])).to_be_visible()
    expect(main).to_contain_text("Last checked with the provider")
    expect(main).not_to_contain_text("Not checked with the provider yet.")
    # the status box and the events, as they render (expect retries until they are there)
    expect(main.get_by_test_id("stAlert").filter(has_text=re.compile(r"\b(DELIVERED|NOT_DELIVERED|PENDING)\b")).first).to_be_visible()
    expect(main).to_contain_text(re.compile(r"\b(PROCESSED|DELIVERED|DEFERRED|BOUNCE|BLOCKED|DROPPED)\b \d{4}-\d\d-\d\d"))
    screenshot(page, "message-check")


def test_the_detail_stays_on_the_checked_email_in_a_not_checked_view(server, demo, page):
    b = demo.borrower
    # Status sent as well: the newest not-checked email may be one that was never sent (nothing to check).
    open_app(page, server.url(f"/?account={b.id}&status=sent&delivery=NOT_CHECKED"))
    login(page, demo.admin, demo.password)
    click_row(page, 0)
    main = page.get_by_test_id("stMain")
    subject = main.locator("h3").first.inner_text().strip()  # the detail's subheader: the email's subject
    page.get_by_role("button", name="Check delivery status").click()
    wait_for_run(page)
    expect(main).to_contain_text("Checked with the provider at", timeout=5_000)
    expect(main.get_by_role("heading", name=subject)).to_be_visible()


def test_message_page_by_id_and_check_again(server, demo, page):
    import sqlite3

    with sqlite3.connect(demo.url.removeprefix("sqlite:///")) as c:
        (mid,) = c.execute(
            "SELECT id FROM message WHERE lender_id = ? AND send_status = 'sent' AND last_event_type = 'BOUNCE' "
            "ORDER BY sent_at DESC LIMIT 1", (demo.lender_id,)
        ).fetchone()
    open_app(page, server.url(f"/message?id={mid}"))
    login(page, demo.admin, demo.password)
    main = page.get_by_test_id("stMain")
    expect(main).to_contain_text("NOT_DELIVERED")
    expect(main).to_contain_text("BOUNCE")
    expect(main).to_contain_text("Receiving server said:")
    page.get_by_role("button", name=re.compile("Check (again|delivery status)")).click()
    wait_for_run(page)
    expect(main).to_contain_text("Checked with the provider at", timeout=30_000)
    expect(main).to_contain_text("NOT_DELIVERED")
    screenshot(page, "message")


def test_bulk_check_with_progress_and_per_row_results(server, demo, page):
    open_app(page, server.url("/?delivery=NOT_CHECKED"))
    login(page, demo.admin, demo.password)
    for row in range(5):
        click_row(page, row)
    main = page.get_by_test_id("stMain")
    expect(main).to_contain_text("5 emails selected.")
    page.get_by_role("button", name="Check delivery status of 5 emails").click()
    expect(page.get_by_test_id("stProgress")).to_be_visible()
    wait_for_run(page)
    expect(page.get_by_test_id("stProgress")).to_contain_text("Checked 5 of 5.")
    expect(page.get_by_test_id("stDataFrame")).to_have_count(2)  # the log and the per-row results
    expect(main).to_contain_text(re.compile(r"All 5 checked|could not be checked"))
    screenshot(page, "bulk-check")


def _failures_in_db(db_url: str, lender_id: int, since: datetime) -> dict[int, tuple]:
    """Failure rows of every log of a lender sent since `since`: id -> (send status, send error,
    delivery status, reason, subject)."""
    with sqlite3.connect(db_url.removeprefix("sqlite:///")) as c:
        return {r[0]: r[1:] for r in c.execute(
            "SELECT id, send_status, send_error, delivery_status, status_reason, subject FROM message "
            "WHERE lender_id = ? AND sent_at >= ? AND (send_status = 'failed' OR delivery_status = 'NOT_DELIVERED')",
            (lender_id, since.strftime("%Y-%m-%d %H:%M:%S")),
        )}


def test_last_weeks_failures_as_csv_as_a_lender_admin_would(server, demo, page):
    """Issue 5's walk: filter the log to last week's failures with the controls, download the CSV,
    read it back: every failed message of the week is there with its reason, and a subject that
    starts with '=' is text."""
    from commlog.export import HEADER

    open_app(page, server.url("/"))
    login(page, demo.admin, demo.password)
    choose(page, "Account", f"All of {demo.lender_name}'s logs")
    choose(page, "Sent", "Last 7 days")
    assert url_params(page).get("range") == "7d" and url_params(page).get("account") == "all"
    page.get_by_test_id("stExpander").filter(has_text="Export failures").get_by_text("Export failures").first.click()
    main = page.get_by_test_id("stMain")
    expect(main).to_contain_text(re.compile(r"[\d,]+ failures? match"))
    announced = int(re.search(r"([\d,]+) failures? match", main_text(page)).group(1).replace(",", ""))
    page.get_by_text("For Excel (UTF-8 with BOM)").click()
    wait_for_run(page)
    clicked_at = datetime.now(UTC)
    with page.expect_download() as info:
        page.get_by_role("button", name="Download failures CSV").click()
    download = info.value
    assert re.fullmatch(rf"failures_[a-z0-9-]+_\d{{4}}-\d\d-\d\d_to_{clicked_at.astimezone(VIEWER).date()}\.csv",
                        download.suggested_filename), download.suggested_filename
    data = download.path().read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert list(rows[0].keys()) == list(HEADER) and len(rows) == announced > 0

    # Every failure of the week, and nothing else: compared by id with the database, with a margin of
    # a few minutes around the 7-day boundary (the page's "now" and ours differ by seconds).
    week = timedelta(days=7)
    surely_in = _failures_in_db(demo.url, demo.lender_id, clicked_at - week + timedelta(minutes=5))
    maybe_in = _failures_in_db(demo.url, demo.lender_id, clicked_at - week - timedelta(minutes=5))
    exported = {int(r["Message ID"]): r for r in rows}
    assert set(surely_in) <= set(exported) <= set(maybe_in)
    for mid, r in exported.items():
        send_status, send_error, delivery, reason, subject = maybe_in[mid]
        assert r["Lender"] == demo.lender_name
        assert r["Status"] == send_status and r["Delivery status"] == (delivery or "NOT_CHECKED")
        # the reason is there: why sending failed, or the receiving server's answer
        assert (r["Send error"] == send_error) if send_status == "failed" else (r["Reason / SMTP response"] == reason and reason)
        assert r["Subject"] == ("'" + subject if subject[0] in "=+-@" else subject)
    formula_like = [r["Subject"] for r in rows if r["Subject"].startswith("'=")]
    assert formula_like, "the demo's MIME-encoded subjects (they start with '=') should be among last week's failures"
    screenshot(page, "export")


def test_export_failures_csv_download(server, demo, page):
    from commlog.export import HEADER

    open_app(page, server.url("/?delivery=NOT_DELIVERED"))
    login(page, demo.admin, demo.password)
    page.get_by_test_id("stExpander").filter(has_text="Export failures").get_by_text("Export failures").first.click()
    button = page.get_by_role("button", name="Download failures CSV")
    expect(page.get_by_test_id("stMain")).to_contain_text(re.compile(r"[\d,]+ failures? match"))
    with page.expect_download() as info:
        button.click()
    download = info.value
    assert download.suggested_filename.endswith(".csv")
    with open(download.path(), "rb") as fh:
        data = fh.read()
    text = data.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert tuple(rows[0]) == HEADER
    assert len(rows) > 1
    lender_col = HEADER.index("Lender")
    assert {r[lender_col] for r in rows[1:]} == {demo.lender_name}

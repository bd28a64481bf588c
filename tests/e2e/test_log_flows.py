"""The Communication Log in a real browser: sign in and out, the Account type-ahead, filters in the
URL (and a pasted URL restoring them), a message and Check delivery status, the bulk check, the
CSV export."""

import csv
import io
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect
from sqlalchemy import create_engine, delete

from commlog.models import Message
from commlog.ui.warm_up import DRAWN, FONTS
from tests.e2e.support import (
    VIEWER_TZ,
    borrower_log,
    choose,
    click_row,
    click_sent,
    close_dialog,
    data_tables,
    dialog,
    expect_no_error,
    expect_selected,
    grid_rows,
    login,
    main_text,
    menu,
    open_app,
    screenshot,
    sign_out,
    url_params,
    wait_for_run,
)
from tests.support import factories as f

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
    expect(menu(page)).to_contain_text(demo.admin)
    text = main_text(page)
    assert not any(name in text for name in demo.other_lender_names)
    screenshot(page, "log")

    sign_out(page)
    wait_for_run(page)
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    expect(data_tables(page)).to_have_count(0)
    assert demo.lender_name not in main_text(page)


def test_account_type_ahead_opens_a_borrowers_log_with_the_keyboard(server, demo, page):
    """One box: type part of the email, the best match comes first, Tab to it and press Enter."""
    b = demo.borrower
    open_app(page, server.url("/"))
    login(page, demo.admin, demo.password)
    lender_total, _ = shown_count(page)
    search = page.get_by_role("textbox", name="Find a borrower (name or email)")
    search.click()
    search.press_sequentially(b.search[:-2], delay=40)  # part of the email, typed
    wait_for_run(page)
    matches = page.locator(".st-key-log_matches").get_by_role("button")
    expect(matches.first).to_contain_text(b.email)  # the email starting with what was typed comes first
    screenshot(page, "account-type-ahead")
    page.keyboard.press("Tab")
    expect(matches.first).to_be_focused()
    page.keyboard.press("Enter")
    wait_for_run(page)
    expect_selected(page, "Account", b.email)
    expect(search).to_have_value("")  # picked: the box empties, the matches go
    expect(matches).to_have_count(0)
    assert url_params(page).get("account") == str(b.id)
    total, whose = shown_count(page)
    assert whose.startswith(f"{b.name}'s log ({b.email})")
    assert 0 < total < lender_total
    expect(page.get_by_test_id("stDataFrame")).to_have_count(1)


def test_a_slow_typist_loses_no_letter_while_the_matches_rerun(server, demo, page):
    """The finder asks for matches after a 100 ms pause: a person typing slower than that gets a run
    between keystrokes. Every letter still lands, and the matches are those of the whole text."""
    b = demo.borrower
    open_app(page, server.url("/"))
    login(page, demo.admin, demo.password)
    search = page.get_by_role("textbox", name="Find a borrower (name or email)")
    search.click()
    typed = b.search[:-2]
    runs = page.evaluate("() => window.__commlogRuns")
    search.press_sequentially(typed, delay=130)  # slower than the pause: a run after each letter, the next one typed meanwhile
    wait_for_run(page)
    assert page.evaluate("() => window.__commlogRuns") - runs >= len(typed) // 2, "the box did not rerun while typing"
    expect(search).to_have_value(typed)
    expect(page.locator(".st-key-log_matches").get_by_role("button").first).to_contain_text(b.email)
    expect_no_error(page)


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


def _a_never_checked_email(demo) -> tuple[int, int, dict]:
    """(borrower, row, email): a sent, never checked email among the first rows of a borrower's log
    that no other test checks (not the demo borrower, not the bulk check's borrower)."""
    taken = {demo.borrower.id, _untouched_borrower(demo)}
    with sqlite3.connect(demo.url.removeprefix("sqlite:///")) as c:
        candidates = [a for (a,) in c.execute(
            "SELECT DISTINCT log_account_id FROM message WHERE lender_id = ? AND log_account_id IS NOT NULL "
            "AND send_status = 'sent' AND delivery_status IS NULL ORDER BY log_account_id", (demo.lender_id,))]
    for account_id in (a for a in candidates if a not in taken):
        rows = borrower_log(demo.url, account_id)
        found = [(i, m) for i, m in enumerate(rows) if m["send_status"] == "sent" and m["delivery_status"] is None]
        if found:
            return account_id, *found[0]
    raise AssertionError("the demo has no borrower with a never checked email on the first rows of their log")


def test_open_a_message_and_check_its_delivery_status(server, demo, page):
    """A ticked row opens its email in a dialog over the grid; Check keeps the dialog open and the
    row ticked; closing the dialog keeps the tick."""
    account_id, row, msg = _a_never_checked_email(demo)
    open_app(page, server.url(f"/?account={account_id}"))
    login(page, demo.admin, demo.password)
    click_row(page, row)
    email = dialog(page)
    expect(email.get_by_role("heading", name=msg["subject"])).to_be_visible()
    expect(email).to_contain_text("Not checked with the provider yet.")
    expect(email.get_by_role("heading", name="Events")).to_be_visible()
    expect(email.get_by_role("link", name="Open on its own page")).to_be_visible()
    screenshot(page, "log-email-dialog")
    check = email.get_by_role("button", name="Check delivery status")
    expect(check).to_be_visible()
    check.click()
    wait_for_run(page)
    expect(email).to_contain_text("Checked with the provider at", timeout=30_000)
    expect(email.get_by_role("heading", name=msg["subject"])).to_be_visible()
    expect(email).to_contain_text("Last checked with the provider")
    expect(email).not_to_contain_text("Not checked with the provider yet.")
    # the status box and the events, as they render (expect retries until they are there)
    expect(email.get_by_test_id("stAlert").filter(has_text=re.compile(r"\b(DELIVERED|NOT_DELIVERED|PENDING)\b")).first).to_be_visible()
    expect(email).to_contain_text(re.compile(r"\b(PROCESSED|DELIVERED|DEFERRED|BOUNCE|BLOCKED|DROPPED)\b \d{4}-\d\d-\d\d"))
    screenshot(page, "message-check")
    close_dialog(page)
    shown = grid_rows(page, ticked=1)[row]
    assert shown["ticked"] and shown["Subject"] == msg["subject"] and shown["Delivery status"] != "Not checked yet", shown



def _a_quiet_borrower(demo) -> tuple[int, str]:
    """A borrower of the demo's lender with a few recent emails, none of the other tests' borrowers."""
    since = (datetime.now(UTC) - timedelta(days=25)).strftime("%Y-%m-%d %H:%M:%S")
    with sqlite3.connect(demo.url.removeprefix("sqlite:///")) as c:
        return c.execute(
            "SELECT a.id, a.email FROM account a JOIN message m ON m.log_account_id = a.id "
            "WHERE a.lender_id = ? AND a.kind = 'borrower' AND a.id != ? AND m.sent_at >= ? "
            "GROUP BY a.id HAVING count(*) >= 3 ORDER BY a.id DESC LIMIT 1",
            (demo.lender_id, demo.borrower.id, since),
        ).fetchone()


def test_a_tick_opens_the_email_it_showed_when_a_new_one_arrived_meanwhile(server, demo, page):
    """At scale a log gains emails while a person reads it: the row they tick opens the email it
    showed (the grid behind the dialog stays as it was ticked), and once the dialog is closed the
    log, read again, shows the new email with the tick still on the email it opened."""
    account_id, address = _a_quiet_borrower(demo)
    open_app(page, server.url(f"/?account={account_id}"))
    login(page, demo.admin, demo.password)
    drawn = grid_rows(page)
    engine = create_engine(demo.url)
    new_subject = "Your statement is ready (sent while you were reading)"
    try:
        with engine.begin() as c:
            f.message(c, demo.lender_id, address, log_account_id=account_id, subject=new_subject,
                               email_type="statement_ready", sent_at=datetime.now(UTC))
        click_row(page, 0)  # the newest email as the grid drew it
        email = dialog(page)
        expect(email.get_by_role("heading", name=drawn[0]["Subject"])).to_be_visible()
        expect(email).not_to_contain_text(new_subject)
        expect_no_error(page)
        screenshot(page, "log-tick-while-a-new-email-arrives")
        close_dialog(page)
        screenshot(page, "log-tick-stays-on-its-email")
        rows = grid_rows(page, ticked=1)
        assert rows[0]["Subject"] == new_subject and not rows[0]["ticked"], rows[0]
        assert rows[1]["ticked"] and (rows[1]["Sent"], rows[1]["Subject"]) == (drawn[0]["Sent"], drawn[0]["Subject"]), rows[1]
    finally:
        with engine.begin() as c:
            c.execute(delete(Message).where(Message.log_account_id == account_id, Message.subject == new_subject))
        engine.dispose()


def test_the_ticked_email_opens_on_its_own_page_from_its_dialog(server, demo, page):
    """"Open on its own page" in the dialog leads to /message?id=… with the same email."""
    b = demo.borrower
    rows = borrower_log(demo.url, b.id)
    row, msg = next((i, m) for i, m in enumerate(rows) if m["send_status"] == "sent")
    open_app(page, server.url(f"/?account={b.id}"))
    login(page, demo.admin, demo.password)
    click_row(page, row)
    dialog(page).get_by_role("link", name="Open on its own page").click()
    wait_for_run(page)
    assert page.url == server.url(f"/message?id={msg['id']}"), page.url
    expect(page.get_by_test_id("stMain").get_by_role("heading", name=msg["subject"])).to_be_visible()

def test_the_detail_stays_on_the_checked_email_in_a_not_checked_view(server, demo, page):
    b = demo.borrower
    open_app(page, server.url(f"/?account={b.id}&delivery=NOT_CHECKED"))
    login(page, demo.admin, demo.password)
    click_row(page, 0)
    email = dialog(page)
    subject = email.locator("h3").first.inner_text().strip()  # the dialog's subheader: the email's subject
    email.get_by_role("button", name="Check delivery status").click()
    wait_for_run(page)
    expect(email).to_contain_text("Checked with the provider at", timeout=5_000)
    expect(email.get_by_role("heading", name=subject)).to_be_visible()


def test_subjects_stored_mime_encoded_read_and_search_decoded(server, demo, page):
    """The demo's mailer stored some subjects RFC 2047-encoded: the log shows and finds their words."""
    with sqlite3.connect(demo.url.removeprefix("sqlite:///")) as c:
        stored, decoded = c.execute(
            "SELECT subject, subject_text FROM message WHERE lender_id = ? AND subject LIKE '=?%' "
            "ORDER BY sent_at DESC, id DESC LIMIT 1", (demo.lender_id,)).fetchone()
    open_app(page, server.url("/?" + urlencode({"account": "all", "range": "30d", "q": decoded})))
    login(page, demo.admin, demo.password)
    subjects = [r["Subject"] for r in grid_rows(page)]
    assert decoded in subjects, subjects  # found by its words, shown decoded
    assert not any("=?" in s for s in subjects), subjects
    assert stored.startswith("=?") and decoded not in stored
    screenshot(page, "log-decoded-subjects")


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
    expect(main).to_contain_text(re.compile(r"The receiving server \(\S+\) answered:"))
    page.get_by_role("button", name=re.compile("Check (again|delivery status)")).click()
    wait_for_run(page)
    expect(main).to_contain_text("Checked with the provider at", timeout=30_000)
    expect(main).to_contain_text("NOT_DELIVERED")
    screenshot(page, "message")


def _untouched_borrower(demo) -> int:
    """A borrower of the demo lender, not the one other tests check, with at least three never checked
    emails among the six newest sent ones of their own log (the top of the grid, where a row can be
    clicked where it is drawn; sent over an hour ago: the provider knows them). The demo's data moves
    with the clock, so the borrower is found, never named."""
    now = datetime.now(UTC)
    with sqlite3.connect(demo.url.removeprefix("sqlite:///")) as c:
        (account_id,) = c.execute(
            "SELECT log_account_id FROM ("
            "  SELECT log_account_id, delivery_status, sent_at,"
            "         row_number() OVER (PARTITION BY log_account_id ORDER BY sent_at DESC, id DESC) AS newest"
            "  FROM message WHERE lender_id = ? AND log_account_id IS NOT NULL AND log_account_id != ? AND send_status = 'sent'"
            ") WHERE newest <= 6 AND delivery_status IS NULL AND sent_at < ? "
            "GROUP BY log_account_id HAVING count(*) >= 3 ORDER BY count(*) DESC, log_account_id LIMIT 1",
            (demo.lender_id, demo.borrower.id, (now - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")),
        ).fetchone()
    return account_id


def test_bulk_check_with_progress_and_per_row_results(server, demo, page):
    """Tick the emails not checked yet (the first opens its email: close it), check them together in
    a dialog; the grid behind shows their new statuses without another click, still ticked."""
    open_app(page, server.url(f"/?account={_untouched_borrower(demo)}&status=sent"))
    login(page, demo.admin, demo.password)
    before = grid_rows(page)
    unchecked = [i for i, r in enumerate(before) if r["Delivery status"] == "Not checked yet"][:3]  # three, near the top: a row far below the fold cannot be clicked where it is drawn
    assert len(unchecked) >= 3, before
    click_row(page, unchecked[0])
    close_dialog(page)
    for row in unchecked[1:]:
        click_row(page, row)
    n = len(unchecked)
    main = page.get_by_test_id("stMain")
    expect(main).to_contain_text(f"{n} emails selected")
    page.get_by_role("button", name=f"Check delivery status of these {n}").click()
    results = dialog(page)
    # The bar counts while the provider answers and stays, full, above the results (the sandbox
    # answers three emails faster than a poll can see the bar move).
    expect(results.get_by_test_id("stProgress")).to_contain_text(f"of {n}")
    wait_for_run(page)
    expect(results.get_by_test_id("stProgress")).to_contain_text(f"Checked {n} of {n}.")
    expect(results).to_contain_text(f"Checked {n} of {n} with the provider.")
    expect(results.get_by_test_id("stTable")).to_contain_text("events")
    screenshot(page, "bulk-check")
    close_dialog(page)
    after = grid_rows(page)
    for i in unchecked:
        assert after[i]["ticked"] and after[i]["Subject"] == before[i]["Subject"], (before[i], after[i])
        assert after[i]["Delivery status"] in ("DELIVERED", "NOT_DELIVERED", "PENDING"), after[i]


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
    read it back: every failed message of the week is there with its reason, and a subject the mailer
    stored MIME-encoded is there decoded (any that starts with '=' as text)."""
    from commlog.export import HEADER
    from commlog.mime_subject import decoded_subject

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
        click_sent(page, page.get_by_role("button", name="Download failures CSV"))
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
        shown = decoded_subject(subject)  # a MIME-encoded subject is exported as its words
        assert r["Subject"] == ("'" + shown if shown[0] in "=+-@" else shown)
    encoded = [mid for mid in exported if maybe_in[mid][-1].startswith("=?")]
    assert encoded, "the demo's MIME-encoded subjects should be among last week's failures"
    assert not [mid for mid in encoded if exported[mid]["Subject"].startswith(("=?", "'=?"))]
    screenshot(page, "export")


def test_export_failures_csv_download(server, demo, page):
    from commlog.export import HEADER

    open_app(page, server.url("/?delivery=NOT_DELIVERED"))
    login(page, demo.admin, demo.password)
    page.get_by_test_id("stExpander").filter(has_text="Export failures").get_by_text("Export failures").first.click()
    button = page.get_by_role("button", name="Download failures CSV")
    expect(page.get_by_test_id("stMain")).to_contain_text(re.compile(r"[\d,]+ failures? match"))
    with page.expect_download() as info:
        click_sent(page, button)
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


# Every animation frame until the page is closed: the tallest the sign-in form's hidden block has been.
TALLEST_WARM_UP = """
window.__warmUpTallest = 0;
const watch = () => {
  const block = document.querySelector('.st-key-warm_up');
  if (block) window.__warmUpTallest = Math.max(window.__warmUpTallest, block.getBoundingClientRect().height);
  requestAnimationFrame(watch);
};
requestAnimationFrame(watch);
"""


@pytest.mark.parametrize("width", [1440, 800])
def test_the_sign_in_form_never_shows_what_it_draws_out_of_sight(server, page, width):
    """The block of commlog.ui.warm_up is hidden by a rule whose code Streamlit loads with it: until
    then its elements' placeholders stood under the form (500-600 px of them, in most fresh page
    loads). It is 1 px tall until the rule applies, then not drawn at all."""
    page.set_viewport_size({"width": width, "height": 900})
    page.add_init_script(TALLEST_WARM_UP)
    open_app(page, server.url("/log"))
    warm_up = page.locator(".st-key-warm_up")
    for element in DRAWN:
        expect(warm_up.get_by_test_id(element)).to_be_attached()
    expect(warm_up).to_be_hidden()
    assert page.evaluate("window.__warmUpTallest") <= 1


@pytest.mark.parametrize("who", ["admin", "ops"])
def test_the_log_an_email_and_deliverability_after_sign_in_need_no_more_browser_code(server, demo, page, who):
    """The sign-in form draws the elements of the log, an email's dialog and Deliverability out of
    sight, and lays out a letter in each font they use later (commlog.ui.warm_up), so the browser
    loads their code and fonts while the person types: after Sign in, the log (ops' with its Every
    lender box), an email (its Check delivery status button, an address in Source Code Pro) and then
    Deliverability (its notes in italics) are drawn with what the browser has."""
    open_app(page, server.url("/log"))
    warm_up = page.locator(".st-key-warm_up")
    for element in DRAWN:
        expect(warm_up.get_by_test_id(element)).to_be_attached()  # each is drawn once its code has loaded
    expect(warm_up).to_be_hidden()
    expect(page.locator(f".{FONTS}")).to_be_attached()
    page.wait_for_function("() => document.fonts.status === 'loaded'")  # the faces it asked for have come
    expect(data_tables(page)).to_have_count(0)

    fetched: list[str] = []
    # Code, style sheets and fonts (a face is fetched when text on screen first uses it)
    page.on("request", lambda request: fetched.append(request.url) if re.search(r"/static/(js|css|media)/", request.url) else None)
    login(page, demo.admin if who == "admin" else demo.ops, demo.password)
    expect(data_tables(page)).to_have_count(1)
    expect(page.get_by_role("navigation", name="Pagination")).to_be_visible()
    if who == "ops":
        expect(page.get_by_role("checkbox", name="Every lender")).to_be_attached()
    expect_no_error(page)
    assert fetched == []

    click_row(page, 0)
    expect(dialog(page).get_by_role("heading", name="Events")).to_be_visible()
    expect(dialog(page).get_by_role("button", name=re.compile(r"^Check (delivery status|again)$"))).to_be_visible()
    close_dialog(page)
    assert fetched == []

    menu(page).get_by_role("link", name="Deliverability").click()
    wait_for_run(page)
    expect(page.get_by_test_id("stMetric").filter(visible=True).first).to_be_visible()
    expect(page.get_by_role("heading", name="Findings in this period")).to_be_visible()
    page.get_by_role("tab", name="Rates over time").click()
    wait_for_run(page)
    expect(page.get_by_test_id("stVegaLiteChart").filter(visible=True).first).to_be_visible()
    expect_no_error(page)
    assert fetched == []

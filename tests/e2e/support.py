"""What the browser tests do as a person would, and how they wait: on Streamlit's own script state,
never on a clock.

Every browser context runs `commlog.bench.browser_probe.RUN_COUNTER` (conftest adds it): it counts the script runs the server
reports as finished over the app's WebSocket, leaving out runs cut short by a rerun (`st.rerun`).
`wait_for_run(page)` waits for a run that finished after the previous wait, then for the app to be
connected, idle and without skeletons.
Call it after anything that makes Streamlit run the script (a widget change, a button, a page
link); never after something that does not (opening an expander, a download). `open_app` starts
the count afresh for a page load.
"""

from __future__ import annotations

import os
import re
import sqlite3
import weakref
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from playwright.sync_api import Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

ROOT = Path(__file__).resolve().parents[2]
# Screenshots are written only when asked for (`bin/screenshots` sets it to docs/screenshots).
SHOTS = os.environ.get("COMMLOG_SCREENSHOTS_DIR")
WIDTHS = (1440, 800)  # a desktop, and a laptop with a side window (or a tablet)
ROW_HEIGHT = 35  # st.dataframe's default row and header height (px)
OPEN_X = 33 + 36  # the middle of a row's Open button: past the tick column (33 px), half the Open column
VIEWER_TZ = "Europe/Berlin"  # the browser's time zone in every test


_seen: weakref.WeakKeyDictionary[Page, tuple[str, int]] = weakref.WeakKeyDictionary()


def wait_for_run(page: Page) -> None:
    """A script run finished since the last wait (or since the page was loaded); the app is then
    connected, idle, without skeletons."""
    load, seen = _seen.get(page, ("", 0))
    page.wait_for_function("([load, n]) => window.__commlogLoad !== undefined && "
                           "window.__commlogRuns > (window.__commlogLoad === load ? n : 0)", arg=[load, seen])
    app = page.locator("[data-testid='stApp']")
    expect(app).to_have_attribute("data-test-connection-state", "CONNECTED")
    expect(app).to_have_attribute("data-test-script-state", "notRunning")
    expect(page.get_by_test_id("stSkeleton")).to_have_count(0)
    _seen[page] = tuple(page.evaluate("() => [window.__commlogLoad, window.__commlogRuns]"))


def sent_to_server(page: Page) -> int:
    """How many messages this page has sent the Streamlit server so far (RUN_COUNTER counts them)."""
    return page.evaluate("() => window.__commlogSent")


def last_rerun(page: Page) -> str | None:
    """What the page's last rerun request covered: 'app' (the whole page) or 'fragment' (one part)."""
    return page.evaluate("() => window.__commlogReruns.at(-1) ?? null")


def click_sent(page: Page, target: Locator, timeout_ms: float = 10_000) -> None:
    """Click `target`, a widget whose click asks the server for a run, and make sure the request left
    the browser. Now and then, after a long walk through dialogs, Chromium delivered the click and
    Streamlit's page sent nothing (no run, nothing in the server log): then it is clicked once more,
    as a person whose click did nothing would. A request that left the browser is never repeated."""
    before = sent_to_server(page)
    target.click()
    try:
        page.wait_for_function("(n) => window.__commlogSent > n", arg=before, timeout=timeout_ms)
    except PlaywrightTimeoutError:
        target.click()
        page.wait_for_function("(n) => window.__commlogSent > n", arg=before, timeout=timeout_ms)


def open_app(page: Page, url: str) -> None:
    page.goto(url)
    page.locator("[data-testid='stAppViewContainer']").wait_for()
    wait_for_run(page)


def login(page: Page, email: str, password: str) -> None:
    """Fill the login form of whatever page is open; wait until the signed-in page has run."""
    page.get_by_role("textbox", name="Email", exact=True).fill(email)
    page.get_by_role("textbox", name="Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    wait_for_run(page)
    expect(page.get_by_role("button", name="Sign in")).to_have_count(0)
    expect(menu(page)).to_contain_text(email)


def menu(page: Page) -> Locator:
    """The bar across the top: the pages, and who is signed in (commlog.ui.menu)."""
    return page.locator(".st-key-menu")


def sign_out(page: Page) -> None:
    """Open the signed-in user's menu and click Sign out (the caller waits for what follows)."""
    menu(page).get_by_test_id("stPopoverButton").filter(visible=True).click()  # Streamlit keeps a hidden copy for measuring
    page.get_by_test_id("stPopoverBody").get_by_role("button", name="Sign out").click()


def data_tables(page: Page) -> Locator:
    """The tables a person can see. The sign-in form draws one hidden, empty table so the browser
    loads the grid while the person types (commlog.ui.warm_up)."""
    return page.locator("[data-testid='stDataFrame']:visible")


def main_text(page: Page) -> str:
    return page.get_by_test_id("stMain").inner_text()


def expect_no_error(page: Page) -> None:
    """Neither Streamlit's own error box nor the error boundary's message is on the page."""
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_test_id("stMain")).not_to_contain_text("Something went wrong showing this view")
    expect(page.get_by_test_id("stMain")).not_to_contain_text("Ask Google")


def selectbox(page: Page, label: str) -> Locator:
    return page.get_by_test_id("stSelectbox").filter(
        has=page.get_by_test_id("stWidgetLabel").filter(has_text=re.compile(rf"^\s*{re.escape(label)}\s*$"))
    )


def choose(page: Page, label: str, option: str) -> None:
    """Open the selectbox labelled `label` and pick the option whose text contains `option`."""
    combobox = selectbox(page, label).get_by_role("combobox")
    if option in (combobox.input_value() or ""):
        return  # already chosen: picking it again runs nothing
    combobox.scroll_into_view_if_needed()
    combobox.click()
    choice = page.get_by_role("option").filter(has_text=option).first
    expect(choice).to_be_visible()
    choice.click()
    wait_for_run(page)


def expect_selected(page: Page, label: str, text: str) -> None:
    """The selectbox shows `text` as its value (the combobox input holds the selected label)."""
    expect(selectbox(page, label).get_by_role("combobox")).to_have_value(re.compile(re.escape(text)))


def type_and_enter(page: Page, label: str, text: str) -> None:
    box = page.get_by_role("textbox", name=label, exact=True)
    box.fill(text)
    box.press("Enter")
    wait_for_run(page)


def click_row(page: Page, row: int, grid: int = 0) -> None:
    """Tick a row's selection checkbox in st.dataframe's canvas grid (the row-marker column)."""
    df = page.get_by_test_id("stDataFrame").nth(grid)
    df.scroll_into_view_if_needed()
    df.click(position={"x": 16, "y": ROW_HEIGHT + row * ROW_HEIGHT + ROW_HEIGHT // 2})
    wait_for_run(page)


def open_row(page: Page, row: int, grid: int = 0) -> None:
    """Press a row's Open button in a grid of emails (the pinned column after the ticks): its email
    opens in a dialog."""
    df = page.get_by_test_id("stDataFrame").nth(grid)
    df.scroll_into_view_if_needed()
    df.click(position={"x": OPEN_X, "y": ROW_HEIGHT + row * ROW_HEIGHT + ROW_HEIGHT // 2})
    wait_for_run(page)


def pick_borrower(page: Page, typed: str, name: str) -> None:
    """Type in "Find a borrower" and click the borrower among the best matches listed under it."""
    page.get_by_role("textbox", name="Find a borrower (name or email)").fill(typed)
    wait_for_run(page)
    page.locator(".st-key-log_matches").get_by_role("button", name=name).first.click()
    wait_for_run(page)


def dialog(page: Page) -> Locator:
    """The open dialog (the ticked email, or the bulk check of several)."""
    return page.get_by_role("dialog")


def close_dialog(page: Page) -> None:
    """Close the open dialog as a person would (Escape); closing it runs the script once."""
    expect(dialog(page)).to_be_visible()
    page.keyboard.press("Escape")
    wait_for_run(page)
    expect(dialog(page)).to_have_count(0)


def grid_rows(page: Page, grid: int = 0, ticked: int | None = None) -> list[dict[str, str | bool]]:
    """The rows of an st.dataframe as its accessible table reads them (the rows drawn so far): each
    a dict of column -> text, and "ticked" (the row is selected). With `ticked`, first waits until
    that many rows read as ticked: glide marks a row of its table selected a frame or two after the
    canvas shows the tick (about 85 ms in Chromium 156), so a read right after a run may miss it."""
    df = page.get_by_test_id("stDataFrame").nth(grid)
    expect(df.locator("[role=row]").nth(1)).to_be_attached()  # glide draws its table after the canvas
    if ticked is not None:
        expect(df.locator("[role=row][aria-selected=true]")).to_have_count(ticked)
    return df.evaluate(
        """d => {
            const rows = Array.from(d.querySelectorAll('[role=row]'));
            const head = Array.from(rows[0].querySelectorAll('[role=columnheader]')).map(c => c.innerText.trim());
            return rows.slice(1).map(r => Object.assign(
                Object.fromEntries(Array.from(r.querySelectorAll('[role=gridcell]')).map((c, i) => [head[i], c.innerText.trim()])),
                {ticked: r.getAttribute('aria-selected') === 'true'}));
        }"""
    )


def url_params(page: Page) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(page.url).query))


def screenshot(page: Page, name: str, widths: tuple[int, ...] = WIDTHS) -> list[Path]:
    """Full-page screenshots `<name>.png` (1440 px) and `<name>-800.png` into COMMLOG_SCREENSHOTS_DIR,
    when set (`bin/screenshots`); nothing otherwise. Streamlit scrolls inside its main container,
    not the document, so the viewport is stretched to the content for each shot."""
    if not SHOTS:
        return []
    folder = Path(SHOTS) if Path(SHOTS).is_absolute() else ROOT / SHOTS
    folder.mkdir(parents=True, exist_ok=True)
    original = page.viewport_size
    page.mouse.move(2, 2)  # no hover tooltip in the picture
    paths = []
    for width in widths:
        page.set_viewport_size({"width": width, "height": original["height"]})
        _settle(page)
        height = page.evaluate(
            """() => {
                const m = document.querySelector('[data-testid="stMain"]');
                const s = document.querySelector('[data-testid="stSidebarContent"]');
                return Math.max(m ? m.scrollHeight : 0, s ? s.scrollHeight : 0, document.body.scrollHeight);
            }"""
        )
        page.set_viewport_size({"width": width, "height": max(original["height"], min(int(height), 6000))})
        _settle(page)
        path = folder / (f"{name}.png" if width == widths[0] else f"{name}-{width}.png")
        page.screenshot(path=str(path), full_page=True)
        paths.append(path)
    page.set_viewport_size(original)
    _settle(page)
    return paths


def _settle(page: Page) -> None:
    """Let the page lay itself out again after a resize: two animation frames, then the grid and
    charts idle."""
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    expect(page.get_by_test_id("stSkeleton")).to_have_count(0)


def borrower_log(db_url: str, account_id: int, limit: int = 10) -> list[dict]:
    """The newest messages of a borrower's log, in the log page's default order (newest first); the
    subject as the log shows it (decoded when the mailer stored it MIME-encoded)."""
    with sqlite3.connect(db_url.removeprefix("sqlite:///")) as c:
        c.row_factory = sqlite3.Row
        return [dict(r) for r in c.execute(
            "SELECT id, COALESCE(subject_text, subject) AS subject, recipient_email, send_status, delivery_status "
            "FROM message WHERE log_account_id = ? "
            "ORDER BY sent_at DESC, id DESC LIMIT ?", (account_id, limit),
        )]

"""Browser end-to-end fixtures: a seeded demo database, a real `streamlit run` server, chromium.

* `demo` (session): a temporary SQLite database filled by the CLI exactly as a user would
  (`python -m commlog --database-url URL seed-demo ...`); the demo logins are read from its output.
* `server` (module): a fresh `python -m streamlit run app.py` subprocess per test module, on a free
  loopback port, with that database and the sandbox provider; ready when `GET /_stcore/health`
  answers `ok`; stopped (its process group) when the module ends. Fresh per module because the
  direct-URL test needs a server that no session has run `app.py` on yet (legacy `pages/` mode).
* `browser` (session) / `page` (test): Debian's chromium via Playwright's Python package, a new
  context per test (1400x900, viewer time zone Europe/Berlin). Without playwright or
  /usr/bin/chromium every e2e test skips with the reason.

Readiness follows Streamlit's own e2e suite (`wait_for_run`): the app is connected, the script is
not running and no skeleton is left. Every flow saves a full-page screenshot to docs/screenshots/.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

try:  # the tests import `expect` from here, so a missing package skips instead of failing collection
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - depends on the machine
    expect = None

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = os.environ.get("COMMLOG_E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"]
VIEWPORT = {"width": 1400, "height": 900}
VIEWER_TZ = "Europe/Berlin"
TIMEOUT_MS = 20_000
SEED_ARGS = ["--lenders", "4", "--borrowers", "2000", "--messages", "20000", "--days", "30", "--seed", "7"]


def _skip_reason() -> str | None:
    if expect is None:
        return "browser tests need the `playwright` Python package (pip install playwright)"
    if not os.access(CHROMIUM, os.X_OK):
        return (f"browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium; "
                "`playwright install` cannot download browsers here)")
    return None


def pytest_collection_modifyitems(config, items):  # noqa: ANN001, ARG001
    reason = _skip_reason()
    if reason is None:
        return
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.skip(reason=reason))


# --- the demo database ------------------------------------------------------------------------------


@dataclass
class Borrower:
    id: int
    name: str
    email: str

    @property
    def search(self) -> str:
        """What a user types in "Find a borrower": part of the email."""
        return self.email.split("@")[0]


@dataclass
class Demo:
    url: str
    password: str
    logins: dict[str, tuple[str, str | None]]  # email -> (role, lender slug)
    admin: str  # a lender admin of the busiest lender
    ops: str
    lender_id: int
    lender_name: str
    other_lender_names: list[str]
    borrower: Borrower
    env: dict[str, str] = field(default_factory=dict)


def _clean_env() -> dict[str, str]:
    """This machine's environment without anything that would point the app elsewhere."""
    drop = ("COMMLOG_", "SENDGRID_", "POSTMARK_", "STREAMLIT_")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


_LOGIN_LINE = re.compile(r"^\s+(\S+@\S+)\s+(ops|lender_admin)\s+(\S.*?)\s*$")


def _parse_logins(out: str) -> tuple[str, dict[str, tuple[str, str | None]]]:
    password = re.search(r"password '([^']+)'", out)
    logins = {}
    for line in out.splitlines():
        m = _LOGIN_LINE.match(line)
        if m:
            logins[m.group(1)] = (m.group(2), None if m.group(3) == "all lenders" else m.group(3))
    if not password or not logins:
        pytest.fail(f"seed-demo printed no demo logins:\n{out[-2000:]}")
    return password.group(1), logins


@pytest.fixture(scope="session")
def demo(tmp_path_factory) -> Demo:
    if _skip_reason():
        pytest.skip(_skip_reason())
    tmp = tmp_path_factory.mktemp("e2e")
    db = tmp / "e2e.sqlite3"
    url = f"sqlite:///{db}"
    env = _clean_env()
    env.update(COMMLOG_DATABASE_URL=url, COMMLOG_PROVIDER="sandbox", PYTHONUNBUFFERED="1")
    run = subprocess.run(
        [sys.executable, "-m", "commlog", "--database-url", url, "seed-demo", *SEED_ARGS, "--no-progress"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    if run.returncode != 0:
        pytest.fail(f"seed-demo failed ({run.returncode}):\n{run.stdout[-2000:]}\n{run.stderr[-3000:]}")
    password, logins = _parse_logins(run.stdout)
    ops = next(e for e, (role, _) in logins.items() if role == "ops")

    with sqlite3.connect(db) as c:
        lenders = {slug: (lid, name) for lid, slug, name in c.execute("SELECT id, slug, name FROM lender")}
        since = (datetime.now(timezone.utc) - timedelta(days=25)).strftime("%Y-%m-%d %H:%M:%S")
        # The busiest lender that has a demo admin.
        volume = dict(c.execute("SELECT lender_id, count(*) FROM message WHERE sent_at >= ? GROUP BY lender_id", (since,)))
        admins = {slug: e for e, (role, slug) in logins.items() if role == "lender_admin" and slug in lenders}
        slug = max(admins, key=lambda s: volume.get(lenders[s][0], 0))
        lender_id, lender_name = lenders[slug]
        # A borrower of that lender with a busy log of their own (recent, so the default 30 days show it).
        rows = c.execute(
            "SELECT a.id, a.name, a.email, count(*) AS n FROM message m JOIN account a ON a.id = m.log_account_id "
            "WHERE m.lender_id = ? AND a.kind = 'borrower' AND m.sent_at >= ? GROUP BY a.id ORDER BY n DESC, a.id LIMIT 50",
            (lender_id, since),
        ).fetchall()
        b = next((r for r in rows if r[1].isascii() and r[3] >= 12 and _has_unchecked_on_top(c, r[0])), None)
    if b is None:
        pytest.fail(f"the demo data has no borrower of {lender_name} with a busy log of their own")
    return Demo(
        url=url, password=password, logins=logins, admin=admins[slug], ops=ops, lender_id=lender_id,
        lender_name=lender_name, other_lender_names=[n for s, (_, n) in lenders.items() if s != slug],
        borrower=Borrower(b[0], b[1], b[2]), env=env,
    )


def borrower_log(db_url: str, account_id: int, limit: int = 10) -> list[dict]:
    """The newest messages of a borrower's log, in the log page's default order (newest first)."""
    with sqlite3.connect(db_url.removeprefix("sqlite:///")) as c:
        c.row_factory = sqlite3.Row
        return [dict(r) for r in c.execute(
            "SELECT id, subject, recipient_email, send_status, delivery_status FROM message WHERE log_account_id = ? "
            "ORDER BY sent_at DESC, id DESC LIMIT ?", (account_id, limit),
        )]


def _has_unchecked_on_top(c: sqlite3.Connection, account_id: int) -> bool:
    """Among the 8 rows the grid shows first: a sent, never checked email (for Check delivery status)."""
    rows = c.execute("SELECT send_status, delivery_status FROM message WHERE log_account_id = ? "
                     "ORDER BY sent_at DESC, id DESC LIMIT 8", (account_id,)).fetchall()
    return any(s == "sent" and d is None for s, d in rows)


# --- the Streamlit server ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StreamlitServer:
    """`python -m streamlit run app.py` on a free loopback port, in its own process group."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> StreamlitServer:
        cmd = [
            sys.executable, "-m", "streamlit", "run", "app.py",
            "--server.headless", "true", "--server.port", str(self.port), "--server.address", "127.0.0.1",
            "--global.developmentMode", "false", "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none",
        ]  # fmt: skip
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.base_url + "/_stcore/health", timeout=2) as r:
                    if r.read().decode().strip() == "ok":
                        return self
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"streamlit did not answer /_stcore/health within {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)  # our own process group only
                self.proc.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=5)
        if getattr(self, "_log", None):
            self._log.close()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, n: int = 3000) -> str:
        return self.log_text()[-n:]

    def url(self, path: str = "/") -> str:
        return self.base_url + path


@pytest.fixture(scope="module")
def server(demo, tmp_path_factory, request):
    """A freshly started server for this test module (no session has run app.py on it yet)."""
    log_path = tmp_path_factory.mktemp("server") / f"{request.module.__name__.rsplit('.', 1)[-1]}.log"
    srv = StreamlitServer(demo.env, log_path).start()
    yield srv
    srv.stop()
    if "Traceback (most recent call last)" in srv.log_text():
        warnings.warn(f"the streamlit server logged a traceback during {request.module.__name__}:\n{srv.log_tail()}",
                      stacklevel=1)


@pytest.fixture(scope="module")
def navigation_mode(server, browser):
    """Run app.py once, as a user opening the address the README gives, so this module's server
    leaves Streamlit's legacy pages/ mode (test_direct_urls covers that mode)."""
    ctx = browser.new_context()
    try:
        open_app(ctx.new_page(), server.url("/"))
    finally:
        ctx.close()


# --- the browser -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser():
    if _skip_reason():
        pytest.skip(_skip_reason())
    from playwright.sync_api import sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):  # noqa: ANN001, ARG001
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


FAILURES = ROOT / ".pytest_cache" / "e2e-failures"


@pytest.fixture
def context(browser, request):
    ctx = browser.new_context(viewport=VIEWPORT, timezone_id=VIEWER_TZ, locale="en-US", accept_downloads=True)
    ctx.set_default_timeout(TIMEOUT_MS)
    yield ctx
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:  # keep what the browser showed, for the report
        FAILURES.mkdir(parents=True, exist_ok=True)
        for i, pg in enumerate(ctx.pages):
            stem = FAILURES / f"{request.node.name}-{i}"
            try:
                pg.screenshot(path=f"{stem}.png", full_page=True)
                stem.with_suffix(".txt").write_text(f"{pg.url}\n\n{pg.inner_text('body')}")
            except Exception:  # noqa: BLE001 - best effort only
                pass
        rep.sections.append(("e2e", f"browser state saved under {FAILURES}"))
    ctx.close()


@pytest.fixture
def page(context):
    return context.new_page()


# --- helpers the tests share ---------------------------------------------------------------------------


def wait_for_run(page) -> None:  # noqa: ANN001
    """Streamlit's e2e readiness: connected, script finished, no skeleton left."""
    page.wait_for_timeout(210)  # widget debounce
    page.locator("[data-testid='stApp'][data-test-connection-state='CONNECTED']").wait_for(state="attached")
    page.locator("[data-testid='stApp'][data-test-script-state='notRunning']").wait_for(state="attached")
    expect(page.get_by_test_id("stSkeleton")).to_have_count(0)


def open_app(page, url: str) -> None:  # noqa: ANN001
    page.goto(url)
    page.locator("[data-testid='stAppViewContainer']").wait_for()
    wait_for_run(page)


def login(page, email: str, password: str) -> None:  # noqa: ANN001
    """Fill the login form of whatever page is open; wait until the signed-in page has run."""
    page.get_by_role("textbox", name="Email", exact=True).fill(email)
    page.get_by_role("textbox", name="Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign in")).to_have_count(0)
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    wait_for_run(page)  # the login reruns the script: wait for the signed-in run to finish


def main_text(page) -> str:  # noqa: ANN001
    return page.get_by_test_id("stMain").inner_text()


def selectbox(page, label: str):  # noqa: ANN001, ANN201
    return page.get_by_test_id("stSelectbox").filter(
        has=page.get_by_test_id("stWidgetLabel").filter(has_text=re.compile(rf"^\s*{re.escape(label)}\s*$"))
    )


def choose(page, label: str, option: str) -> None:  # noqa: ANN001
    """Open the selectbox labelled `label` and pick the option whose text contains `option`."""
    selectbox(page, label).click()
    page.get_by_role("option").filter(has_text=option).first.click()
    wait_for_run(page)


def expect_selected(page, label: str, text: str) -> None:  # noqa: ANN001
    """The selectbox shows `text` as its value (the combobox input holds the selected label)."""
    expect(selectbox(page, label).get_by_role("combobox")).to_have_value(re.compile(re.escape(text)))


ROW_HEIGHT = 35  # st.dataframe's default row and header height (px)


def click_row(page, row: int, grid: int = 0) -> None:  # noqa: ANN001
    """Tick a row's selection checkbox in st.dataframe's canvas grid (the row-marker column)."""
    df = page.get_by_test_id("stDataFrame").nth(grid)
    df.scroll_into_view_if_needed()
    df.click(position={"x": 16, "y": ROW_HEIGHT + row * ROW_HEIGHT + ROW_HEIGHT // 2})
    wait_for_run(page)


def url_params(page) -> dict[str, str]:  # noqa: ANN001
    from urllib.parse import parse_qsl, urlsplit

    return dict(parse_qsl(urlsplit(page.url).query))


def screenshot(page, name: str) -> Path:  # noqa: ANN001
    """A full-page screenshot into docs/screenshots/<name>.png. Streamlit scrolls inside its main
    container, not the document, so the viewport is stretched to the content for the shot."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    height = page.evaluate(
        """() => {
            const m = document.querySelector('[data-testid="stMain"]');
            const s = document.querySelector('[data-testid="stSidebarContent"]');
            return Math.max(m ? m.scrollHeight : 0, s ? s.scrollHeight : 0, document.body.scrollHeight);
        }"""
    )
    page.mouse.move(2, 2)  # no hover tooltip in the picture
    page.set_viewport_size({"width": VIEWPORT["width"], "height": max(VIEWPORT["height"], min(int(height), 6000))})
    page.wait_for_timeout(500)  # charts and the grid re-layout to the new size
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(VIEWPORT)
    page.wait_for_timeout(200)
    return path

"""Browser end-to-end fixtures: a seeded demo database, a real `streamlit run` server, chromium.

* `demo` (session): a temporary SQLite database filled by the CLI exactly as a user would
  (`python -m commlog --database-url URL seed-demo ...`); the demo logins are read from its output.
* `server` (module): a fresh `python -m streamlit run launcher.py` subprocess per test module (what
  bin/start-demo serves), on a free loopback port, with that database and the sandbox provider;
  ready when `GET /_stcore/health` answers `ok`; stopped (its process group) when the module ends.
  Fresh per module because the direct-URL test needs a server that no session has run `app.py` on
  yet (legacy `pages/` mode).
* `browser` / `context` / `page`: Debian's chromium via Playwright's Python package, one per test
  process, stopped after its last browser test; one context per module (1440x900, viewer time zone
  Europe/Berlin) that counts finished script runs (`tests.e2e.support`), handed to each test
  without cookies or open pages (its HTTP cache kept); `fresh_context` for a test that changes the
  context itself. Without /usr/bin/chromium every e2e test skips with the reason.

What tests do and how they wait lives in `tests.e2e.support`; this module only provides fixtures.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from commlog.bench.browser_probe import RUN_COUNTER
from tests.e2e.servers import StreamlitServer, clean_env, parse_logins
from tests.e2e.support import VIEWER_TZ

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("COMMLOG_E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"]
VIEWPORT = {"width": 1440, "height": 900}
TIMEOUT_MS = 20_000
SEED_ARGS = ["--lenders", "4", "--borrowers", "2000", "--messages", "20000", "--days", "30", "--seed", "7"]


def _skip_reason() -> str | None:
    if not os.access(CHROMIUM, os.X_OK):
        return (f"browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium; "
                "`playwright install` cannot download browsers here)")
    return None


def pytest_collection_modifyitems(config, items):
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


@pytest.fixture(scope="session")
def demo(tmp_path_factory) -> Demo:
    if _skip_reason():
        pytest.skip(_skip_reason())
    tmp = tmp_path_factory.mktemp("e2e")
    db = tmp / "e2e.sqlite3"
    url = f"sqlite:///{db}"
    env = clean_env()
    # The sandbox answers in 5-25 ms here, not the demo's 80-300, and its account's budget starts at
    # 6,000 requests a minute, not 600 (its occasional 429 stays): the browser tests walk the same
    # screens (progress bars count, results land), and an episode's ~100 removals one after another
    # take seconds of the CI budget instead of half a minute.
    env.update(COMMLOG_DATABASE_URL=url, COMMLOG_PROVIDER="sandbox", PYTHONUNBUFFERED="1",
               COMMLOG_SANDBOX_LATENCY_MS="5-25", COMMLOG_SENDGRID_RATE_PER_MIN="6000")
    run = subprocess.run(
        [sys.executable, "-m", "commlog", "--database-url", url, "seed-demo", *SEED_ARGS, "--no-progress"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    if run.returncode != 0:
        pytest.fail(f"seed-demo failed ({run.returncode}):\n{run.stdout[-2000:]}\n{run.stderr[-3000:]}")
    password, logins = parse_logins(run.stdout)
    ops = next(e for e, (role, _) in logins.items() if role == "ops")

    with sqlite3.connect(db) as c:
        lenders = {slug: (lid, name) for lid, slug, name in c.execute("SELECT id, slug, name FROM lender")}
        since = (datetime.now(UTC) - timedelta(days=25)).strftime("%Y-%m-%d %H:%M:%S")
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


def _has_unchecked_on_top(c: sqlite3.Connection, account_id: int) -> bool:
    """Among the 8 rows the grid shows first: a sent, never checked email (for Check delivery status)."""
    rows = c.execute("SELECT send_status, delivery_status FROM message WHERE log_account_id = ? "
                     "ORDER BY sent_at DESC, id DESC LIMIT 8", (account_id,)).fetchall()
    return any(s == "sent" and d is None for s, d in rows)


# --- the Streamlit server ------------------------------------------------------------------------------


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
def navigation_mode(server):
    """Run app.py once, as a user opening the address the README gives, so this module's server
    leaves Streamlit's legacy pages/ mode (test_direct_urls covers that mode). Over the app's
    WebSocket without a browser (tests.e2e.servers): a Chromium page load costs seconds of CPU."""
    server.run_app_once()


# --- the browser -----------------------------------------------------------------------------------


_chromium: dict = {}  # this process's Playwright and Chromium, while its browser tests run


@pytest.fixture(scope="module")
def browser():
    """One Chromium for all of this process's browser tests, started by the first. The browser
    tests run first in each process (tests/conftest.py), and Chromium and Playwright stop after the
    last of them (`pytest_runtest_teardown` below): Playwright's sync API keeps an asyncio loop
    running in the thread, where the later tests' own (Starlette's TestClient) could not start."""
    if _skip_reason():
        pytest.skip(_skip_reason())
    if "browser" not in _chromium:
        from playwright.sync_api import sync_playwright

        expect.set_options(timeout=TIMEOUT_MS)
        _chromium["playwright"] = sync_playwright().start()
        _chromium["browser"] = _chromium["playwright"].chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    return _chromium["browser"]


def _stop_chromium() -> None:
    if "browser" in _chromium:
        _chromium.pop("browser").close()
        _chromium.pop("playwright").stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    yield  # the test's fixtures, its module's too when it was the module's last, are torn down
    here = Path(__file__).parent
    if nextitem is None or here not in Path(str(nextitem.path)).parents:
        _stop_chromium()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


FAILURES = ROOT / ".pytest_cache" / "e2e-failures"


def _new_context(browser):
    ctx = browser.new_context(viewport=VIEWPORT, timezone_id=VIEWER_TZ, locale="en-US", accept_downloads=True)
    ctx.set_default_timeout(TIMEOUT_MS)
    ctx.add_init_script(RUN_COUNTER)  # tests.e2e.support.wait_for_run counts finished script runs
    return ctx


def _keep_what_a_failed_test_showed(ctx, request) -> None:
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


@pytest.fixture(scope="module")
def module_context(browser):
    """One browser context for a module's tests: its HTTP cache keeps the server's scripts and
    styles (and Chromium the code compiled from them) from one test to the next, as a person's
    browser would, instead of fetching and compiling Streamlit's code again for every test."""
    ctx = _new_context(browser)
    yield ctx
    ctx.close()


@pytest.fixture
def context(module_context, request):
    """The module's context as a new visitor finds it: no cookies (so no session, no download
    cookie), no pages open. Its own pages are closed after the test. A test that changes the context
    itself (extra headers, bindings, init scripts) takes `fresh_context` instead."""
    module_context.clear_cookies()
    yield module_context
    _keep_what_a_failed_test_showed(module_context, request)
    for pg in module_context.pages:
        pg.close()


@pytest.fixture
def fresh_context(browser, request):
    """A context of this test's own, closed after it."""
    ctx = _new_context(browser)
    yield ctx
    _keep_what_a_failed_test_showed(ctx, request)
    ctx.close()


@pytest.fixture
def page(context):
    return context.new_page()

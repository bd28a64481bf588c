"""What a person feels: Chromium through haproxy in front of two app replicas (commlog.cluster) on
the bench's PostgreSQL database, with 1, 4 and 8 sessions at once.

Each interaction is timed from the click (or the typing) to the end of the script run it caused,
as Streamlit's own `script_finished` message reports it (commlog.bench.browser_probe), plus two
animation frames for the browser to paint: first load after sign-in, a filter change, the next
page, opening a row, the borrower type-ahead, opening Deliverability (its health and findings tab),
switching its rate and opening another of its tabs, twice a round: the rate chart's tab, then
Breakdowns or Domains and reasons (only the open tab is drawn, so a tab is a run). Every round walks
the same view: all of the lender's logs (the menu's link back from Deliverability opens the lender's
own log, so the walk chooses the Account again, untimed). Beside
them, the **framework floor**, measured on the same servers in the same run with the same number of
sessions: a rerun of /floor, a page that only checks the login, draws the menu and one button
(COMMLOG_BENCH_FLOOR_PAGE=1). Targets: p95 ≤ 2× the floor's p95, first load ≤ 3×. Beside the floor
too, with no target, the framework's own cost of what that rerun does not do (commlog.ui.bench_pages:
no commlog code beyond the login): the sign-in to the floor page, a bare grid's row opening a bare
dialog, a link to a page of two bare Vega-Lite charts, the bare grid's next page. The table's last
column sets each interaction beside the framework's own cost of the same kind of click
(`FRAMEWORK_OWN`): the first load beside the bare sign-in, opening a row beside the bare dialog, the
log's next page and a filter change (new rows in the grid) beside the bare grid's next page,
opening Deliverability and its tabs beside the page of two charts, any other rerun beside the
floor. It is no target: it says how much of a click's time is commlog's, which the ratio to the
floor cannot where the framework alone is past the target (its bare sign-in past the first load's 3×).

Under the table, where each click's time goes (medians): until the page asks the server for the
rerun, until the page has taken in the server's word that the run finished, the browser's drawing
after it (`Click`; the page's own clock, from commlog.bench.browser_probe's stamps). The middle part
is the server's as the page saw it: the page takes in each message of the answer between its other
work, so a page busy drawing the first of the answer hears of the run's end later.

    python -m commlog --database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres \\
        bench --only browser --sizes 70000 --repeat 8

After each number of sessions, the processor time each part spent on this machine's cores: each
replica, PostgreSQL, haproxy, and Chromium (every process of it, its pages' included: what the
sessions' drawing cost). A person's browser runs on their own device; here every session's browser
shares the two cores with the servers and with the other sessions' browsers, and at 4 and 8
sessions Chromium takes most of the machine (2026-12-05, 1M messages: 82–86 %, the replicas 6–8 %).
`--browsers-at-lowest-priority` starts Chromium in Linux's idle scheduling class, so the servers
take the cores first and the browsers what is left: the servers' part of each click is then what
that many people's sessions cost them; the browsers still share the rest among themselves.

Needs PostgreSQL, Debian's chromium and haproxy (bin/start-cluster installs it); skips otherwise.
`--repeat` is the rounds each session walks (each interaction once per round); after `--`,
`--sessions 1,4,8` sets the concurrent sessions (default 1, 4 and 8), `--rounds N` the rounds
when another bench of the same run (`--only log,browser`, one seeded database per size) wants
`--repeat` for itself, and `--browsers-at-lowest-priority` the browsers' class (above).

A p95 is a percentile only with enough clicks: with fewer than 20 the nearest rank is the slowest
one (commlog.bench.stats.percentile), so one session walking 6 rounds gave each cell the slowest of
6 clicks, a single click's luck. So each session walks at least enough rounds that every cell
has `--min-samples` clicks (default 20; `rounds_per_session`): one session walks 20 rounds where
4 and 8 sessions walk 6. The first load is a sign-in, once per walk: after its walk each session
signs in again, each time in a new page (a new session), until the first load has as many samples
(one session signs in 20 times, each of 4 sessions 5 times, each of 8 sessions 3 times), and the
framework's own sign-in to the floor page as often. The table prints each cell's slowest click
beside its p95.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shlex
import shutil
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from playwright.async_api import TimeoutError as PlaywrightTimeout
from sqlalchemy import text

from commlog.bench import BenchContext, register
from commlog.bench.browser_probe import RUN_COUNTER
from commlog.bench.stats import Timing
from commlog.cpu_time import Meter, NamedWatch, Spent, database_and_proxy

CHROMIUM = os.environ.get("COMMLOG_E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"]
SESSIONS = (1, 4, 8)
FLOOR = "floor: a trivial page's rerun"
FIRST_LOAD = "first load after sign-in"
# The framework's own cost of what a rerun of one button does not do (commlog.ui.bench_pages): printed
# beside the floor, measured the same way, no target of their own.
FRAMEWORK = ("framework: sign-in to the floor page", "framework: a grid's Open button opening a dialog",
             "framework: opening a page of two charts", "framework: a grid's next page")
INTERACTIONS = (FIRST_LOAD, "filter change (Delivery status)", "next page", "open a row (the email's dialog)",
                "type-ahead (Find a borrower)", "open Deliverability", "Deliverability: switch the rate",
                "Deliverability: open another tab")
# What the framework alone costs for what each interaction does (the floor: a rerun), the measure beside
# the issue's own (÷ the floor): a sign-in, a grid's row opening a dialog, a link to a page of charts,
# a grid's next page (the log's page turn, and a filter's new rows). The framework's own sign-in took
# 2.7–11.5× the floor (2026-12-05), past the first load's 3× before any of commlog's code runs; its page
# of two charts 1.5–3.5×, past 2× for a page opened by its link.
FRAMEWORK_OWN = {FIRST_LOAD: FRAMEWORK[0], INTERACTIONS[1]: FRAMEWORK[3], INTERACTIONS[2]: FRAMEWORK[3],
                 INTERACTIONS[3]: FRAMEWORK[1], INTERACTIONS[5]: FRAMEWORK[2], INTERACTIONS[7]: FRAMEWORK[2]}
IDLE = "() => document.querySelector(\"[data-testid='stApp']\")?.dataset.testScriptState === 'notRunning'"
# The sign-in page has drawn what it draws while a person types (commlog.ui.warm_up): the elements, and the
# fonts it asked for.
WARMED_UP = ("([key, ids, fonts]) => ids.every((id) => document.querySelector(`.st-key-${key} [data-testid='${id}']`)) "
             "&& document.querySelector(`.${fonts}`) !== null && document.fonts.status === 'loaded'")
# Two frames painted; then when the page asked for the rerun, heard the run finish, and now (ms), and how
# many messages it has received (commlog.bench.browser_probe).
PAINTED = ("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => "
           "r([window.__commlogRerunAt, window.__commlogFinishedAt, performance.now(), window.__commlogGot]))))")
TIMEOUT_MS = 120_000
OPEN_BUTTON = {"x": 33 + 36, "y": 35 + 17}  # the first row's Open button: past the tick column, mid-row


@dataclass(frozen=True)
class Click:
    """One timed interaction, in seconds: the whole, and its three parts: until the page asked the
    server for a rerun (Playwright's own checks before it clicks, the browser handling the click,
    the typing pause), until the page took in the server's word that the run had finished (the
    request's trip, the script run, its answer), and the drawing after (the browser drawing the last
    of the answer, the two frames it paints in). The parts are None when the page asked for no rerun
    (never seen: a click the bench times always causes one)."""

    seconds: float
    to_request: float | None = None
    server: float | None = None
    drawing: float | None = None
    messages: int | None = None  # the messages the server sent the page meanwhile: one per element drawn, and a few


PARTS = ("to the rerun's request", "the run and its answer", "the drawing after")
MESSAGES = "messages taken in"
MIN_SAMPLES = 20  # clicks per cell for a p95 that is a percentile, not the slowest click


def rounds_per_session(rounds: int, sessions: int, min_samples: int = MIN_SAMPLES) -> int:
    """The rounds each of `sessions` sessions walks: `rounds`, or more when that many sessions
    would not give each cell (one click per round and session) `min_samples` clicks."""
    return max(rounds, -(-min_samples // sessions))


def sign_ins_per_session(sessions: int, min_samples: int = MIN_SAMPLES) -> int:
    """How often each of `sessions` sessions signs in, so the first load has `min_samples` samples
    (at least once: its walk's own sign-in)."""
    return rounds_per_session(1, sessions, min_samples)


def where_the_time_goes(clicks: Sequence[Click]) -> tuple[int, int, int] | None:
    """The median of each part of the clicks that have their parts, in whole ms (None: none has).
    Medians of the parts need not add up to the median of the whole."""
    parted = [c for c in clicks if c.to_request is not None]
    if not parted:
        return None
    return tuple(round(1000 * statistics.median(getattr(c, part) for c in parted))
                 for part in ("to_request", "server", "drawing"))


def against_framework_own(name: str, p95_ms: dict[str, float]) -> tuple[float, str]:
    """An interaction's p95 ÷ the p95 of what the framework alone costs for the same kind of click
    (FRAMEWORK_OWN; the floor for a rerun), and that reference's short name."""
    own = FRAMEWORK_OWN.get(name, FLOOR)
    return p95_ms[name] / p95_ms[own], own.split(": ", 1)[1] if own != FLOOR else "the floor"


def messages_taken_in(clicks: Sequence[Click]) -> int | None:
    """The median count of messages the server sent the page per click (None: none counted). Each
    element a run draws is one message, which the server makes and sends and the page takes in."""
    counted = [c.messages for c in clicks if c.messages is not None]
    return round(statistics.median(counted)) if counted else None


async def _timed(page, action, ready=None) -> Click:
    """From `action` to the end of the script run it caused, `ready` met and the page painted."""
    before, started, got = await page.evaluate("() => { window.__commlogRerunAt = null; "
                                               "return [window.__commlogRuns, performance.now(), window.__commlogGot]; }")
    t0 = time.perf_counter()
    await action()
    await page.wait_for_function("(n) => window.__commlogRuns > n", arg=before, timeout=TIMEOUT_MS)
    if ready is not None:
        await ready.wait_for(state="visible", timeout=TIMEOUT_MS)
    await page.wait_for_function(IDLE, timeout=TIMEOUT_MS)
    asked, finished, painted, got_now = await page.evaluate(PAINTED)
    seconds = time.perf_counter() - t0
    if asked is None or finished is None or not started <= asked <= finished <= painted:
        return Click(seconds, messages=got_now - got)
    return Click(seconds, (asked - started) / 1000, (finished - asked) / 1000, (painted - finished) / 1000, got_now - got)


async def _page_turn(page):
    """The pagination's Next page button, or Previous page on the last page (Streamlit's pagination
    under a grid: the log's, or the bare grid's)."""
    pager = page.get_by_role("navigation", name="Pagination")
    forward = pager.get_by_role("button", name="Next page")
    return forward if await forward.is_enabled() else pager.get_by_role("button", name="Previous page")


async def _settled(page, action) -> None:
    """Do `action` (not timed) and wait for the run it causes."""
    await _timed(page, action)


def _floor_button(page):
    """The floor page's one button: drawn once a sign-in to /floor has run."""
    return page.get_by_role("button", name="Run again")


def _log_grid(page):
    """The log's grid: drawn once a sign-in to the log has run."""
    return page.get_by_test_id("stDataFrame").first


FLOOR_URL, LOG_URL = "/floor", "/log?account=all"  # every round walks all the lender's logs


async def _sign_in(page, url: str, email: str, password: str, ready) -> Click:
    """Open `url`, sign in, and time the click on Sign in to `ready` painted. The bench types in an
    instant, a person for seconds: it types once the sign-in page has drawn what it draws while the
    person types (the log's and Deliverability's elements, out of sight: commlog.ui.warm_up), so the
    time is the sign-in's and the page's, not the rest of the sign-in page still loading."""
    await page.goto(url)
    await page.get_by_role("button", name="Sign in").wait_for(timeout=TIMEOUT_MS)
    await page.wait_for_function(IDLE, timeout=TIMEOUT_MS)
    from commlog.ui import warm_up  # Streamlit's: only once a bench runs, not when the benches are listed

    await page.wait_for_function(WARMED_UP, arg=[warm_up.KEY, list(warm_up.DRAWN), warm_up.FONTS], timeout=TIMEOUT_MS)
    await page.get_by_role("textbox", name="Email", exact=True).fill(email)
    await page.get_by_role("textbox", name="Password", exact=True).fill(password)
    return await _timed(page, page.get_by_role("button", name="Sign in").click, ready)


async def _session(browser, base: str, login: tuple[str, str], typed: str, rounds: int,
                   first_loads: int = 1) -> dict[str, list[Click]]:
    """One person: the floor first (its own sign-in: a URL opens a new session), then the log walk;
    then `first_loads` - 1 more sign-ins to the log, each in a page of its own (a new session)."""
    email, password = login
    got: dict[str, list[Click]] = defaultdict(list)
    ctx = await browser.new_context(viewport={"width": 1440, "height": 900}, timezone_id="Europe/Berlin", locale="en-US")
    ctx.set_default_timeout(TIMEOUT_MS)
    await ctx.add_init_script(RUN_COUNTER)
    try:
        page = await ctx.new_page()
        again = _floor_button(page)
        got[FRAMEWORK[0]].append(await _sign_in(page, base + FLOOR_URL, email, password, again))
        for _ in range(rounds):
            got[FLOOR].append(await _timed(page, again.click))
        await page.close()
        await _framework_walk(await ctx.new_page(), base, login, rounds, got)

        page = await ctx.new_page()
        main = page.get_by_test_id("stMain")
        grid = _log_grid(page)
        got[FIRST_LOAD].append(await _sign_in(page, base + LOG_URL, email, password, grid))

        async def choose(label: str, value: str | re.Pattern) -> float:
            """Open the list of the select box `label` (the browser alone: not timed), then time the choice."""
            combobox = page.get_by_test_id("stSelectbox").filter(has_text=label).first.get_by_role("combobox")
            option = page.get_by_role("option", name=value, exact=isinstance(value, str))
            for _ in range(5):  # a click on a list that has just been redrawn may only focus it
                await combobox.click()
                try:
                    await option.wait_for(state="visible", timeout=3_000)
                    break
                except PlaywrightTimeout:
                    pass
                await combobox.press("ArrowDown")  # focused but shut (seen at 8 sessions): the key opens it
                try:
                    await option.wait_for(state="visible", timeout=3_000)
                    break
                except PlaywrightTimeout:
                    await page.keyboard.press("Escape")
            return await _timed(page, option.click, grid)

        for r in range(rounds):
            step = await _page_turn(page)  # every log, any delivery status: many pages
            got[INTERACTIONS[2]].append(await _timed(page, step.click, grid))
            got[INTERACTIONS[1]].append(await choose("Delivery status", "NOT_DELIVERED"))

            await grid.scroll_into_view_if_needed()
            got[INTERACTIONS[3]].append(await _timed(page, lambda: grid.click(position=OPEN_BUTTON),
                                                     page.get_by_role("dialog")))
            await _settled(page, lambda: page.keyboard.press("Escape"))

            finder = page.get_by_role("textbox", name="Find a borrower (name or email)")
            matches = page.locator(".st-key-log_matches")
            got[INTERACTIONS[4]].append(await _timed(page, lambda: finder.fill(typed), matches))
            await _settled(page, lambda: finder.fill(""))
            got[INTERACTIONS[1]].append(await choose("Delivery status", "Any"))

            got[INTERACTIONS[5]].append(await _timed(
                page, main.get_by_role("link", name="Deliverability").first.click,
                page.get_by_role("heading", name="Deliverability")))
            # Health and findings open first; every tab the walk opens is timed: the rate chart's, then another
            got[INTERACTIONS[7]].append(await _timed(page, page.get_by_role("tab", name="Rates over time").click,
                                                     main.get_by_text("Click a point to open that period in the log")))
            rate = main.get_by_text("Block" if r % 2 == 0 else "Bounce", exact=True).first  # the Rate control's option
            got[INTERACTIONS[6]].append(await _timed(page, rate.click))
            tab = page.get_by_role("tab", name="Breakdowns" if r % 2 == 0 else "Domains and reasons")
            drawn = main.get_by_text("By email type" if r % 2 == 0 else "Why messages failed: SMTP reason classes")
            got[INTERACTIONS[7]].append(await _timed(page, tab.click, drawn))  # only the open tab is drawn: a run
            await _settled(page, page.get_by_role("tab", name="Health and findings").click)
            await _settled(page, main.get_by_role("link", name="Communication Log").first.click)
            await grid.wait_for(state="visible")
            # The menu's link opens the lender's own log: every round walks all the lender's logs, as the first
            await choose("Account", re.compile(r"^All of .*'s logs"))
        for _ in range(first_loads - 1):  # the sign-ins again (the floor page's and the log's), each a new session
            for name, url, drawn in ((FRAMEWORK[0], FLOOR_URL, _floor_button), (FIRST_LOAD, LOG_URL, _log_grid)):
                signing_in = await ctx.new_page()
                got[name].append(await _sign_in(signing_in, base + url, email, password, drawn(signing_in)))
                await signing_in.close()
    except Exception:
        for i, pg in enumerate(ctx.pages):  # what the browser showed, for the report
            shot = Path(tempfile.gettempdir()) / f"commlog-bench-browser-failure-{i}.png"
            await pg.screenshot(path=str(shot), full_page=True)
            print(f"  the page as it was: {shot} ({pg.url})", flush=True)
        raise
    finally:
        await ctx.close()
    return got


async def _framework_walk(page, base: str, login: tuple[str, str], rounds: int, got: dict[str, list[Click]]) -> None:
    """The framework's own cost (commlog.ui.bench_pages), in a page of its own (its own sign-in):
    each round turns the bare grid's page (forward, or back from its last), opens a row from its Open
    button (where the log's walk opens one) and opens the page of two charts from its link, then
    goes back (not timed)."""
    from commlog.ui.bench_pages import CHARTS_TITLE, GRID_TITLE  # Streamlit's: only once a bench runs

    grid = page.get_by_test_id("stDataFrame").first
    to_grid, to_charts = (page.get_by_role("link", name=title) for title in (GRID_TITLE, CHARTS_TITLE))
    await _sign_in(page, base + "/floor-grid", *login, grid)
    for _ in range(rounds):
        got[FRAMEWORK[3]].append(await _timed(page, (await _page_turn(page)).click, grid))
        await grid.scroll_into_view_if_needed()
        got[FRAMEWORK[1]].append(await _timed(page, lambda: grid.click(position=OPEN_BUTTON),
                                              page.get_by_role("dialog")))
        await _settled(page, lambda: page.keyboard.press("Escape"))
        got[FRAMEWORK[2]].append(await _timed(page, to_charts.click, page.get_by_role("heading", name=CHARTS_TITLE)))
        await _settled(page, to_grid.click)
        await grid.wait_for(state="visible")
    await page.close()


async def _warm(browser, replica_urls: list[str]) -> None:
    """Open each replica's `/` once, as a first visitor would: until app.py has run on a freshly
    started server, Streamlit serves only the pages/ files (and /floor is not one)."""
    ctx = await browser.new_context()
    await ctx.add_init_script(RUN_COUNTER)
    try:
        for url in replica_urls:
            page = await ctx.new_page()
            await page.goto(url + "/")
            await page.get_by_role("button", name="Sign in").wait_for(timeout=TIMEOUT_MS)
            await page.close()
    finally:
        await ctx.close()


def _lowest_priority(chromium: str, run_dir: Path) -> str:
    """A launcher of `chromium` in Linux's idle scheduling class (`chrt --idle`), which its page
    processes inherit: the browsers stand in for the people's own devices, so on this one machine
    they take only the processor time the servers leave. (Not `nice`: Chromium sets its processes'
    nice values itself, here -8 to 5.)"""
    script = run_dir / "chromium-at-lowest-priority"
    script.write_text(f'#!/bin/sh\nexec chrt --idle 0 {shlex.quote(chromium)} "$@"\n', encoding="utf-8")
    script.chmod(0o700)
    return str(script)


async def _drive(base: str, replica_urls: list[str], sessions: int, login: tuple[str, str], typed: str,
                 rounds: int, chromium: str = CHROMIUM, first_loads: int = 1) -> dict[str, list[Click]]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            await _warm(browser, replica_urls)
            walks = await asyncio.gather(*(_session(browser, base, login, typed, rounds, first_loads)
                                           for _ in range(sessions)))
        finally:
            await browser.close()
    merged: dict[str, list[Click]] = defaultdict(list)
    for walk in walks:
        for name, clicks in walk.items():
            merged[name] += clicks
    return merged


def _bench_login(engine) -> tuple[tuple[str, str], str, str]:
    """A lender admin of the busiest lender (the bench's seed has no users), and what to type in
    Find a borrower: the first letters of one of its borrowers' addresses."""
    from commlog.auth import add_user

    with engine.begin() as c:
        slug, lender_id = c.execute(text(
            "SELECT l.slug, l.id FROM lender l JOIN message m ON m.lender_id = l.id GROUP BY l.id, l.slug "
            "ORDER BY count(*) DESC LIMIT 1")).one()
        address = c.execute(text("SELECT email FROM account WHERE lender_id = :l AND kind = 'borrower' ORDER BY id LIMIT 1"),
                            {"l": lender_id}).scalar_one()
        email, password = f"bench-admin@{slug}.example", secrets.token_urlsafe(18)
        if not c.execute(text("SELECT 1 FROM app_user WHERE email = :e"), {"e": email}).first():
            add_user(c, email, "lender_admin", slug, password, datetime.now(UTC))
        else:
            raise RuntimeError(f"{email} already exists in the bench database")
    return (email, password), slug, address.split("@")[0][:4]


def _memory(cluster) -> str:
    """Each replica's resident memory now: with Streamlit's collection after every run turned off
    (.streamlit/config.toml, runner.postScriptGC), it shows that memory stays flat."""
    sizes = [(m.name, m.memory_mb()) for m in cluster.members]
    return "memory " + ", ".join(f"{name} {mb:,.0f} MB" if mb is not None else f"{name} unknown" for name, mb in sizes)


def _cpu_meter(cluster) -> Meter:
    """The processor time of the servers' parts of a walk: each replica, PostgreSQL, haproxy."""
    return Meter({m.name: m.cpu_seconds for m in cluster.members} | database_and_proxy(cluster))


def _spent(spent: Spent, chromium: float, seconds: float) -> str:
    """One line: each part's processor seconds, Chromium's (every session's drawing), and how busy
    the machine was."""
    line = "processor time " + ", ".join(f"{name} {s:.1f} s" if s is not None else f"{name} unknown"
                                         for name, s in spent.seconds.items())
    line += f", Chromium {chromium:.1f} s"
    if spent.busy is not None:
        line += f" (the machine {spent.busy:.0%} busy on its {spent.cores} cores for {seconds:.0f} s)"
    return line


@register("browser", "Chromium through haproxy and two replicas: each interaction's p50/p95 beside the framework floor")
def run(ctx: BenchContext) -> int:
    from commlog.cluster import Cluster
    from commlog.ui.log_controls import TYPEAHEAD_PAUSE  # Streamlit's: only once a bench runs

    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    missing = [what for what, ok in (("a PostgreSQL server (--database-url postgresql+psycopg://…)", ctx.is_postgresql),
                                     (f"chromium at {CHROMIUM}", os.access(CHROMIUM, os.X_OK)),
                                     ("haproxy (apt-get install haproxy)", os.access(haproxy, os.X_OK))) if not ok]
    if missing:
        ctx.print(f"browser: skipped, it needs {' and '.join(missing)}")
        return 0
    extra = list(ctx.extra)
    rounds = int(extra[extra.index("--rounds") + 1]) if "--rounds" in extra else ctx.repeat
    levels = SESSIONS
    if "--sessions" in extra:
        levels = tuple(int(x) for x in extra[extra.index("--sessions") + 1].split(","))
    idle_browsers = "--browsers-at-lowest-priority" in extra
    min_samples = int(extra[extra.index("--min-samples") + 1]) if "--min-samples" in extra else MIN_SAMPLES
    missed: list[str] = []
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMMLOG_", "STREAMLIT_"))}
    env |= {"COMMLOG_PROVIDER": "sandbox", "COMMLOG_BENCH_FLOOR_PAGE": "1", "PYTHONUNBUFFERED": "1"}
    for n in ctx.sizes:
        seeded = ctx.seeded(n)
        login, slug, typed = _bench_login(seeded.engine)
        with tempfile.TemporaryDirectory(prefix="commlog-bench-cluster-") as run_dir:
            cluster = Cluster(seeded.db.url, Path(run_dir), replicas=2, env=env, haproxy=haproxy).start()
            try:
                ctx.print(f"  started: {_memory(cluster)}")
                rows, split = [], []
                browser = _lowest_priority(CHROMIUM, Path(run_dir)) if idle_browsers else CHROMIUM
                for sessions in levels:
                    meter, chromium = _cpu_meter(cluster).start(), NamedWatch("chromium").start()
                    walked = rounds_per_session(rounds, sessions, min_samples)
                    t0 = time.perf_counter()
                    got = asyncio.run(_drive(cluster.url, [m.url for m in cluster.members], sessions, login, typed,
                                             walked, browser, sign_ins_per_session(sessions, min_samples)))
                    wall = time.perf_counter() - t0
                    timed = {name: Timing.of_seconds(c.seconds for c in got[name])
                             for name in (FLOOR, *FRAMEWORK, *INTERACTIONS)}
                    p95 = {name: t.p95_ms for name, t in timed.items()}
                    floor = timed[FLOOR]
                    rows.append((FLOOR, sessions, floor.runs, floor.median_ms, floor.p95_ms, floor.max_ms, 1.0, "", "",
                                 ""))
                    for name in FRAMEWORK:
                        t = timed[name]
                        rows.append((name, sessions, t.runs, t.median_ms, t.p95_ms, t.max_ms, t.p95_ms / floor.p95_ms,
                                     "reference", "", ""))
                    for name in INTERACTIONS:
                        t = timed[name]
                        limit = 3.0 if name == FIRST_LOAD else 2.0
                        ratio = t.p95_ms / floor.p95_ms
                        ok = ratio <= limit
                        if not ok:
                            missed.append(f"{n:,} messages, {sessions} sessions: {name} p95 {ratio:.1f}× the floor")
                        own, reference = against_framework_own(name, p95)
                        rows.append((name, sessions, t.runs, t.median_ms, t.p95_ms, t.max_ms, ratio, f"≤ {limit:.0f}×",
                                     "met" if ok else "MISSED", f"{own:.2f}× {reference}"))
                    for name in (FLOOR, *FRAMEWORK, *INTERACTIONS):
                        parts = where_the_time_goes(got[name])
                        messages = messages_taken_in(got[name])
                        split.append((name, sessions, *(parts if parts is not None else ("—",) * len(PARTS)),
                                      "—" if messages is None else messages))
                    ctx.print(f"  {sessions} session{'s' if sessions > 1 else ''}, {walked} rounds each: {wall:.0f} s; "
                              f"{_memory(cluster)}; "
                              f"{_spent(meter.spent(), chromium.stop(), wall)}")
            finally:
                cluster.stop()
        browsers = "; the browsers in the idle scheduling class" if idle_browsers else ""
        ctx.print(f"\nbrowser at {n:,} messages ({slug}, {ctx.backend_label}; two replicas behind haproxy{browsers}; "
                  f"each session {rounds} rounds or more, at least {min_samples} clicks a cell, the first load a "
                  "sign-in in a new session each time; times in ms, from the click to the painted end of the run):")
        ctx.print_table(["interaction", "sessions", "samples", "p50", "p95", "slowest", "p95 ÷ floor p95", "target", "",
                         "p95 ÷ the framework's own p95"], rows)
        ctx.print(f"\nwhere the time goes at {n:,} messages (medians in ms): until the page asks the server for the "
                  f"rerun (the browser taking the click; the borrower finder a typing pause of {TYPEAHEAD_PAUSE}), "
                  "until the page has taken in the server's word that the run finished (the request's trip, the "
                  "script run, its answer as the page took it in), the browser's drawing after it (the last of the "
                  "answer, two frames); and how many messages the server sent the page meanwhile (each element the "
                  "run drew is one):")
        ctx.print_table(["interaction", "sessions", *PARTS, MESSAGES], split, align="lrrrrr")
    if missed:
        ctx.print("\nmissed: " + "; ".join(missed))
    return 1 if missed else 0

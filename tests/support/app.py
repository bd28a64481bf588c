"""AppTest helpers: a small two-lender database, logins, and reading what a page shows."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Block

from commlog.ui import warm_up
from commlog.ui.export_panel import EXPORT_OPEN, PERIOD_EXPORT_OPEN
from tests.support import factories as f

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"


def build_two_lenders(engine) -> dict:
    """Lender A (admin + borrowers + a mix of outcomes, recent) and Lender B (foreign data)."""
    now = datetime.now(UTC).replace(microsecond=0)
    with engine.begin() as c:
        a = f.lender(c, "lender-a", "Alpha Lending")
        b = f.lender(c, "lender-b", "Bravo Credit")
        ana = f.account(c, a, "Ana Souza", "ana.souza@gmail.com")
        bob = f.account(c, a, "Bob Ng", "bob.ng@outlook.com")
        zed = f.account(c, b, "Zed Zulu", "zed.zulu@bravo-borrower.example")
        ids = {}
        ids["confirm_ana"] = f.message(c, a, "ana.souza@gmail.com", recipient_account_id=ana,
                                       subject="Confirm your new account with Alpha Lending", sent_at=now - timedelta(hours=5))
        ids["bounce_bob"] = f.message(c, a, "bob.ng@outlook.com", recipient_account_id=bob,
                                      subject="Confirm your new account with Alpha Lending", sent_at=now - timedelta(days=2))
        ids["reset_ana"] = f.message(c, a, "ana.souza@gmail.com", log_account_id=ana, recipient_account_id=ana,
                                     email_type="password_reset", subject="Reset your Alpha Lending password",
                                     sent_at=now - timedelta(hours=1))
        ids["failed"] = f.message(c, a, "bob.ng@outlook.com", send_status="failed", send_error="SMTP relay timed out",
                                  subject="Your statement is ready", email_type="statement_ready", sent_at=now - timedelta(days=3))
        ids["foreign"] = f.message(c, b, "zed.zulu@bravo-borrower.example", recipient_account_id=zed,
                                   subject="Bravo secret subject", sent_at=now - timedelta(hours=3))
        f.events(c, ids["confirm_ana"], a, ("PROCESSED", f.minutes(now - timedelta(hours=5)), None),
                 ("DELIVERED", f.minutes(now - timedelta(hours=4, minutes=59)), "250 2.0.0 OK gsmtp"), now=now)
        f.events(c, ids["bounce_bob"], a, ("PROCESSED", f.minutes(now - timedelta(days=2)), None),
                 ("BOUNCE", f.minutes(now - timedelta(days=2) + timedelta(minutes=1)),
                  "550 5.1.1 <bob.ng@outlook.com>: Recipient address rejected: Access denied"), now=now)
        f.events(c, ids["foreign"], b, ("PROCESSED", f.minutes(now - timedelta(hours=3)), None),
                 ("BOUNCE", f.minutes(now - timedelta(hours=3) + timedelta(minutes=1)), "550 5.1.1 bravo user unknown"), now=now)
        users = {
            "admin_a": f.user(c, "admin@alpha.example", "lender_admin", "lender-a", PASSWORD),
            "admin_b": f.user(c, "admin@bravo.example", "lender_admin", "lender-b", PASSWORD),
            "ops": f.user(c, "ops@commlog.example", "ops", None, PASSWORD),
        }
    return dict(a=a, b=b, ana=ana, bob=bob, zed=zed, ids=ids, users=users)


def app(path: str = "app.py", user_id: int | None = None, params: dict | None = None, timeout: float = 30,
        export_open: bool = True) -> AppTest:
    """The app (or one page) signed in as `user_id`. `export_open`: the "Export failures as CSV"
    panels opened, as by a user who clicked them (closed, a panel runs nothing)."""
    at = AppTest.from_file(str(ROOT / path), default_timeout=timeout)
    if user_id is not None:
        at.session_state["commlog_user_id"] = user_id
    if export_open:
        at.session_state[EXPORT_OPEN] = at.session_state[PERIOD_EXPORT_OPEN] = True
    for k, v in (params or {}).items():
        at.query_params[k] = v
    return at


def page_text(at: AppTest) -> str:
    """Everything a user can read on the page: text elements, tables, widget labels and values."""
    parts: list[str] = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "text", "code", "info", "warning", "error",
                 "success", "exception"):
        for el in at.get(kind):
            parts.append(str(getattr(el, "value", "")))
    for df in at.dataframe:
        parts.append(df.value.to_csv())
    for table in at.table:
        parts.append(table.value.to_csv())
    for button in at.button:  # the Account finder's matches are buttons
        parts.append(button.label)
    for sb in at.selectbox:
        parts.append(f"{sb.label}: {sb.value}")
        parts.extend(str(o) for o in sb.options)
    for ti in at.text_input:
        parts.append(f"{ti.label}: {ti.value}")
    return "\n".join(parts)


def data_tables(at: AppTest) -> list:
    """The tables on the page that hold rows. The sign-in form draws one empty, hidden table so the
    browser loads the grid while the person types (commlog.ui.warm_up): it shows no data."""
    return [df for df in at.dataframe if len(df.value)]


def buttons(at: AppTest) -> list[str]:
    """The labels of the buttons on the page. The sign-in form draws one hidden button so the browser
    loads a button's code while the person types (commlog.ui.warm_up): no one can see or press it."""
    return [b.label for b in at.button if b.key != warm_up.BUTTON]


def chart_datasets(chart) -> list[list[dict]]:
    """A chart's datasets (sent as Arrow) and the lists of values written into its spec."""

    def inline_values(spec):
        if isinstance(spec, dict):
            if "values" in spec and isinstance(spec["values"], list):
                yield spec["values"]
            for v in spec.values():
                yield from inline_values(v)
        elif isinstance(spec, list):
            for v in spec:
                yield from inline_values(v)

    out = [pa.ipc.open_stream(ds.data.data).read_all().to_pylist() for ds in chart.proto.datasets]
    return out + list(inline_values(json.loads(chart.proto.spec or "{}")))


def charts_with_data(at: AppTest) -> list:
    """The charts on the page that draw figures. The sign-in form draws one empty, hidden chart so
    the browser loads Deliverability's chart code while the person types (commlog.ui.warm_up)."""

    def has_data(chart) -> bool:
        own = chart.proto.data.data  # a chart's data given beside its spec, as Arrow
        return any(chart_datasets(chart)) or bool(own and pa.ipc.open_stream(own).read_all().num_rows)

    return [c for c in at.get("vega_lite_chart") if has_data(c)]


def dialogs(at: AppTest) -> list[str]:
    """The titles of the dialogs open on the page."""
    return [n.proto.dialog.title for n in at._tree if isinstance(n, Block) and n.type == "dialog"]


def tick(at: AppTest, rows: list[int], grid: str = "log") -> AppTest:
    """Tick these rows of a grid of emails (what the browser sends for st.dataframe's selection)."""
    key = at.dataframe[0].key if grid == "log" else next(d.key for d in at.dataframe if d.key.startswith(grid))
    at.session_state[key] = {"selection": {"rows": rows, "columns": [], "cells": []}}
    return at.run()


def borrower_matches(at: AppTest) -> list[str]:
    """What the Account's borrower finder offers, best first (one button each)."""
    return [b.label for b in at.button if b.key and b.key.startswith("log_pick_")]


def pick_borrower(at: AppTest, typed: str, account_id: int) -> AppTest:
    """Type in "Find a borrower" and click the borrower among the matches."""
    at.text_input(key="log_borrower_search").input(typed).run()
    return at.button(key=f"log_pick_{account_id}").click().run()


class PageBrowser:
    """A browser for AppTest: the `commlog_browser` cookie every script run reads from st.context
    (a real browser got it from the launcher's middleware), and the `/export/<token>` URLs a click
    draws fetched through the launcher's own route with that cookie (fixture `page_browser`)."""

    def __init__(self, cookie: str) -> None:
        self.cookie = cookie

    def client_context(self):
        """What Streamlit's session client reports for this browser's WebSocket (ClientContext)."""
        from types import SimpleNamespace

        from commlog.browser_cookie import COOKIE

        return SimpleNamespace(cookies={COOKIE: self.cookie}, headers=[("Cookie", f"{COOKIE}={self.cookie}")], remote_ip=None)

    @staticmethod
    def export_urls(at: AppTest) -> list[str]:
        """The download URLs the page draws (its iframe's source)."""
        return [e.proto.src for e in at.get("iframe") if e.proto.src.startswith("/export/")]

    def fetch(self, url: str, engine=None, cookie: str | None = "mine"):
        """GET the URL from the launcher's route (an httpx Response); `cookie=None`: like curl, none."""
        from starlette.applications import Starlette
        from starlette.testclient import TestClient

        from commlog import config, export_route
        from commlog.browser_cookie import COOKIE
        from commlog.db import make_engine

        engine = engine if engine is not None else make_engine(config.database_url())
        client = TestClient(Starlette(routes=export_route.routes(lambda: engine)))
        if cookie is not None:
            client.cookies.set(COOKIE, self.cookie if cookie == "mine" else cookie)
        return client.get(url)


DOWNLOAD_LABEL = "Download failures CSV"


def download(at: AppTest, browser: PageBrowser, engine=None) -> tuple[bytes, str, str]:
    """Click the page's one download button as a user would and fetch what it sends the browser to:
    (content, file name, mimetype)."""
    (button,) = [b for b in at.button if b.label == DOWNLOAD_LABEL]
    button.click().run()
    assert not at.exception, [e.value for e in at.exception]
    (url,) = browser.export_urls(at)
    response = browser.fetch(url, engine)
    assert response.status_code == 200, response.text
    disposition = response.headers["content-disposition"]
    name = disposition.split('filename="', 1)[1].rstrip('"')
    return response.content, name, response.headers["content-type"].split(";")[0]



def press_open(at: AppTest, row: object, grid: str = "log", *, sent: str | None = None) -> AppTest:
    """Press the Open button of a row of a grid of emails (its position as the grid was drawn):
    what the browser sends for a click in an st.column_config.ButtonColumn, a trigger that holds
    for the one run it causes, beside every other widget's state. `sent`: what a browser sends
    instead (a forged or broken click)."""
    from streamlit.proto.WidgetStates_pb2 import WidgetState

    frame = at.dataframe[0] if grid == "log" else next(d for d in at.dataframe if d.key.startswith(grid))
    (widget_id,) = frame.proto.button_click_widgets.values()
    states = at._tree.get_widget_states()
    data = json.dumps({"row": row, "label": "Open"}) if sent is None else sent
    click = WidgetState(id=widget_id, string_trigger_value={"data": data})
    states.widgets.append(click)
    return at._run(states)

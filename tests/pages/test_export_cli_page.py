"""`export-failures` and the log page's export panel: same bytes for the same filters, scope, audit."""

from __future__ import annotations

import argparse
import csv
import io
import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, text
from streamlit.testing.v1 import AppTest

from commlog.cli import CommandError
from commlog.commands import export_failures
from commlog.db import is_postgresql
from commlog.export import HEADER
from commlog.models import AuditEntry
from commlog.principal import ScopeError
from commlog.store import expire_pending
from tests.support import factories as f
from tests.support.app import download
from tests.support.export_world import expected_rows

DAY_FROM, DAY_TO = date(2026, 11, 10), date(2026, 11, 20)


@pytest.fixture
def world(export_world):
    """The export's two lenders (tests.support.export_world)."""
    return export_world


def _url(engine) -> str:
    """A URL the CLI can open that reaches the same data (PostgreSQL tests live in their own schema)."""
    url = engine.url
    if is_postgresql(engine):
        with engine.connect() as c:
            schema = c.execute(text("SHOW search_path")).scalar()
        url = url.update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


def cli(engine, *argv: str) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url")
    export_failures.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["--database-url", _url(engine), "export-failures", *argv])
    return args.func(args)


def _audit(engine):
    with engine.connect() as c:
        return c.execute(select(*AuditEntry.__table__.columns).order_by(AuditEntry.id)).all()


# --- CLI -----------------------------------------------------------------------------------------


def test_cli_writes_the_file_with_a_progress_bar_on_stderr(engine, world, tmp_path, capsys):
    out = tmp_path / "acme.csv"
    assert cli(engine, "--lender", "acme-lending", "-o", str(out)) == 0
    rows = list(csv.reader(io.StringIO(out.read_bytes().decode("utf-8"), newline="")))
    assert tuple(rows[0]) == HEADER
    assert rows[1:] == expected_rows(engine, lenders=[world["a"]])
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "export-failures" in captured.err and "rows" in captured.err  # tqdm
    assert f"Wrote {len(rows) - 1:,} failure rows" in captured.err
    assert not (tmp_path / "acme.csv.part").exists()
    (entry,) = _audit(engine)
    assert entry.action == "export" and entry.lender_id == world["a"] and entry.row_count == len(rows) - 1
    assert entry.user_email.startswith("cli:") and entry.role == "ops"
    assert json.loads(entry.filters)["source"] == "cli"


def test_cli_to_stdout_all_lenders_with_bom(engine, world, capsysbinary):
    assert cli(engine, "--all", "--bom", "--include-deferred", "-q") == 0
    captured = capsysbinary.readouterr()
    assert captured.out.startswith(b"\xef\xbb\xbf" + ",".join(HEADER).encode())
    rows = list(csv.reader(io.StringIO(captured.out.decode("utf-8-sig"), newline="")))
    assert rows[1:] == expected_rows(engine, lenders=[world["a"], world["b"]], include_deferred=True)
    assert captured.err == b""
    (entry,) = _audit(engine)
    assert entry.lender_id is None


@pytest.mark.parametrize(("days_later", "failure"), [(2, False), (4, True)])
def test_cli_counts_deferrals_past_the_retry_window_as_failures(engine, world, tmp_path, monkeypatch, days_later, failure):
    """'deferred' was sent at T0 and is still PENDING: a failure once its 72 h retry window has passed."""
    monkeypatch.setattr(export_failures, "utcnow", lambda: f.T0 + timedelta(days=days_later))
    out = tmp_path / "x.csv"
    cli(engine, "--lender", "acme-lending", "-o", str(out), "-q")
    by_id = {int(r[-1]): r for r in list(csv.reader(io.StringIO(out.read_text(encoding="utf-8"), newline="")))[1:]}
    assert (world["ids"]["deferred"] in by_id) is failure
    if failure:
        assert by_id[world["ids"]["deferred"]][12] == "NOT_DELIVERED"
        assert by_id[world["ids"]["deferred"]][14].startswith("expired")


def test_cli_header_only_with_a_notice(engine, world, tmp_path, capsys):
    out = tmp_path / "none.csv"
    assert cli(engine, "--lender", "acme-lending", "--since", "2020-01-01", "--until", "2020-01-31", "-o", str(out), "-q") == 0
    assert out.read_bytes() == (",".join(HEADER) + "\r\n").encode()
    assert "No failures match" in capsys.readouterr().err


def test_cli_dates_are_whole_days_like_the_page_and_times_are_exact(engine, world, tmp_path):
    def ids(*argv):
        out = tmp_path / "x.csv"
        cli(engine, "--lender", "acme-lending", *argv, "-o", str(out), "-q")
        return {int(r[-1]) for r in list(csv.reader(io.StringIO(out.read_text(encoding="utf-8"), newline="")))[1:]}

    w = world["ids"]
    day = ids("--since", "2026-11-20", "--until", "2026-11-20")  # the whole UTC day of T0 (12:00)
    assert {w["bounce"], w["failed_eq"]} <= day and w["expired"] not in day
    exact = ids("--since", "2026-11-20T11:30:00Z", "--until", "2026-11-20T12:00:00+00:00")  # until is exclusive
    assert w["failed_eq"] not in exact and w["bounce"] not in exact and exact == set()
    tokyo = ids("--since", "2026-11-20", "--tz", "Asia/Tokyo")  # from 2026-11-19 15:00 UTC
    assert w["failed_eq"] in tokyo and w["expired"] not in tokyo


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--lender", "nope"], "no lender with slug 'nope'"),
        (["--lender", "acme-lending", "--since", "20261101"], "--since '20261101'"),
        (["--lender", "acme-lending", "--since", "2026-11-20", "--until", "2026-11-01"], "--since must be before --until"),
        (["--lender", "acme-lending", "--tz", "Mars/Olympus"], "unknown time zone"),
        (["--all", "--account", "3"], "--account needs --lender"),
        (["--lender", "bravo", "--as-user", "admin@acme.example"], "outside your access"),
        (["--all", "--as-user", "admin@acme.example"], "--all is for platform ops"),
        (["--lender", "acme-lending", "--as-user", "nobody@x.example"], "no enabled commlog user"),
    ],
)
def test_cli_bad_input_is_one_clear_error_and_nothing_written(engine, world, tmp_path, argv, message):
    out = tmp_path / "x.csv"
    with pytest.raises(CommandError, match=message.replace("(", r"\(")):
        cli(engine, *argv, "-o", str(out), "-q")
    assert not out.exists() and not (tmp_path / "x.csv.part").exists()
    assert _audit(engine) == []


def test_cli_as_lender_admin_is_scoped(engine, world, tmp_path):
    out = tmp_path / "a.csv"
    cli(engine, "--lender", "acme-lending", "--as-user", "admin@acme.example", "-o", str(out), "-q")
    assert b"Bravo" not in out.read_bytes()
    (entry,) = _audit(engine)
    assert entry.user_email == "admin@acme.example" and entry.role == "lender_admin"


# --- the page's panel, in AppTest ----------------------------------------------------------------


def _panel_script(url: str, view: dict, tz: str) -> None:
    from zoneinfo import ZoneInfo

    import streamlit as st

    from commlog import auth
    from commlog.db import make_engine
    from commlog.log_view import LogView
    from commlog.ui.export_panel import render_export_panel

    engine = make_engine(url)
    with engine.connect() as conn:
        principal = auth.load_principal(conn, int(st.session_state["commlog_user_id"]))
    from datetime import UTC, datetime

    v = LogView(**view)
    zone = ZoneInfo(tz)
    render_export_panel(engine, principal, v.query(v.lender_id, zone, datetime.now(UTC)), zone)


def _panel(engine, user_id, view: dict, tz: str = "UTC") -> AppTest:
    at = AppTest.from_function(_panel_script, kwargs={"url": _url(engine), "view": view, "tz": tz}, default_timeout=30)
    at.session_state["commlog_user_id"] = user_id
    return at


def _download(at: AppTest, browser, engine) -> tuple[bytes, str]:
    """Click the download button and fetch the file the way the browser would (GET /export/<token>)."""
    content, name, mime = download(at, browser, engine)
    assert mime == "text/csv"
    return content, name


def _text(at: AppTest) -> str:
    return "\n".join(str(e.value) for kind in ("markdown", "caption", "info", "warning") for e in at.get(kind))


def test_page_download_and_cli_produce_the_same_bytes(engine, world, page_browser, tmp_path):
    with engine.begin() as c:  # what the log page does now and then, and the CLI before exporting
        expire_pending(c, datetime.now(UTC))
    view = {"lender_id": world["a"], "range": "custom", "date_from": DAY_FROM, "date_to": DAY_TO}
    at = _panel(engine, world["users"]["admin_a"], view).run()
    assert not at.exception
    at.radio(key="export_span").set_value("lender")
    at.checkbox(key="export_deferred").check()
    at.checkbox(key="export_bom").check()
    at.run()
    assert not at.exception
    expected_count = len(expected_rows(engine, lenders=[world["a"]], include_deferred=True))
    assert f"**{expected_count:,}** failures match" in _text(at)
    assert _audit(engine) == []  # counting is not exporting: nothing built yet
    page_bytes, name = _download(at, page_browser, engine)
    assert name == "failures_acme-lending_2026-11-10_to_2026-11-20.csv"

    out = tmp_path / "cli.csv"
    cli(engine, "--lender", "acme-lending", "--since", "2026-11-10", "--until", "2026-11-20",
        "--include-deferred", "--bom", "-o", str(out), "-q")
    assert page_bytes == out.read_bytes()
    assert page_bytes.startswith(b"\xef\xbb\xbf")
    assert len(list(csv.reader(io.StringIO(page_bytes.decode("utf-8-sig"), newline="")))) == expected_count + 1

    page_entry, cli_entry = _audit(engine)
    assert page_entry.user_email == "admin@acme.example" and page_entry.row_count == expected_count
    page_filters = json.loads(page_entry.filters)
    assert page_filters["source"] == "page" and page_filters["view"]["from"] == "2026-11-10"
    assert page_filters["filter"] == json.loads(cli_entry.filters)["filter"]


def test_page_offers_this_log_by_default_and_names_the_borrower(engine, world, page_browser):
    view = {"lender_id": world["a"], "account_id": world["zoe"], "range": "custom", "date_from": DAY_FROM, "date_to": DAY_TO}
    at = _panel(engine, world["users"]["admin_a"], view).run()
    assert not at.exception
    assert at.radio(key="export_span").value == "log"
    assert "**1** failure match" in _text(at)
    data, name = _download(at, page_browser, engine)
    assert name == f"failures_acme-lending_borrower-{world['zoe']}_2026-11-10_to_2026-11-20.csv"
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    assert [int(r[-1]) for r in rows[1:]] == [world["ids"]["bounce"]]


def test_page_with_every_log_shown_exports_every_log_and_says_so(engine, world, page_browser):
    """Account = all of the lender's logs: no "Rows from" choice that could read as the lender's own
    log only; the file holds the failures of every log, as the page says."""
    view = {"lender_id": world["a"], "all_logs": True, "range": "custom", "date_from": DAY_FROM, "date_to": DAY_TO}
    at = _panel(engine, world["users"]["admin_a"], view).run()
    assert not at.exception
    assert not at.radio
    assert "lender's own log" not in _text(at) and "and borrowers" in _text(at)
    expected = len(expected_rows(engine, lenders=[world["a"]]))
    assert f"**{expected:,}** failures match" in _text(at)
    data, _ = _download(at, page_browser, engine)
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    assert len(rows) == expected + 1 and {r[1] for r in rows[1:]} == {"Lender", "Borrower"}


def test_page_header_only_notice(engine, world, page_browser):
    view = {"lender_id": world["a"], "range": "custom", "date_from": date(2020, 1, 1), "date_to": date(2020, 1, 2)}
    at = _panel(engine, world["users"]["admin_a"], view).run()
    assert "No failures match these filters: the file will have the header row only." in _text(at)
    data, _ = _download(at, page_browser, engine)
    assert data == (",".join(HEADER) + "\r\n").encode()


def test_page_never_exports_another_lender_whatever_the_view_says(engine, world, page_browser):
    """A lender admin's view naming lender B (a forged URL): the panel shows nothing, offers nothing."""
    view = {"lender_id": world["b"], "range": "custom", "date_from": DAY_FROM, "date_to": DAY_TO}
    at = _panel(engine, world["users"]["admin_a"], view).run()
    assert not at.exception
    assert not [b for b in at.button if b.label == "Download failures CSV"] and not page_browser.export_urls(at)
    assert "Bravo" not in _text(at)


def test_deliverability_period_export_is_the_cli_all_lenders_file_with_the_same_audit_filters(engine, world, tmp_path):
    """Deliverability's export (commlog.export.period_export: UTC send days, every lender) gives the
    bytes of `export-failures --all` for those days, and an audit entry of the same scope and filter."""
    from commlog.export import build_csv, period_export
    from commlog.principal import Principal, Role

    ops = Principal(0, "ops@example.com", Role.OPS, None)
    with engine.begin() as c:  # what the page's panel does now and then, and the CLI before exporting
        expire_pending(c, datetime.now(UTC))
    spec = period_export(None, DAY_FROM, DAY_TO)
    page_bytes = build_csv(engine, ops, spec, source="page", file_name="x.csv")
    out = tmp_path / "cli.csv"
    cli(engine, "--all", "--since", DAY_FROM.isoformat(), "--until", DAY_TO.isoformat(), "-o", str(out), "-q")
    rows = list(csv.reader(io.StringIO(page_bytes.decode("utf-8"), newline="")))
    assert page_bytes == out.read_bytes() and len({r[0] for r in rows[1:]}) == 2  # both lenders
    page_entry, cli_entry = _audit(engine)
    assert page_entry.lender_id is None and cli_entry.lender_id is None
    assert json.loads(page_entry.filters)["filter"] == json.loads(cli_entry.filters)["filter"]
    assert page_entry.row_count == cli_entry.row_count == len(rows) - 1
    with pytest.raises(ScopeError):  # every lender is for ops only
        build_csv(engine, Principal(2, "admin@acme.example", Role.LENDER_ADMIN, world["a"]), spec, source="page", file_name="x.csv")


def test_each_click_mints_one_url_served_once_to_this_browser_and_audited_when_served(engine, world, page_browser):
    """No file at render: a click mints one /export/<token>, drawn in the page's iframe and offered as
    the fallback link; it is served once, to this browser only; the next click gets a new one."""
    view = {"lender_id": world["a"], "range": "custom", "date_from": DAY_FROM, "date_to": DAY_TO}
    at = _panel(engine, world["users"]["admin_a"], view).run()
    assert page_browser.export_urls(at) == []  # nothing minted by drawing the page
    at.button(key="export_download").click().run()
    (url,) = page_browser.export_urls(at)
    assert f"[click here]({url}) (valid 60 s)" in _text(at)
    assert _audit(engine) == []  # minting is not exporting
    assert page_browser.fetch(url, engine, cookie=None).status_code == 404  # the URL alone (curl, a proxy log)
    assert page_browser.fetch(url, engine, cookie="x" * 43).status_code == 404  # another browser
    served = page_browser.fetch(url, engine)
    assert served.status_code == 200 and served.content.startswith(b"Lender,Log,")
    assert page_browser.fetch(url, engine).status_code == 404  # once
    (entry,) = _audit(engine)
    assert entry.action == "export" and entry.row_count == served.content.count(b"\r\n") - 1

    at.button(key="export_download").click().run()
    (second,) = page_browser.export_urls(at)
    assert second != url and page_browser.fetch(second, engine).status_code == 200
    at.run()  # any other rerun: the iframe is gone, nothing is fetched again
    assert page_browser.export_urls(at) == []


def test_a_browser_without_the_cookie_is_told_to_reload_and_nothing_is_minted(engine, world):
    from commlog.models import ExportToken
    from commlog.ui.export_panel import NO_COOKIE

    view = {"lender_id": world["a"], "range": "custom", "date_from": DAY_FROM, "date_to": DAY_TO}
    at = _panel(engine, world["users"]["admin_a"], view).run()
    at.button(key="export_download").click().run()
    assert not at.exception and [w.value for w in at.warning] == [NO_COOKIE]
    assert not at.get("iframe")
    with engine.connect() as c:
        assert c.execute(select(ExportToken.id)).all() == []

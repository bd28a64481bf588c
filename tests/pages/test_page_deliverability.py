"""The Deliverability page through AppTest: as ops, as a lender admin (nothing of another lender
anywhere, chart data included), logged out, empty and low-volume states."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
import streamlit as st
from sqlalchemy import func, or_, select
from streamlit.proto.Metric_pb2 import Metric as MetricProto
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Block

from commlog import auth, rollups
from commlog.audit_queries import AuditFilter, list_audit
from commlog.demo.seed import SeedConfig, seed_demo
from commlog.models import Lender, Message
from commlog.principal import Principal, Role
from commlog.ui.deliverability.tabs import TAB_KEY, tab_labels
from commlog.ui.export_panel import PERIOD_EXPORT_OPEN
from tests.support import factories as f
from tests.support.app import chart_datasets, charts_with_data, download
from tests.support.deliverability_world import RECENT, build_health, bulk
from tests.support.deliverability_world import rollup_reads as rollup_reads_of

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "pages" / "deliverability.py")
APP = str(ROOT / "app.py")
PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def _clean_caches(clean_caches):
    """Every test here starts and ends with Streamlit's caches empty (tests/pages/conftest.py)."""


@pytest.fixture
def demo(sqlite_engine, sqlite_url, monkeypatch):
    with sqlite_engine.begin() as conn:
        ids = build_health(conn)
        ids["ops_user"] = auth.add_user(conn, "ops@example.com", "ops", None, PASSWORD, f.T0)
        ids["alpha_admin"] = auth.add_user(conn, "admin@alpha.example", "lender_admin", "alpha", PASSWORD, f.T0)
        ids["tiny_admin"] = auth.add_user(conn, "admin@tiny.example", "lender_admin", "tiny", PASSWORD, f.T0)
    monkeypatch.setenv("COMMLOG_DATABASE_URL", sqlite_url)
    return ids


def run_as(user_id: int | None, tz: str = "Europe/Berlin", export_open: bool = True) -> AppTest:
    """The page as the app serves it: app.py's st.navigation, then the Deliverability page (its
    export panel opened, as a user does to export, unless `export_open` is False)."""
    at = AppTest.from_file(APP, default_timeout=60)
    at.context = {"timezone": tz, "locale": "en-GB"}
    if user_id is not None:
        at.session_state["commlog_user_id"] = user_id
    at.session_state[PERIOD_EXPORT_OPEN] = export_open
    at.run()
    at.switch_page("pages/deliverability.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _walk(node):
    yield node
    for child in getattr(node, "children", {}).values() if isinstance(getattr(node, "children", None), dict) else []:
        yield from _walk(child)


def open_tab(at: AppTest, label: str) -> AppTest:
    """Open one of the page's tabs, as a click on it does: only the open tab is drawn."""
    at.session_state[TAB_KEY] = label
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


RATES = "Rates over time"  # the tab with the rate chart; health and findings open first


def every_tab(at: AppTest) -> str:
    """What the page sends to the browser in each of its tabs opened in turn, the first last."""
    labels = tab_labels(any(s.label == "Lender" for s in at.selectbox))
    return "\n".join(sent_to_browser(open_tab(at, label)) for label in [*labels[1:], labels[0]])


def chart_specs(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]


def chart_data(at: AppTest) -> list[list[dict]]:
    """Every dataset of every chart, decoded from Arrow, and the values written into their specs."""
    return [rows for c in at.get("vega_lite_chart") for rows in chart_datasets(c)]


def sent_to_browser(at: AppTest) -> str:
    """Everything the page sends to the browser: every element's proto, chart data decoded."""
    parts = [str(node.proto) for node in _walk(at._tree) if getattr(node, "proto", None) is not None]
    parts += [json.dumps(rows, default=str) for rows in chart_data(at)]
    parts += [df.value.to_csv() for df in at.dataframe]
    return "\n".join(parts)


def test_ops_sees_every_lender_findings_first_and_charts_a_tab_away(demo):
    at = run_as(demo["ops_user"])
    text = sent_to_browser(at)
    assert at.title[0].value == "Deliverability"
    assert at.tabs[0].label == "Health and findings" and not at.get("vega_lite_chart")  # the charts wait for their tab
    tiles = {m.label: m for m in at.metric}
    assert re.fullmatch(r"\d+\.\d %", tiles["Bounce rate"].value) and not tiles["Bounce rate"].delta  # graded: a figure, no flag
    for name in ("Alpha Lending", "Bravo Credit", "Other Lender 0", "Tiny Loans"):
        assert name in text
    md = [m.value for m in at.markdown]
    assert any(m.startswith("Microsoft blocks for Alpha Lending rose from 0.3 % to 8.0 % in the") for m in md)
    assert any("Bounces for Bravo Credit" in m for m in md)
    # Drilldown into the log through its URL parameters.
    links = [str(node.proto) for node in _walk(at._tree) if type(node).__name__ in ("PageLink", "UnknownElement") and "page_link" in str(type(getattr(node, "proto", None))).lower() or "query_string" in str(getattr(node, "proto", ""))]
    assert any(f"lender={demo['alpha']}" in x and "event=BLOCKED" in x for x in links + md), links[:3]
    assert "Europe/Berlin" in " ".join(c.value for c in at.caption)
    # Charts: the rate chart has the threshold bands and the platform median; ops get small multiples
    # per lender and the lender × provider heatmap. Each tab is drawn when it is opened.
    at = open_tab(at, RATES)
    drawn = charts_with_data(at)
    assert drawn and len(drawn) == len(at.get("vega_lite_chart"))
    assert len(chart_specs(at)) == 3  # Rates over time: the rate, the volume, a rate per lender
    data = chart_data(at)
    providers = open_tab(at, "Lenders × providers")
    data += chart_data(providers)
    assert len(chart_specs(providers)) == 1  # the other tabs' charts are not built
    bands = next(rows for rows in data if rows and "y0" in rows[0])
    assert [r["level"] for r in bands][:2] == ["Healthy", "Watch"] and bands[1]["y0"] == 2.0
    series = {r["series"] for rows in data for r in rows if "series" in r}
    assert {"All lenders", "Platform median", "Alpha Lending", "Bravo Credit"} <= series
    heat = next(rows for rows in data if rows and "family" in rows[0] and "lender" in rows[0])
    cell = next(r for r in heat if r["lender"] == "Alpha Lending" and r["family"] == "Microsoft")
    assert cell["n_of_d"] == "17 of 500" and cell["label"] == "3.4 %"  # the whole range: baseline and recent
    # The comparison table lists every lender, low volume flagged.
    table = next(df.value for df in providers.dataframe if "Lender" in getattr(df.value, "columns", []))
    assert set(table["Lender"]) == {"Alpha Lending", "Bravo Credit", "Other Lender 0", "Other Lender 1", "Other Lender 2", "Tiny Loans"}
    assert table.set_index("Lender").loc["Tiny Loans", "Volume"] == "low volume"


def test_lender_admin_sees_nothing_of_another_lender(demo):
    at = run_as(demo["alpha_admin"])
    text = every_tab(at)
    assert "Alpha Lending" in text
    for foreign in ("Bravo Credit", "bravo", "Other Lender", "other-0", "Tiny Loans", "tiny", "gmial.com"):
        assert foreign not in text, foreign
    # Bravo's and Tiny's figures: 54 of 750 bounced, 12 of 150 recent, 10 of 50.
    for figure in ("of 750", "of 150", "12 of", "10 of 50", "of 1,373"):
        assert figure not in text, figure
    assert not at.selectbox or "Lender" not in [s.label for s in at.selectbox]
    at = open_tab(at, RATES)
    series = {r["series"] for rows in chart_data(at) for r in rows if "series" in r}
    assert series <= {"Alpha Lending", "Platform median"}
    assert all(r.get("lender") in (None, "Alpha Lending") for rows in chart_data(at) for r in rows)
    # The benchmark is a median only (6 lenders qualify on the busy day), never a lender's row.
    assert "Platform median" in series


def test_lender_admin_cannot_pick_another_lender_through_state(demo):
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["commlog_user_id"] = demo["alpha_admin"]
    at.session_state["dlv_lender"] = demo["bravo"]  # a crafted widget value is ignored: no lender widget for admins
    at.run()
    at.switch_page("pages/deliverability.py").run()
    assert not at.exception
    assert "Bravo Credit" not in sent_to_browser(at)


def test_logged_out_gets_the_login_form_only(demo):
    """The page file run directly (legacy pages/ mode, no app.py): it guards itself."""
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    assert not at.exception
    assert not charts_with_data(at)
    assert any(b.label == "Sign in" for b in at.button) or at.get("form")
    assert "Alpha Lending" not in sent_to_browser(at)


def _more_lenders(conn, first: int, n: int) -> None:
    """`n` more lenders with calm mail and a few bounces each (some over a band, some not)."""
    for i in range(first, first + n):
        lid = f.lender(conn, f"more-{i}", f"More Lender {i:03d}")
        bulk(conn, lid, RECENT, 150 + i, "gmail.com")
        if i % 9:
            bulk(conn, lid, RECENT, i % 9, "gmail.com", "bounced", "550 5.1.1 user unknown")
    rollups.rebuild_rollups(conn)


def _health_drawn(at: AppTest) -> tuple[dict[str, str], list[dict]]:
    """The health cards as drawn (a lender's name, then its badge: name -> level) and the rows of
    the table under them."""
    said = [n.value for n in _walk(at._tree) if getattr(n, "type", None) == "markdown" and isinstance(getattr(n, "value", None), str)]
    cards = {}
    for this, after in zip(said, said[1:]):
        name, badge = re.fullmatch(r"\*\*(.+)\*\*", this), re.fullmatch(r":\w+-badge\[(.+)\]", after)
        if name and badge:
            cards[name.group(1)] = badge.group(1)
    table = next((df.value.to_dict("records") for df in at.dataframe if "Health" in df.value.columns), [])
    return cards, table


def test_many_lenders_get_cards_for_the_most_severe_and_one_table_for_the_rest(sqlite_engine, sqlite_url, monkeypatch):
    """Ops on a platform of many lenders: nine cards, the most severe, and every other lender a row
    of one table under them, each lender once; and 40 lenders more draw not one element more."""
    with sqlite_engine.begin() as conn:
        build_health(conn)
        ops = auth.add_user(conn, "ops@example.com", "ops", None, PASSWORD, f.T0)
        _more_lenders(conn, 0, 40)
        every = set(conn.scalars(select(Lender.name)))
    monkeypatch.setenv("COMMLOG_DATABASE_URL", sqlite_url)
    at = run_as(ops)
    cards, table = _health_drawn(at)
    assert len(cards) == 9 and len(table) == len(every) - 9
    assert set(cards) | {row["Lender"] for row in table} == every
    assert not set(cards) & {row["Lender"] for row in table}
    severity = {"At risk": 3, "Watch": 2, "Healthy": 1, "Insufficient volume": 0}
    ranks = [severity[row["Health"]] for row in table]
    assert ranks == sorted(ranks, reverse=True)  # most severe first
    assert min(severity[level] for level in cards.values()) >= max(ranks)  # the cards are the most severe
    assert "Alpha Lending" in cards  # its Microsoft block episode: At risk
    assert any(e.label.startswith(f"{len(table)} more lenders: ") for e in at.expander)
    drawn = sum(1 for _ in _walk(at._tree))

    with sqlite_engine.begin() as conn:
        _more_lenders(conn, 40, 40)
    st.cache_data.clear()  # as the page's one-minute cache running out
    at = run_as(ops)
    cards, table = _health_drawn(at)
    assert len(cards) == 9 and len(table) == len(every) + 40 - 9
    assert sum(1 for _ in _walk(at._tree)) == drawn


def test_low_volume_lender_is_flagged_not_alarming(demo):
    at = run_as(demo["tiny_admin"])
    tiles = {m.label: m for m in at.metric}
    bounce = tiles["Bounce rate"]
    assert "%" not in bounce.value and bounce.delta == "low volume"  # 10 of 50: never a bare "20.0 %" as the figure
    assert bounce.proto.color == MetricProto.MetricColor.GRAY and bounce.proto.direction == MetricProto.MetricDirection.NONE
    captions = " ".join(c.value for c in at.caption)
    assert "10 of 50 attempted: under the minimum of 100 · 20.0 %" in captions  # the rate, in the line under it
    assert any("Insufficient volume" in str(node.proto) for node in _walk(at._tree) if getattr(node, "proto", None) is not None)


def test_empty_database_explains_itself(sqlite_engine, sqlite_url, monkeypatch):
    with sqlite_engine.begin() as conn:
        f.lender(conn, "alpha", "Alpha Lending")
        uid = auth.add_user(conn, "ops@example.com", "ops", None, PASSWORD, f.T0)
    monkeypatch.setenv("COMMLOG_DATABASE_URL", sqlite_url)
    at = run_as(uid)
    assert "No messages yet" in at.info[0].value
    assert not at.get("vega_lite_chart")


def test_new_messages_show_after_rollup_maintenance(sqlite_engine, sqlite_url, monkeypatch):
    """A message stored and then checked through the write path appears without a rebuild."""
    with sqlite_engine.begin() as conn:
        lid = f.lender(conn, "alpha", "Alpha Lending")
        uid = auth.add_user(conn, "ops@example.com", "ops", None, PASSWORD, f.T0)
        bulk(conn, lid, RECENT, 5, "gmail.com")
        rollups.rebuild_rollups(conn)
        mid = f.message(conn, lid, "late@gmail.com", sent_at=f.T0)
        rollups.add_messages(conn, [mid])
        f.events(conn, mid, lid, ("BOUNCE", 1, "550 5.1.1 no such user"))
    monkeypatch.setenv("COMMLOG_DATABASE_URL", sqlite_url)
    at = run_as(uid)
    assert any("1 of 6 attempted" in c.value for c in at.caption)


def test_captions_and_chart_bands_are_the_bands_grading_uses_for_the_email_type(sqlite_engine, sqlite_url, monkeypatch):
    """Account confirmations are graded from 3 % bounces: 5 of 205 (2.4 %) is Watch for all email
    types together, Healthy for account confirmations, and the page says which bands it used."""
    with sqlite_engine.begin() as conn:
        lid = f.lender(conn, "alpha", "Alpha Lending")
        uid = auth.add_user(conn, "ops@example.com", "ops", None, PASSWORD, f.T0)
        bulk(conn, lid, RECENT, 200, "gmail.com", email_type="account_confirmation")
        bulk(conn, lid, RECENT, 5, "gmial.com", "bounced", "550 5.1.1 user unknown", email_type="account_confirmation")
        rollups.rebuild_rollups(conn)
    monkeypatch.setenv("COMMLOG_DATABASE_URL", sqlite_url)

    def shown(at: AppTest) -> tuple[str, float]:
        """The health caption with the finding's sentences, and where the rate chart's Watch band starts."""
        health = open_tab(at, tab_labels(True)[0])
        said = " ".join([*(c.value for c in health.caption), *(m.value for m in health.markdown), *(s.value for s in health.success)])
        bands = next(rows for rows in chart_data(open_tab(at, RATES)) if rows and "y0" in rows[0])
        return said, next(r["y0"] for r in bands if r["level"] == "Watch")

    at = run_as(uid)
    said, watch = shown(at)
    assert "Bounce: Watch from 2 %, At risk from 5 %" in said and watch == 2.0
    assert "Bounces for Alpha Lending" in said  # a finding at 2.4 %

    at.selectbox(key="dlv_type").select("account_confirmation").run()
    assert not at.exception
    said, watch = shown(at)
    assert "Bounce: Watch from 3 %, At risk from 6 %" in said and watch == 3.0
    assert "Bounces for Alpha Lending" not in said
    assert "(bounce 3 %, all failures 3 %" in said


def test_lender_admin_heatmap_has_one_readable_row_with_values_and_verdicts(demo):
    """One lender's heatmap row is as tall as each of many (it was squeezed to 0.25 px), and every
    cell says its rate with its unit and its verdict in words."""
    at = open_tab(run_as(demo["alpha_admin"]), "Providers")
    heat = next(s for s in chart_specs(at) if any(la.get("encoding", {}).get("y", {}).get("field") == "lender" for la in s.get("layer", [])))
    assert heat["autosize"]["type"] == "fit-x" and heat["height"] >= 40
    rows = next(rows for rows in chart_data(at) if rows and "family" in rows[0] and "lender" in rows[0])
    assert {r["lender"] for r in rows} == {"Alpha Lending"}
    ms = next(r for r in rows if r["family"] == "Microsoft")
    assert ms["label"] == "3.4 %" and ms["verdict"].split(" (")[0] in {"Healthy", "Watch", "At risk"}
    assert any("darkest red at" in c.value for c in at.caption)

# --- one verdict per lender and period (issue 12, point 10) ---------------------------------------

DEMO_LIKE = SeedConfig(lenders=5, borrowers=700, messages=5000, days=40, seed=7, users=False)  # anchored now
BADGE = re.compile(r"^:(\w+)-badge\[(.+)\]$")
SEVERITY = {"Insufficient volume": 0, "Healthy": 1, "Watch": 2, "At risk": 3}


@pytest.fixture
def demo_like(sqlite_engine, sqlite_url, monkeypatch):
    """The demo's own data, small: its episodes (a Microsoft block at several lenders, a bounce
    spike) are over by the last days the page shows first."""
    seed_demo(sqlite_engine, DEMO_LIKE, progress=False)
    with sqlite_engine.begin() as conn:
        lenders = dict(conn.execute(select(Lender.slug, Lender.id)).all())
        ids = {"ops_user": auth.add_user(conn, "ops@example.com", "ops", None, PASSWORD, f.T0), "lenders": lenders}
        for slug in lenders:
            ids[slug] = auth.add_user(conn, f"admin@{slug}.example", "lender_admin", slug, PASSWORD, f.T0)
    monkeypatch.setenv("COMMLOG_DATABASE_URL", sqlite_url)
    return ids


def health_cards(at: AppTest) -> dict[str, tuple[str, str]]:
    """Each health card: lender name -> (badge, the explanation under it)."""
    cards = {}
    for node in _walk(at._tree):
        if isinstance(node, Block) and "dlv_health_" in str(getattr(node, "proto", "")):
            texts = [str(c.value) for c in node.children.values() if type(c).__name__ == "Markdown"]
            name, badge, why = texts[0].strip("*"), BADGE.match(texts[1]).group(2), texts[2]
            cards[name] = (badge, why)
    return cards


def findings_shown(at: AppTest) -> list[tuple[str, str]]:
    """Each finding on the page: (its badge, its sentence), cards and the "more findings" list alike."""
    texts = [str(n.value) for n in _walk(at._tree) if type(n).__name__ == "Markdown"]
    out = []
    for badge, sentence in zip(texts, texts[1:], strict=False):
        explanation = (m := BADGE.match(badge)) and sentence.startswith(m.group(2) + ": ")  # a health card's, not a finding
        if m and not explanation and not sentence.startswith("**") and not BADGE.match(sentence):
            out.append((m.group(2), sentence))
    out += [(m.group(1), m.group(2)) for t in texts if (m := re.match(r"^- \*\*(.+?)\*\* · (.+)$", t))]
    return out


@pytest.mark.parametrize("who", ["ops", "each lender admin"])
def test_a_lender_card_is_never_healthy_beside_an_at_risk_finding(demo_like, who):
    """Every card's verdict is the worst of that lender's findings on the page, and says why."""
    users = [demo_like["ops_user"]] if who == "ops" else [demo_like[slug] for slug in demo_like["lenders"]]
    at_risk_seen = 0
    for user in users:
        at = run_as(user)
        cards, found = health_cards(at), findings_shown(at)
        assert cards and (who == "ops") == (len(cards) == DEMO_LIKE.lenders)
        for name, (badge, why) in cards.items():
            levels = [level for level, sentence in found if name in sentence]
            worst = max(levels, key=SEVERITY.get, default=None)
            assert not (badge == "Healthy" and "At risk" in levels), name
            assert badge == (worst or badge), (name, badge, levels)
            assert why.startswith(f"{badge}: "), why  # explained: the rate, the band, the window
            if worst in ("At risk", "Watch"):
                assert re.search(r"(bounce rate|all failures|defer rate) [\d.]+ %.* in the (last 7 days|7 days to \d+ \w+)", why)
                assert f"{worst.lower()} from " in why
            at_risk_seen += worst == "At risk"
        if who == "ops":  # the lender comparison's Health column is the same verdict
            open_tab(at, "Lenders × providers")
            table = next(df.value for df in at.dataframe if "Lender" in getattr(df.value, "columns", []))
            assert dict(zip(table["Lender"], table["Health"], strict=True)) == {n: b for n, (b, _) in cards.items()}
    assert at_risk_seen  # the demo's episodes are in the page's first range: the rule was tested on them


# --- ops' export of every lender's failures (issue 12, point 12) -----------------------------------


def _failures(engine, lender_id: int | None = None) -> int:
    """Failures as the log's export defines them, counted straight from the table (the world's
    messages all fall in the page's first range)."""
    where = [or_(Message.send_status == "failed", Message.delivery_status == "NOT_DELIVERED")]
    if lender_id is not None:
        where.append(Message.lender_id == lender_id)
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(Message).where(*where)).scalar_one()


def _export_text(at: AppTest) -> tuple[list[str], str]:
    """The export expanders' labels, and the text inside them."""
    boxes = [e for e in at.expander if e.label.startswith("Export failures as CSV")]
    inside = "\n".join(str(getattr(n, "value", "")) for box in boxes for n in _walk(box) if getattr(n, "value", None) is not None)
    return [e.label for e in boxes], inside


def test_a_closed_export_panel_counts_nothing_until_it_is_opened(demo, monkeypatch):
    """For ops the panel counts every lender's failures over the period: while it is closed (as the
    page first loads) nothing of it runs."""
    from commlog.ui import export_panel

    counted: list[int] = []
    real = export_panel.count_failures
    monkeypatch.setattr(export_panel, "count_failures", lambda *a, **k: counted.append(real(*a, **k)) or counted[-1])
    at = run_as(demo["ops_user"], export_open=False)
    labels, inside = _export_text(at)
    assert labels == ["Export failures as CSV · All lenders"] and inside == "" and counted == []
    at.session_state[PERIOD_EXPORT_OPEN] = True  # the user opens it
    at.run()
    labels, inside = _export_text(at)
    assert len(counted) == 1 and f"**{counted[0]:,}** failures match" in inside


def test_ops_export_every_lenders_failures_and_a_lender_admin_only_their_own(demo, sqlite_engine):
    at = run_as(demo["ops_user"])
    labels, inside = _export_text(at)
    total = _failures(sqlite_engine)
    assert labels == ["Export failures as CSV · All lenders"]
    assert f"**{total:,}** failures match" in inside and "Rows from: All lenders" in inside
    assert total == 17 + 54 + 6 + 10  # alpha's blocks, bravo's, the others' and tiny's bounces

    at.selectbox(key="dlv_lender").select(demo["bravo"]).run()  # a chosen lender: that lender's failures
    labels, inside = _export_text(at)
    assert labels == ["Export failures as CSV · Bravo Credit"] and f"**{_failures(sqlite_engine, demo['bravo']):,}** failures" in inside

    admin = run_as(demo["alpha_admin"])
    labels, inside = _export_text(admin)
    assert labels == ["Export failures as CSV · Alpha Lending"]
    assert f"**{_failures(sqlite_engine, demo['alpha']):,}** failures match" in inside
    assert "All lenders" not in inside and "all-lenders" not in inside
    assert [b.label for b in admin.button if b.label.startswith("Download")] == ["Download failures CSV"]  # one export: their own


def test_ops_all_lenders_download_writes_the_log_exports_audit_entry(demo, sqlite_engine, page_browser):
    at = run_as(demo["ops_user"])
    assert _audit_rows(sqlite_engine) == []  # counting is not exporting
    content, name, mime = download(at, page_browser, sqlite_engine)
    rows = list(csv.reader(io.StringIO(content.decode("utf-8"), newline="")))
    total = _failures(sqlite_engine)
    assert mime == "text/csv" and name.startswith("failures_all-lenders_") and len(rows) == total + 1
    assert {r[0] for r in rows[1:]} == {"Alpha Lending", "Bravo Credit", "Other Lender 0", "Other Lender 1", "Other Lender 2", "Tiny Loans"}
    (entry,) = _audit_rows(sqlite_engine)
    assert entry.scope == "All lenders" and entry.lender_id is None
    assert entry.action == "export" and entry.user_email == "ops@example.com" and entry.row_count == total
    assert entry.filters["span"] == "all" and entry.filters["source"] == "page" and entry.filters["tz"] == "UTC"
    assert entry.filters["view"]["range"] == "custom" and "lender" not in entry.filters["view"]
    assert entry.filters["filter"]["since"].endswith("T00:00:00Z") and "lender_id" not in entry.filters["filter"]
    assert f"failures CSV {name} from the page: complete" == entry.detail


def _audit_rows(engine) -> list:
    ops = Principal(1, "ops@example.com", Role.OPS, None)
    with engine.connect() as conn:
        return list_audit(conn, ops, AuditFilter()).rows


@pytest.mark.parametrize("who", ["ops_user", "alpha_admin"])
def test_only_the_open_tab_is_drawn_and_each_tab_draws_when_opened(demo, who):
    """The page builds the open tab's charts and tables only; opening each tab in turn draws it,
    and a remembered tab this viewer is not offered (ops' label, for an admin) opens the first."""
    at = run_as(demo[who])
    ops = who == "ops_user"
    labels = tab_labels(ops)
    expected = {  # each tab's own content: charts, and a word only it shows
        labels[0]: (0, "One verdict per lender for these dates"),
        labels[1]: (3 if ops else 2, "Click a point to open that period in the log"),
        labels[2]: (1, "darkest red at"),
        labels[3]: (3, "Account confirmations go to addresses nobody has verified yet"),
        labels[4]: (0, "Top bouncing recipient domains"),
    }
    assert labels[0] == "Health and findings" and expected[labels[0]][1] in sent_to_browser(at)  # open first
    for label in [*labels[1:], labels[0]]:
        opened = open_tab(at, label)
        charts, words = expected[label]
        text = sent_to_browser(opened)
        assert len(chart_specs(opened)) == charts, label
        assert words in text, label
        assert not any(other_words in text for other, (_, other_words) in expected.items() if other != label), label
    at.session_state[TAB_KEY] = "Lenders × providers"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    if not ops:  # not offered to an admin: the first tab instead
        assert expected[labels[0]][1] in sent_to_browser(at) and len(chart_specs(at)) == expected[labels[0]][0]


def test_a_rate_chart_of_the_same_figures_is_built_once_and_each_lenders_own(demo, monkeypatch):
    """Altair took about 90 ms to build the rate chart, on every run that drew it. Switching the
    Rate back draws the chart of those figures without building it again, as the same spec with
    the same data; another lender's figures get a chart of their own, with nothing of the first."""
    from commlog.ui.deliverability import charts

    built: list[str] = []
    original = charts.rate_chart

    def counting(frame, **options):
        built.append(options["metric_label"])
        return original(frame, **options)

    monkeypatch.setattr(charts, "rate_chart", counting)
    at = run_as(demo["alpha_admin"])
    assert built == []  # health and findings open first: no chart yet
    at = open_tab(at, RATES)
    bounce_spec, bounce_data = chart_specs(at)[0], chart_data(at)
    assert built == ["Bounce rate"]
    at.session_state["dlv_metric"] = "block"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert built == ["Bounce rate", "Block rate"]
    assert chart_specs(at)[0] != bounce_spec
    at.session_state["dlv_metric"] = "bounce"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert built == ["Bounce rate", "Block rate"]  # back to Bounce: drawn, not built again
    assert chart_specs(at)[0] == bounce_spec and chart_data(at) == bounce_data

    tiny = open_tab(run_as(demo["tiny_admin"]), RATES)
    assert built == ["Bounce rate", "Block rate", "Bounce rate"]  # Tiny Loans' own figures: its own chart
    assert chart_specs(tiny)[0] != bounce_spec
    assert "Alpha" not in sent_to_browser(tiny)


@pytest.fixture
def rollup_reads():
    """The statements reading a rollup table, from any connection, while the test runs."""
    with rollup_reads_of() as reads:
        yield reads


def test_a_lenders_admins_share_the_figures_of_the_last_minute_and_no_other_lender_does(demo, sqlite_engine, rollup_reads):
    """The page's figures are cached for a minute per scope (ops, or one lender), not per person:
    the lender's second admin opens the page without a read of its own and sees the same figures;
    another lender's admin gets their own read and nothing of the first lender."""
    with sqlite_engine.begin() as conn:
        second = auth.add_user(conn, "second@alpha.example", "lender_admin", "alpha", PASSWORD, f.T0)
    first = open_tab(run_as(demo["alpha_admin"]), RATES)
    read_first = len(rollup_reads)
    assert read_first > 0
    again = open_tab(run_as(second), RATES)
    assert len(rollup_reads) == read_first
    assert chart_data(again) == chart_data(first)
    assert sent_to_browser(again).replace("second@alpha", "admin@alpha") == sent_to_browser(first)  # but who is signed in
    tiny = open_tab(run_as(demo["tiny_admin"]), RATES)
    assert len(rollup_reads) > read_first
    text = sent_to_browser(tiny)
    assert "Tiny Loans" in text and "Alpha" not in text
    assert {r["series"] for rows in chart_data(tiny) for r in rows if "series" in r} <= {"Tiny Loans", "Platform median"}
    ops = run_as(demo["ops_user"])
    assert len(rollup_reads) > read_first and "Bravo Credit" in sent_to_browser(ops)


def test_switching_the_rate_reads_no_figures_again(demo, rollup_reads):
    """The rate chart's series and every rate's platform median come with the tab's first run:
    switching its Rate draws the other rate's line and median without a read."""
    at = open_tab(run_as(demo["alpha_admin"]), RATES)
    bounce = {(r["series"], r["period"]): r["rate"] for rows in chart_data(at) for r in rows if "series" in r and "rate" in r}
    reads = len(rollup_reads)
    at.session_state["dlv_metric"] = "block"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(rollup_reads) == reads
    block = {(r["series"], r["period"]): r["rate"] for rows in chart_data(at) for r in rows if "series" in r and "rate" in r}
    assert block.keys() == bounce.keys() and block != bounce
    assert {series for series, _ in block} == {"Alpha Lending", "Platform median"}


def _picked(at: AppTest, column: str, row: int) -> AppTest:
    """Select a row of the table with this column, as a click on it does."""
    table = next(df for df in at.dataframe if column in getattr(df.value, "columns", []))
    at.session_state[table.key] = {"selection": {"rows": [row], "columns": [], "cells": []}}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _log_links(at: AppTest) -> list[str]:
    return [el.proto.label for el in at.get("page_link") if el.proto.label.startswith("Open bounces to")]


def test_a_picked_domain_is_never_carried_over_to_another_when_the_ranking_changes(sqlite_engine, sqlite_url, monkeypatch):
    """The top bouncing domains are read again every minute; when their order changes, a row picked
    before (a position) must not turn into another domain's link."""
    with sqlite_engine.begin() as conn:
        lid = f.lender(conn, "alpha", "Alpha Lending")
        uid = auth.add_user(conn, "admin@alpha.example", "lender_admin", "alpha", PASSWORD, f.T0)
        bulk(conn, lid, RECENT, 5, "first.example", "bounced", "550 5.1.1 no such user")
        bulk(conn, lid, RECENT, 3, "second.example", "bounced", "550 5.1.1 no such user")
        rollups.rebuild_rollups(conn)
    monkeypatch.setenv("COMMLOG_DATABASE_URL", sqlite_url)
    at = open_tab(run_as(uid), "Domains and reasons")
    at = _picked(at, "Domain", 0)
    assert _log_links(at) == ["Open bounces to first.example in the log"]
    with sqlite_engine.begin() as conn:  # second.example now bounces most
        bulk(conn, lid, RECENT, 9, "second.example", "bounced", "550 5.1.1 no such user", at=time(11, 0))
        rollups.rebuild_rollups(conn)
    st.cache_data.clear()  # as the page's one-minute cache running out
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    table = next(df.value for df in at.dataframe if "Domain" in df.value.columns)
    assert list(table["Domain"]) == ["second.example", "first.example"]
    assert _log_links(at) == []  # nothing picked in this ranking yet
    at = _picked(at, "Domain", 1)
    assert _log_links(at) == ["Open bounces to first.example in the log"]


def test_a_click_on_a_point_of_the_rate_chart_offers_its_period_in_the_log(demo):
    """"Click a point to open that period in the log": the click's selection, as the browser sends
    it for the chart drawn from its spec made once, gives a link to that day's bounces, on exact UTC
    bounds, in the lender's own logs."""
    from streamlit.elements.vega_charts import VegaLiteStateSerde

    at = open_tab(run_as(demo["alpha_admin"]), RATES)
    offered = [el.proto.label for el in at.get("page_link") if el.proto.label.startswith("Open bounce messages")]
    assert not offered  # nothing picked yet
    point = next(row for rows in chart_data(at) for row in rows
                 if {"period", "series"} <= row.keys() and row["rate"] is not None and row["series"] == "Alpha Lending")
    day = datetime.fromisoformat(point["period"][:10]).replace(tzinfo=UTC)
    click = {"selection": {"pick": [{"period": int(day.timestamp() * 1000), "series": point["series"]}]}}  # Vega-Lite: epoch ms
    at.session_state["dlv_rate_chart"] = VegaLiteStateSerde(["pick"]).deserialize(json.dumps(click))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    (link,) = [el.proto for el in at.get("page_link") if el.proto.label.startswith("Open bounce messages")]
    assert link.label == f"Open bounce messages from {day:%d %b} to {day:%d %b} in the log"
    params = dict(parse_qsl(link.query_string))
    assert params["sent_from"] == f"{day:%Y-%m-%d}T00:00Z" and params["sent_to"] == f"{day + timedelta(days=1):%Y-%m-%d}T00:00Z"
    assert params["delivery"] == "NOT_DELIVERED" and params["event"] == "BOUNCE"
    assert params["account"] == "all"

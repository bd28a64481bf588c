"""From a Deliverability finding to the log it links to, as viewers in three time zones: the log
lists the messages the finding counts (its link carries exact UTC bounds), names those bounds,
applies the finding's Mailbox provider filter, and gives the usual Sent choices back on request."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

import pytest
from streamlit.testing.v1 import AppTest

from commlog import auth
from tests.support import factories as f
from tests.support.app import ROOT, page_text
from tests.support.deliverability_world import EDGE_BLOCKED, build_midnight_edges

PASSWORD = "correct horse battery"
ZONES = ("America/Los_Angeles", "UTC", "Asia/Tokyo")


@pytest.fixture(autouse=True)
def _clean_caches(clean_caches):
    """Every test here starts and ends with Streamlit's caches empty (tests/pages/conftest.py)."""


@pytest.fixture
def edges(sqlite_engine, sqlite_url, monkeypatch):
    with sqlite_engine.begin() as conn:
        ids = build_midnight_edges(conn)
        ids["ops_user"] = auth.add_user(conn, "ops@example.com", "ops", None, PASSWORD, f.T0)
    monkeypatch.setenv("COMMLOG_DATABASE_URL", sqlite_url)
    return ids


def deliverability(user_id: int, zone: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.context = {"timezone": zone, "locale": "en-GB"}
    at.session_state["commlog_user_id"] = user_id
    at.run()
    at.switch_page("pages/deliverability.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def microsoft_finding(at: AppTest) -> tuple[int, dict[str, str], str]:
    """Alpha's Microsoft block finding: the count it states, its link's URL parameters, and the
    caption under the link."""
    sentence = next(m.value for m in at.markdown if m.value.startswith("Microsoft blocks for Alpha Lending"))
    counted = int(re.search(r"\(([\d,]+) of [\d,]+ attempted\)", sentence).group(1).replace(",", ""))
    links = [dict(parse_qsl(link.proto.query_string)) for link in at.get("page_link")
             if link.proto.label == "Open them in the log"]
    params = next(p for p in links if p.get("family") == "microsoft" and p.get("event") == "BLOCKED")
    caption = next(c.value for c in at.caption if c.value.startswith("The log lists") and "Microsoft" in c.value)
    return counted, params, caption


def follow(at: AppTest, params: dict[str, str]) -> AppTest:
    """What clicking the link does: the log page with the link's URL parameters."""
    at.switch_page("pages/log.py")
    for key in list(at.query_params):
        del at.query_params[key]
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def shown_count(at: AppTest) -> int:
    text = next(m.value for m in at.markdown if re.match(r"\*\*[\d,]+\*\* emails? in ", m.value))
    return int(re.match(r"\*\*([\d,]+)\*\*", text).group(1).replace(",", ""))


@pytest.mark.parametrize("zone", ZONES)
def test_a_findings_link_opens_the_log_on_the_messages_it_counts_in_every_zone(edges, zone):
    at = deliverability(edges["ops_user"], zone)
    counted, params, caption = microsoft_finding(at)
    assert counted == EDGE_BLOCKED  # 16 that day, and one just after midnight and one just before, UTC
    assert (params["sent_from"], params["sent_to"]) == ("2026-11-17T00:00Z", "2026-11-24T00:00Z")
    # The text says what the link's log shows: the provider filter is applied, not missing.
    assert "no provider filter" not in page_text(at)
    assert caption == (f"The log lists the {counted} blocked (BLOCKED) emails to Microsoft mailboxes (Mailbox provider: "
                       "Microsoft) sent 17–23 Nov, whole UTC days: the ones counted here.")

    follow(at, params)
    assert shown_count(at) == counted, zone
    assert at.selectbox(key="log_family").value == "microsoft"  # Mailbox provider: Microsoft
    assert at.selectbox(key="log_event").value == "BLOCKED"
    assert at.selectbox(key="log_range").value == "utc"
    label = " ".join(i.value for i in at.info)
    assert "Sent 17 Nov 00:00 – 24 Nov 00:00 UTC" in label and "whole UTC send days (here 17–23 Nov)" in label
    if zone != "UTC":  # and the same bounds in the viewer's own zone
        assert f"(in {zone}: " in label
    assert (at.query_params["sent_from"], at.query_params["sent_to"]) == (params["sent_from"], params["sent_to"])  # kept in the URL


def test_clearing_the_exact_bounds_brings_back_the_usual_sent_choices(edges):
    at = deliverability(edges["ops_user"], "Asia/Tokyo")
    _, params, _ = microsoft_finding(at)
    follow(at, params)
    assert "Exact UTC times" in at.selectbox(key="log_range").options
    at.button(key="log_clear_exact").click().run()
    assert not at.exception
    sent = at.selectbox(key="log_range")
    assert sent.value == "30d" and "Exact UTC times" not in sent.options  # the remembered value fell back
    assert not any("UTC" in i.value for i in at.info)
    assert "sent_from" not in at.query_params and "sent_to" not in at.query_params
    assert at.selectbox(key="log_family").value == "microsoft"  # the other filters stay


def test_bad_exact_bounds_say_so_and_change_nothing(edges):
    at = deliverability(edges["ops_user"], "America/Los_Angeles")
    _, params, _ = microsoft_finding(at)
    follow(at, {**params, "sent_from": "2026-11-17 00:00", "range": "7d"})
    notices = " ".join(w.value for w in at.warning).replace("\\", "")  # Markdown escapes of the URL's text
    assert "written like 2026-11-20T00:00Z (UTC)" in notices
    sent = at.selectbox(key="log_range")
    assert sent.value == "7d" and "Exact UTC times" not in sent.options
    assert not any("UTC" in i.value for i in at.info)

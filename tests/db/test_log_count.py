"""How many emails the log says it holds: exact up to log_queries.COUNT_LIMIT, above it "about N"
(PostgreSQL's estimate) with the exact count on request; exact always for a figure's link, and
always on SQLite."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from commlog import log_queries
from commlog.db import is_postgresql
from commlog.log_queries import fetch_log_page
from commlog.log_view import EXACT
from commlog.principal import Principal, Role
from commlog.unit_of_work import platform_writing, reading
from tests.support import factories as f
from tests.support.factories import T0, log_query

EMAILS = 23


@pytest.fixture
def log(engine):
    with platform_writing(engine) as c:
        lender = f.lender(c, "count-lender")
        ids = [f.message(c, lender, f"b{i}@example.com", sent_at=T0 - timedelta(minutes=i)) for i in range(EMAILS)]
        if is_postgresql(c):
            c.execute(text("ANALYZE message"))
    return lender, ids, Principal(1, "admin@count.example", Role.LENDER_ADMIN, lender)


def test_a_log_within_the_limit_is_counted_exactly(engine, log):
    lender, ids, principal = log
    with reading(engine, principal) as c:
        page = fetch_log_page(c, principal, log_query(lender, page_size=10))
    assert (page.total, page.exact, [r["id"] for r in page.rows]) == (EMAILS, True, ids[:10])


def test_above_the_limit_postgresql_says_about_and_sqlite_still_counts(engine, log, monkeypatch):
    lender, ids, principal = log
    monkeypatch.setattr(log_queries, "COUNT_LIMIT", 5)
    with reading(engine, principal) as c:
        page = fetch_log_page(c, principal, log_query(lender, page_size=10))
        asked = fetch_log_page(c, principal, log_query(lender, page_size=10), exact=True)
    assert [r["id"] for r in page.rows] == ids[:10]  # the emails listed are exact either way
    if is_postgresql(engine):
        assert not page.exact and page.total > 5
    else:
        assert (page.total, page.exact) == (EMAILS, True)
    assert (asked.total, asked.exact) == (EMAILS, True)


def test_a_figures_link_is_always_counted_exactly(engine, log, monkeypatch):
    lender, _ids, principal = log
    monkeypatch.setattr(log_queries, "COUNT_LIMIT", 5)
    start, end = T0 - timedelta(days=1), T0 + timedelta(minutes=1)
    q = log_query(lender, start, end, range=EXACT, sent_from=start, sent_to=end)
    assert q.view.sent_from is not None
    with reading(engine, principal) as c:
        page = fetch_log_page(c, principal, q)
    assert (page.total, page.exact) == (EMAILS, True)


def test_a_page_past_the_end_of_an_estimate_falls_back_to_the_real_last_page(engine, log, monkeypatch):
    lender, ids, principal = log
    monkeypatch.setattr(log_queries, "COUNT_LIMIT", 5)
    monkeypatch.setattr(log_queries, "estimated_rows", lambda *_a: 500)  # the planner guessed far too many
    with reading(engine, principal) as c:
        page = fetch_log_page(c, principal, log_query(lender, page_size=10, page=40))
    assert (page.page, page.total, page.exact) == (3, EMAILS, True)
    assert [r["id"] for r in page.rows] == ids[20:]

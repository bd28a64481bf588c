"""The log's count on PostgreSQL when more emails match than it counts exactly (log_queries.
COUNT_LIMIT, lowered here): "About N", why, and "Count exactly" that counts this view exactly."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from sqlalchemy import text

from commlog import log_queries
from tests.support.app import app, build_two_lenders, page_text


@pytest.fixture
def world(pg_engine, pg_database_url, monkeypatch):
    with pg_engine.connect() as c:
        schema = c.execute(text("SELECT current_schema()")).scalar_one()
    monkeypatch.setenv("COMMLOG_DATABASE_URL", f"{pg_database_url}?options={quote(f'-csearch_path={schema}')}")
    monkeypatch.setenv("COMMLOG_PROVIDER", "sandbox")
    w = build_two_lenders(pg_engine)
    with pg_engine.begin() as c:
        c.execute(text("ANALYZE message"))
        w["lender_log"] = c.execute(text("SELECT count(*) FROM message WHERE lender_id = :a AND log_account_id IS NULL"),
                                    {"a": w["a"]}).scalar_one()
    return w


def test_a_big_log_says_about_and_counts_exactly_on_request(world, monkeypatch):
    monkeypatch.setattr(log_queries, "COUNT_LIMIT", 1)
    at = app("pages/log.py", world["users"]["admin_a"]).run()
    assert not at.exception
    shown = page_text(at)
    assert "About " in shown and "the number is the database's estimate" in shown
    assert f"**{world['lender_log']}** emails" not in [m.value for m in at.markdown][0:3]
    at.button(key="log_count_exactly").click().run()
    assert not at.exception
    after = page_text(at)
    assert f"**{world['lender_log']}** emails in Alpha Lending: lender's own log" in after
    assert "About " not in after and "Count exactly" not in after


def test_within_the_limit_the_count_is_exact_and_no_button(world):
    at = app("pages/log.py", world["users"]["admin_a"]).run()
    assert not at.exception
    assert f"**{world['lender_log']}** emails in Alpha Lending: lender's own log" in page_text(at)
    assert "Count exactly" not in [b.label for b in at.button]

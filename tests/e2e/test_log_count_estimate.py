"""A lender admin opens every log of a lender holding more emails than the log counts exactly
(commlog.log_queries.COUNT_LIMIT), on PostgreSQL: the page says "About N", why, and offers "Count
exactly"; the count is exact after the click and stays so on the next page; a filter that narrows
the log below the limit counts exactly again. SQLite (the demo the other browser tests use) always
counts exactly."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import create_engine, text

from commlog.log_queries import COUNT_LIMIT
from tests.e2e.servers import StreamlitServer, clean_env, seeded_pg_database
from tests.e2e.support import choose, expect_no_error, login, main_text, open_app, screenshot, wait_for_run

pytestmark = pytest.mark.e2e
SEED_ARGS = ["--lenders", "1", "--borrowers", "400", "--messages", str(COUNT_LIMIT + 4000), "--days", "25", "--seed", "5"]
ABOUT = re.compile(r"About ([\d,]+) emails in ")
EXACT = re.compile(r"([\d,]+) emails in ")


@pytest.fixture(scope="module")
def big_log(tmp_path_factory):
    with seeded_pg_database("commlog_e2e_count", SEED_ARGS) as (db, password, logins):
        engine = create_engine(db.url)
        with engine.connect() as c:
            total = c.execute(text("SELECT count(*) FROM message")).scalar_one()
        engine.dispose()
        server = StreamlitServer(clean_env() | {"COMMLOG_DATABASE_URL": db.url, "COMMLOG_PROVIDER": "sandbox"},
                                 tmp_path_factory.mktemp("count") / "server.log").start()
        admin = next(e for e, (role, _slug) in logins.items() if role == "lender_admin")
        yield server, admin, password, total
        server.stop()


def test_a_big_log_says_about_and_counts_exactly_when_asked(big_log, page):
    server, admin, password, total = big_log
    assert total > COUNT_LIMIT
    open_app(page, server.url("/log?account=all"))  # the last 30 days (the default) hold every seeded email
    login(page, admin, password)
    main = page.get_by_test_id("stMain")
    expect(main).to_contain_text(re.compile(r"About [\d,]+ emails in all of .+'s logs"))
    about = int(ABOUT.search(main_text(page)).group(1).replace(",", ""))
    assert abs(about - total) <= total * 0.3, (about, total)  # the planner's estimate, rounded
    expect(main).to_contain_text("the number is the database's estimate")
    expect(main).to_contain_text(re.compile(r"Page 1 of about [\d,]+\."))
    screenshot(page, "log-about-count")

    page.get_by_role("button", name="Count exactly").click()
    wait_for_run(page)
    expect(main).to_contain_text(f"{total:,} emails in all of")
    expect(page.get_by_role("button", name="Count exactly")).to_have_count(0)
    page.get_by_test_id("stPaginationNext").click()
    wait_for_run(page)
    expect(main).to_contain_text(f"{total:,} emails in all of")
    expect(main).to_contain_text("Page 2 of")

    choose(page, "Delivery status", "NOT_DELIVERED")  # a narrower view: under the limit, exact
    expect(main).to_contain_text(EXACT)
    assert "About " not in main_text(page)
    assert int(EXACT.search(main_text(page)).group(1).replace(",", "")) < COUNT_LIMIT
    expect_no_error(page)
    assert server.incidents() == []

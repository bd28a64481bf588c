"""The Email type filter's choices (commlog.rollups.email_types, for the log and Deliverability):
the types a lender has sent, from the day asked on, zero counts left out, another lender's never;
found by seeking each next type in the rollups' index by lender and email type (migration 0015),
not by reading the lender's whole history of rollups, which grows every day. SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import date, timedelta

from sqlalchemy import Engine, event, insert

from commlog import rollups
from commlog.db import is_postgresql
from commlog.models import DailyRollup
from tests.support import factories as f

FIRST_DAY = date(2025, 1, 1)
DAYS = 400  # more than a year of history
EVERY_DAY = ("account_confirmation", "password_reset")


def _world(c) -> tuple[int, int, date]:
    """Lender A: two types sent every day of 400, for both audiences and two mailbox families; one
    type sent only on its first ten days; one whose rows were all counted back to zero. Lender B:
    a type of its own."""
    a, b = f.lender(c, "lender-a", "Lender A"), f.lender(c, "lender-b", "Lender B")
    row = dict(lender_id=a, outcome="delivered", deferred=0, count=3)
    rows = [row | {"day": FIRST_DAY + timedelta(days=d), "email_type": t, "audience": aud, "provider_family": fam}
            for d in range(DAYS) for t in EVERY_DAY for aud in ("borrower", "staff") for fam in ("google", "microsoft")]
    rows += [row | {"day": FIRST_DAY + timedelta(days=d), "email_type": "welcome_letter", "audience": "borrower",
                    "provider_family": "google"} for d in range(10)]
    rows += [row | {"day": FIRST_DAY + timedelta(days=d), "email_type": "payment_failed", "audience": "borrower",
                    "provider_family": "google", "count": 0} for d in range(300, 310)]
    rows += [row | {"lender_id": b, "day": FIRST_DAY + timedelta(days=d), "email_type": "loan_statement", "audience": "borrower",
                    "provider_family": "google"} for d in range(DAYS)]
    for i in range(0, len(rows), 2000):
        c.execute(insert(DailyRollup), rows[i:i + 2000])
    return a, b, FIRST_DAY + timedelta(days=100)


def test_the_choices_are_the_types_the_lender_sent_from_the_day_asked_on(engine: Engine):
    with engine.begin() as c:
        a, b, since = _world(c)
    with engine.connect() as c:
        assert rollups.email_types(c, a, since=since) == list(EVERY_DAY)  # welcome letters only before it
        assert rollups.email_types(c, a) == [*EVERY_DAY, "welcome_letter"]  # payment_failed: counted back to zero
        assert rollups.email_types(c, b, since=since) == ["loan_statement"]
        assert rollups.email_types(c, a, since=FIRST_DAY + timedelta(days=DAYS)) == []  # nothing sent from then on
        assert rollups.email_types(c, None) == sorted([*EVERY_DAY, "loan_statement", "welcome_letter"])  # ops: every lender
        assert rollups.email_types(c, 0) == []  # a lender with no rollups


def _rollup_rows_read(c, sql: str, params) -> tuple[int, str]:
    """PostgreSQL: how many daily_rollup rows the statement's plan read (index and table nodes, every
    loop), and the plan as text."""
    plan = c.exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params).scalar_one()
    plan = plan if isinstance(plan, list) else json.loads(plan)
    read = 0

    def walk(node):
        nonlocal read
        if node.get("Relation Name") == "daily_rollup":
            read += int(node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)
                        + node.get("Rows Removed by Index Recheck", 0)) * int(node.get("Actual Loops", 1))
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return read, json.dumps(plan)


def test_the_choices_are_found_by_seeking_each_type_not_by_reading_the_lenders_history(engine: Engine):
    with engine.begin() as c:
        a, _b, since = _world(c)
        c.exec_driver_sql("ANALYZE")
    statements = []
    with engine.begin() as c:
        event.listen(c, "before_cursor_execute", lambda conn, cursor, sql, params, *_: statements.append((sql, params)))
        assert rollups.email_types(c, a, since=since) == list(EVERY_DAY)
    (sql, params), = statements
    with engine.connect() as c:
        if is_postgresql(c):
            read, plan = _rollup_rows_read(c, sql, params)
            assert read <= 20, plan  # a few rows per type: the lender has 3,220 rollup rows
            assert "ix_daily_rollup_lender_type" in plan
        else:
            plan = "\n".join(str(r[-1]) for r in c.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params).all())
            scans = {line.strip() for line in plan.splitlines() if line.strip().startswith("SCAN")}
            assert scans <= {"SCAN types", "SCAN CONSTANT ROW"}, plan  # every read of daily_rollup is a search
            assert "ix_daily_rollup_lender_type (lender_id=? AND email_type>?)" in plan, plan  # the seek to the next type

"""The expiry of PENDING messages (commlog.store.expire_pending), which the log page runs once a
minute per lender and app server in the run of the page someone opened: it finds the few PENDING
messages through their own index (migration 0014), not by reading the lender's whole log, and
expires exactly those whose retry window has ended, of that lender only. SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import Engine, event, insert, select

from commlog.db import is_postgresql
from commlog.models import Message
from commlog.status import RETRY_WINDOW
from commlog.store import expire_pending
from tests.support import factories as f
from tests.support.factories import T0

DELIVERED_ROWS = 20_000  # the lender's delivered log, which the expiry must not read


def _world(c) -> tuple[int, int, list[int], list[int], int]:
    """Two lenders. Lender A: a big delivered log, two PENDING messages past their retry window and
    one inside it; lender B: one PENDING message past it."""
    a, b = f.lender(c, "lender-a", "Lender A"), f.lender(c, "lender-b", "Lender B")
    now = T0 + timedelta(days=10)
    template = dict(lender_id=a, audience="borrower", email_type="account_confirmation", subject="Confirm",
                    recipient_email="someone@example.org", recipient_domain="example.org", provider_family="other",
                    send_status="sent", provider="sendgrid", event_mask=0, delivery_status="DELIVERED")
    c.execute(insert(Message), [template | {"sent_at": T0 + timedelta(seconds=i), "provider_message_id": f"bulk-{i}"}
                                for i in range(DELIVERED_ROWS)])
    past, recent = now - RETRY_WINDOW - timedelta(hours=1), now - timedelta(hours=1)
    expired = [f.message(c, a, "late@example.org", sent_at=past), f.message(c, a, "later@example.org", sent_at=past)]
    waiting = [f.message(c, a, "soon@example.org", sent_at=recent)]
    other = f.message(c, b, "b@example.org", sent_at=past)
    for mid, lender, sent in [(m, a, past) for m in expired] + [(waiting[0], a, recent), (other, b, past)]:
        # deferred when sent, as stored through the real write path: PENDING, its retry window open
        f.events(c, mid, lender, ("DEFERRED", f.minutes(sent), "421 4.7.0 try again later"), now=sent + timedelta(minutes=5))
    return a, b, expired, waiting, other


def _plan_of(c, statement: str, params) -> tuple[set[str], str]:
    """The indexes the database's plan for `statement` reads, and the plan as text."""
    if is_postgresql(c):
        plan = c.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, params).scalar_one()
        plan = plan if isinstance(plan, list) else json.loads(plan)
        names: set[str] = set()

        def walk(node):
            if "Index Name" in node:
                names.add(node["Index Name"])
            for child in node.get("Plans", []):
                walk(child)

        walk(plan[0]["Plan"])
        return names, json.dumps(plan)
    rows = c.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params).all()
    text = "\n".join(str(r[-1]) for r in rows)
    return {word for word in text.replace("(", " ").split() if word.startswith("ix_")}, text


def _pending_index_names(c) -> set[str]:
    """ix_message_pending, and on PostgreSQL its copy on every partition of `message`."""
    if not is_postgresql(c):
        return {"ix_message_pending"}
    return {"ix_message_pending", *c.exec_driver_sql(
        "SELECT child.relname FROM pg_inherits i JOIN pg_class child ON child.oid = i.inhrelid "
        "JOIN pg_class parent ON parent.oid = i.inhparent WHERE parent.relname = 'ix_message_pending'").scalars()}


def test_the_expiry_reads_the_pending_messages_index_not_the_lenders_log(engine: Engine):
    with engine.begin() as c:
        a, _b, _expired, _waiting, _other = _world(c)
        c.exec_driver_sql("ANALYZE")
    statements = []
    with engine.begin() as c:
        event.listen(c, "before_cursor_execute", lambda conn, cursor, sql, params, *_: statements.append((sql, params)))
        expire_pending(c, T0 + timedelta(days=10), a)
    sql, params = next((s, p) for s, p in statements if s.lstrip().upper().startswith("SELECT") and "delivery_status" in s)
    with engine.connect() as c:
        used, plan = _plan_of(c, sql, params)
        pending = _pending_index_names(c)
    assert used and used <= pending, plan


def test_the_expiry_turns_exactly_the_lenders_overdue_pending_messages_not_delivered(engine: Engine):
    with engine.begin() as c:
        a, _b, expired, waiting, other = _world(c)
    with engine.begin() as c:
        assert expire_pending(c, T0 + timedelta(days=10), a) == 2
    with engine.connect() as c:
        status = dict(c.execute(select(Message.id, Message.delivery_status)
                                .where(Message.id.in_([*expired, *waiting, other]))).all())
        delivered = c.execute(select(Message.id).where(Message.lender_id == a, Message.delivery_status != "DELIVERED",
                                                       Message.id.not_in([*expired, *waiting]))).all()
    assert [status[i] for i in expired] == ["NOT_DELIVERED", "NOT_DELIVERED"]
    assert status[waiting[0]] == "PENDING"  # still inside its retry window
    assert status[other] == "PENDING"  # another lender's: not this lender's expiry
    assert delivered == []

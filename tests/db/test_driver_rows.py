"""commlog.driver_rows: the driver's own rows for a statement are SQLAlchemy's rows, bind for bind."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from commlog.driver_rows import driver_row_chunks
from commlog.models import Message
from tests.support import factories as f


def _world(engine, now):
    with engine.begin() as c:
        a = f.lender(c, "acme")
        b = f.lender(c, "bravo")
        for i in range(30):
            f.message(c, a if i % 3 else b, f"user{i}@{'gmail.com' if i % 2 else 'yahoo.com'}",
                      subject=f"100% off_{i} \"quoted\", and 'more'", sent_at=now - timedelta(hours=i))
    return a, b


def test_the_drivers_rows_are_sqlalchemys_rows(engine, now):
    """Datetime binds (UTC text on SQLite), LIKE with escapes, expanded IN lists, integers."""
    a, _ = _world(engine, now)
    stmt = (
        select(Message.id, Message.subject, func.lower(Message.recipient_email))
        .where(Message.lender_id == a)
        .where(Message.sent_at >= now - timedelta(hours=20), Message.sent_at < now - timedelta(hours=2))
        .where(Message.subject.contains("100% off_", autoescape=True))
        .where(Message.recipient_domain.in_(["gmail.com", "yahoo.com", "nowhere.example"]))
        .order_by(Message.id)
    )
    with engine.connect() as c:
        expected = [tuple(r) for r in c.execute(stmt)]
        chunks = list(driver_row_chunks(c, stmt, 4))
    assert len(expected) == 12  # hours 2..19, two thirds of them lender a's
    assert [tuple(r) for chunk in chunks for r in chunk] == expected
    assert [len(chunk) for chunk in chunks] == [4, 4, 4]


def test_nothing_matches_gives_no_chunk(engine, now):
    _world(engine, now)
    with engine.connect() as c:
        assert list(driver_row_chunks(c, select(Message.id).where(Message.lender_id == -1), 10)) == []
        # the connection is still good for the next query
        assert c.execute(select(func.count()).select_from(Message)).scalar_one() == 30

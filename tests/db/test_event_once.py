"""An event is stored once by its provider and provider event id, whatever time each report gives
it: the Email Logs API may round to the second a time the webhook gave to the microsecond
(commlog.store.store_events; on PostgreSQL the table's own key also holds the time, as its monthly
partitions require)."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import func, select

from commlog.models import DeliveryEvent, Message
from commlog.store import NewEvent, record_events
from commlog.unit_of_work import platform_writing
from commlog.vocabulary import DeliveryStatus
from tests.support import factories as f
from tests.support.factories import T0


def _event(mid: int, lender: int, at) -> NewEvent:
    return NewEvent(message_id=mid, lender_id=lender, event_type="DELIVERED", occurred_at=at, provider="sendgrid",
                    provider_event_id="sg-evt-1", raw_type="delivered")


def test_the_same_event_with_a_rounded_time_is_stored_once(engine):
    with platform_writing(engine) as c:
        lender = f.lender(c, "once")
        mid = f.message(c, lender, "ana@example.com")
        precise = T0 + timedelta(minutes=1, microseconds=123456)
        record_events(c, [_event(mid, lender, precise)], T0)
        record_events(c, [_event(mid, lender, precise.replace(microsecond=0))], T0)
        record_events(c, [_event(mid, lender, precise), _event(mid, lender, precise.replace(microsecond=0))], T0)
        assert c.execute(select(func.count()).select_from(DeliveryEvent)).scalar_one() == 1


def test_two_writers_reporting_one_event_at_once_store_it_once(pg_engine):
    """PostgreSQL (SQLite has one writer at a time)."""
    engine = pg_engine
    with platform_writing(engine) as c:
        lender = f.lender(c, "once-concurrent")
        mid = f.message(c, lender, "ana@example.com")
    start = threading.Barrier(2)
    errors = []

    def report(at):
        try:
            with platform_writing(engine) as c:
                start.wait(10)
                record_events(c, [_event(mid, lender, at)], T0)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    precise = T0 + timedelta(minutes=1, microseconds=5)
    threads = [threading.Thread(target=report, args=(at,)) for at in (precise, precise.replace(microsecond=0))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    with platform_writing(engine) as c:
        assert c.execute(select(func.count()).select_from(DeliveryEvent)).scalar_one() == 1


def test_an_event_the_database_refuses_leaves_its_email_as_it_was(engine):
    """A report that names another email with an event id and time already stored for the first:
    the table's key refuses it, nothing is stored twice, and the second email stays as it was (not
    DELIVERED by an event it does not hold)."""
    with platform_writing(engine) as c:
        lender = f.lender(c, "refused")
        first = f.message(c, lender, "ana@example.com")
        second = f.message(c, lender, "bo@example.com")
        at = T0 + timedelta(minutes=1)
        assert record_events(c, [_event(first, lender, at)], T0) == {first: DeliveryStatus.DELIVERED}
        statuses = record_events(c, [_event(second, lender, at)], T0)
        assert statuses == {}  # nothing known of the second email: still "not checked yet"
        rows = c.execute(select(Message.id, Message.delivery_status).where(Message.id.in_([first, second])).order_by(Message.id)).all()
        assert [tuple(r) for r in rows] == [(first, "DELIVERED"), (second, None)]
        assert c.execute(select(func.count()).select_from(DeliveryEvent)).scalar_one() == 1

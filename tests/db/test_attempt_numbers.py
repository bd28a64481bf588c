"""Attempt numbers stored before the one convention (normalize.delivery_attempt): migration 0007
clears the numbers that were no try number, on SQLite and PostgreSQL, and keeps the deferrals'."""

from __future__ import annotations

from datetime import timedelta

from alembic import command
from sqlalchemy import select

from commlog.migrate import alembic_config, upgrade
from commlog.models import DeliveryEvent
from commlog.store import NewEvent, insert_events
from tests.support import factories as f
from tests.support.factories import T0


def test_migration_0007_keeps_try_numbers_on_deferrals_only(engine):
    with engine.begin() as c:
        a = f.lender(c, "acme", "Acme Lending")
        mid = f.message(c, a, "p@gmail.com")
        command.downgrade(alembic_config(c), "0006")
    stored_before = [("PROCESSED", 0), ("DEFERRED", 1), ("DEFERRED", 2), ("DEFERRED", 0), ("DELIVERED", 3), ("BOUNCE", 1),
                     ("OPEN", None)]
    with engine.begin() as c:
        insert_events(c, [
            NewEvent(mid, a, etype, T0 + timedelta(minutes=i), "sendgrid", f"e{i}", attempt=attempt)
            for i, (etype, attempt) in enumerate(stored_before)
        ], T0)
    upgrade(engine)
    with engine.connect() as c:
        got = c.execute(select(DeliveryEvent.event_type, DeliveryEvent.attempt).order_by(DeliveryEvent.occurred_at)).all()
    assert [tuple(r) for r in got] == [("PROCESSED", None), ("DEFERRED", 1), ("DEFERRED", 2), ("DEFERRED", None),
                                       ("DELIVERED", None), ("BOUNCE", None), ("OPEN", None)]

"""Attempt numbers stored before the one convention (normalize.delivery_attempt): migration 0007
clears the numbers that were no try number, on SQLite and PostgreSQL, and keeps the deferrals'."""

from __future__ import annotations

from datetime import timedelta

from alembic import command
from sqlalchemy import insert, select

from commlog.migrate import alembic_config, upgrade
from commlog.models import DeliveryEvent
from tests.support import factories as f
from tests.support.factories import T0


def test_migration_0007_keeps_try_numbers_on_deferrals_only(engine):
    with engine.begin() as c:
        a = f.lender(c, "acme", "Acme Lending")
        mid = f.message(c, a, "p@gmail.com")
        command.downgrade(alembic_config(c), "0006")
    stored_before = [("PROCESSED", 0), ("DEFERRED", 1), ("DEFERRED", 2), ("DEFERRED", 0), ("DELIVERED", 3), ("BOUNCE", 1),
                     ("OPEN", None)]
    with engine.begin() as c:  # as rows were stored then (today's write path keys events as 0012 does)
        c.execute(insert(DeliveryEvent), [
            dict(lender_id=a, message_id=mid, event_type=etype, occurred_at=T0 + timedelta(minutes=i), provider="sendgrid",
                 provider_event_id=f"e{i}", attempt=attempt, ingested_at=T0)
            for i, (etype, attempt) in enumerate(stored_before)
        ])
    upgrade(engine)
    with engine.connect() as c:
        got = c.execute(select(DeliveryEvent.event_type, DeliveryEvent.attempt).order_by(DeliveryEvent.occurred_at)).all()
    assert [tuple(r) for r in got] == [("PROCESSED", None), ("DEFERRED", 1), ("DEFERRED", 2), ("DEFERRED", None),
                                       ("DELIVERED", None), ("BOUNCE", None), ("OPEN", None)]

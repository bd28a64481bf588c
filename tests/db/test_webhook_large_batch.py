"""A batch naming more messages than one IN list holds on SQLite (commlog.webhooks.ingest: 500 values
a list there; on PostgreSQL one array parameter, so one query per step): every event finds its own
message, is stored once, and its replay stores nothing. Runs on SQLite and PostgreSQL (`engine`)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from commlog.models import DeliveryEvent, Message
from commlog.webhooks.ingest import IngestResult, ingest_sendgrid_batch
from tests.support import factories

N = 700  # > 500: two chunks on SQLite, for the ids, the X-Message-Id prefixes and the stored-event check


def test_a_batch_of_700_messages_is_matched_stored_once_and_replayed_harmlessly(engine, now):
    with engine.begin() as conn:
        lender = factories.lender(conn, "lender-a")
        ids = [factories.message(conn, lender, f"r{i}@example.com", provider="sendgrid", provider_message_id=f"XM{i:04d}")
               for i in range(N)]
    at = int((factories.T0 + timedelta(minutes=5)).timestamp())
    batch = [{"email": f"R{i}@example.com", "timestamp": at, "event": "delivered", "sg_event_id": f"ev-{i}",
              "sg_message_id": f"XM{i:04d}.filterdrecv-1.0"} for i in reversed(range(N))]
    assert ingest_sendgrid_batch(engine, batch, now) == IngestResult(stored=N)
    assert ingest_sendgrid_batch(engine, batch, now) == IngestResult(duplicates=N)
    with engine.connect() as conn:
        stored = dict(conn.execute(select(DeliveryEvent.provider_event_id, DeliveryEvent.message_id)).all())
        delivered = set(conn.execute(select(Message.id).where(Message.delivery_status == "DELIVERED")).scalars())
    assert stored == {f"ev-{i}": ids[i] for i in range(N)}
    assert delivered == set(ids)

"""SendGrid webhook ingestion (no HTTP): matching, idempotency, unmatched events, status updates.
Runs on SQLite and PostgreSQL (`engine` fixture)."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

import commlog.webhooks.ingest as ingest
from commlog.models import DeliveryEvent, Message, UnmatchedEvent
from commlog.vocabulary import DeliveryStatus, mask_of
from commlog.webhooks.ingest import (
    IngestResult,
    ingest_sendgrid_batch,
    match_unmatched,
    pending_unmatched,
)
from tests.support import factories

T0 = factories.T0


def sg_event(event: str, email: str, sg_message_id: str | None, minutes: float, event_id: str | None, **extra) -> dict:
    ev = {"email": email, "timestamp": int((T0 + timedelta(minutes=minutes)).timestamp()), "event": event}
    if sg_message_id is not None:
        ev["sg_message_id"] = sg_message_id
    if event_id is not None:
        ev["sg_event_id"] = event_id
    ev.update(extra)
    return ev


def count(engine, model) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model)).scalar_one()


def message_row(engine, message_id: int):
    with engine.connect() as conn:
        return conn.execute(select(Message).where(Message.id == message_id)).one()


def seed(engine, *recipients: str, pmid: str | None = None, provider: str = "sendgrid") -> tuple[int, list[int]]:
    with engine.begin() as conn:
        lender = factories.lender(conn, "lender-a")
        ids = [
            factories.message(conn, lender, r, provider=provider, provider_message_id=pmid if pmid else f"XMSG{i}")
            for i, r in enumerate(recipients)
        ]
    return lender, ids


def test_valid_batch_stored_and_status_follows_async_bounce(engine, now):
    _, (mid,) = seed(engine, "ana@example.com", pmid="XMSG0")
    full = "XMSG0.filterdrecv-5645d9c87f-abcde-1-5F8F-3.0"
    batch = [
        sg_event("processed", "ana@example.com", full, 0, "ev-1"),
        sg_event("delivered", "ana@example.com", full, 1, "ev-2", response="250 2.0.0 OK"),
    ]
    assert ingest_sendgrid_batch(engine, batch, now) == IngestResult(stored=2)
    row = message_row(engine, mid)
    assert row.delivery_status == DeliveryStatus.DELIVERED

    bounce = [
        sg_event(
            "bounce", "Ana@Example.com", full, 30, "ev-3", type="bounce", status="5.1.1",
            reason="550 5.1.1 user unknown", bounce_classification="Invalid Address",
        )
    ]
    assert ingest_sendgrid_batch(engine, bounce, now).stored == 1
    row = message_row(engine, mid)
    assert row.delivery_status == DeliveryStatus.NOT_DELIVERED
    assert row.last_event_type == "BOUNCE"
    with engine.connect() as conn:
        ev = conn.execute(select(DeliveryEvent).where(DeliveryEvent.provider_event_id == "ev-3")).one()
    assert (ev.event_type, ev.smtp_status, ev.message_id) == ("BOUNCE", "5.1.1", mid)
    assert ev.raw_type.startswith("bounce")  # SendGrid's own word (normalize may add the subtype)
    assert ev.occurred_at == T0 + timedelta(minutes=30)
    assert "user unknown" in ev.reason


def test_a_delivery_reported_after_a_later_bounce_leaves_the_email_not_delivered(engine, now):
    """A post's status refresh reads the email's events stored by earlier posts with the ones it
    brings: the bounce stored first is later than the delivery that arrives after it, and wins."""
    _, (mid,) = seed(engine, "cy@example.com", pmid="XMSG0")
    full = "XMSG0.filterdrecv-1.0"
    bounce = sg_event("bounce", "cy@example.com", full, 30, "late-1", type="bounce", status="5.1.1",
                      reason="550 5.1.1 user unknown")
    assert ingest_sendgrid_batch(engine, [bounce], now).stored == 1
    delivered = sg_event("delivered", "cy@example.com", full, 1, "early-1", response="250 2.0.0 OK")
    assert ingest_sendgrid_batch(engine, [delivered], now).stored == 1
    row = message_row(engine, mid)
    assert (row.delivery_status, row.last_event_type, row.last_event_at) == (
        DeliveryStatus.NOT_DELIVERED, "BOUNCE", T0 + timedelta(minutes=30))
    assert row.event_mask == mask_of(["DELIVERED", "BOUNCE"])
    assert "user unknown" in row.status_reason


def test_replayed_and_duplicated_batches_store_nothing_twice(engine, now):
    _, (mid,) = seed(engine, "bo@example.com")
    batch = [sg_event("delivered", "bo@example.com", "XMSG0.x.0", 1, "dup-1")]
    batch += [sg_event("open", "bo@example.com", "XMSG0.x.0", 2, "dup-2")] * 3  # repeated inside the batch
    first = ingest_sendgrid_batch(engine, batch, now)
    assert (first.stored, first.duplicates) == (2, 2)
    for _ in range(3):
        again = ingest_sendgrid_batch(engine, batch, now)
        assert (again.stored, again.duplicates, again.unmatched) == (0, 4, 0)
    assert count(engine, DeliveryEvent) == 2
    assert message_row(engine, mid).delivery_status == DeliveryStatus.DELIVERED


def test_events_without_sg_event_id_get_a_stable_id(engine, now):
    seed(engine, "cy@example.com")
    batch = [sg_event("deferred", "cy@example.com", "XMSG0.a.0", 1, None, response="421 try later", attempt="2")]
    assert ingest_sendgrid_batch(engine, batch, now).stored == 1
    assert ingest_sendgrid_batch(engine, batch, now).duplicates == 1
    with engine.connect() as conn:
        ev = conn.execute(select(DeliveryEvent)).one()
    assert ev.provider_event_id.startswith("syn:") and ev.attempt == 3 and ev.event_type == "DEFERRED"


def test_x_message_id_prefix_matches_the_right_recipient(engine, now):
    """One send to two recipients shares an X-Message-Id; the email picks the message."""
    _, (m_ana, m_bo) = seed(engine, "ana@example.com", "bo@example.com", pmid="SHARED1")
    batch = [
        sg_event("delivered", "ana@example.com", "SHARED1.filter-1.0", 1, "p-1"),
        sg_event("bounce", "bo@example.com", "SHARED1.filter-1.1", 1, "p-2", type="blocked", reason="spam"),
    ]
    assert ingest_sendgrid_batch(engine, batch, now).stored == 2
    assert message_row(engine, m_ana).delivery_status == DeliveryStatus.DELIVERED
    bo = message_row(engine, m_bo)
    assert (bo.delivery_status, bo.last_event_type) == (DeliveryStatus.NOT_DELIVERED, "BLOCKED")


def test_stored_full_id_matches_events_with_another_suffix(engine, now):
    _, (mid,) = seed(engine, "di@example.com", pmid="FULL9.filter-a.0")
    batch = [sg_event("delivered", "di@example.com", "FULL9.filter-b.7", 1, "s-1")]
    assert ingest_sendgrid_batch(engine, batch, now).stored == 1
    assert message_row(engine, mid).delivery_status == DeliveryStatus.DELIVERED


def test_commlog_message_id_custom_arg_matches_without_sg_message_id(engine, now):
    _, (mid, _other) = seed(engine, "ed@example.com", "fi@example.com")
    batch = [
        sg_event("bounce", "ed@example.com", None, 5, "c-1", type="bounce", commlog_message_id=str(mid)),
        # a custom arg naming a message of another recipient is not trusted
        sg_event("bounce", "zz@example.com", None, 5, "c-2", type="bounce", commlog_message_id=mid),
    ]
    result = ingest_sendgrid_batch(engine, batch, now)
    assert (result.stored, result.unmatched) == (1, 1)
    assert message_row(engine, mid).delivery_status == DeliveryStatus.NOT_DELIVERED


def test_message_of_another_provider_is_not_matched(engine, now):
    seed(engine, "gu@example.com", pmid="PM1", provider="postmark")
    result = ingest_sendgrid_batch(engine, [sg_event("delivered", "gu@example.com", "PM1.x.0", 1, "o-1")], now)
    assert (result.stored, result.unmatched) == (0, 1)


def test_malformed_events_are_rejected_not_fatal(engine, now):
    seed(engine, "ha@example.com")
    good = sg_event("delivered", "ha@example.com", "XMSG0.x.0", 1, "m-ok")
    bad = [
        {k: v for k, v in good.items() if k != "event"} | {"sg_event_id": "m-1"},
        {k: v for k, v in good.items() if k != "email"} | {"sg_event_id": "m-2"},
        {k: v for k, v in good.items() if k != "timestamp"} | {"sg_event_id": "m-3"},
        good | {"timestamp": "yesterday", "sg_event_id": "m-4"},
        "not an object",
        None,
        [1, 2],
    ]
    result = ingest_sendgrid_batch(engine, [*bad, good], now)
    assert result == IngestResult(stored=1, rejected=len(bad))
    assert count(engine, DeliveryEvent) == 1 and count(engine, UnmatchedEvent) == 0
    assert ingest_sendgrid_batch(engine, [], now) == IngestResult()


def test_unknown_message_kept_then_matched_once_it_exists(engine, now):
    early = [
        sg_event("processed", "iv@example.com", "LATE1.f.0", 0, "u-1"),
        sg_event("deferred", "iv@example.com", "LATE1.f.0", 1, "u-2", response="451 greylisted", attempt="1"),
        sg_event("delivered", "iv@example.com", "LATE1.f.0", 5, "u-3"),
        sg_event("bounce", "nobody@example.com", None, 5, "u-4", type="bounce"),  # no id at all: stays kept
    ]
    assert ingest_sendgrid_batch(engine, early, now) == IngestResult(unmatched=4)
    assert ingest_sendgrid_batch(engine, early, now) == IngestResult(duplicates=4)  # kept once
    with engine.connect() as conn:
        kept = conn.execute(select(UnmatchedEvent).order_by(UnmatchedEvent.provider_event_id)).all()
        assert [k.provider_event_id for k in kept] == ["u-1", "u-2", "u-3", "u-4"]
        assert kept[0].provider_message_id == "LATE1.f.0" and kept[0].recipient_email == "iv@example.com"
        assert json.loads(kept[1].payload)["response"] == "451 greylisted"
        assert pending_unmatched(conn) == 4
    assert match_unmatched(engine, now) == 0  # nothing to match yet

    _, (mid,) = seed(engine, "iv@example.com", pmid="LATE1")
    assert match_unmatched(engine, now) == 3
    assert match_unmatched(engine, now) == 0  # cheap and idempotent
    row = message_row(engine, mid)
    assert row.delivery_status == DeliveryStatus.DELIVERED
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(DeliveryEvent).where(DeliveryEvent.message_id == mid)).scalar_one() == 3
        assert pending_unmatched(conn) == 1
        matched = conn.execute(select(UnmatchedEvent.matched_at).where(UnmatchedEvent.provider_event_id == "u-1")).scalar_one()
    assert matched == now
    # SendGrid re-sends an already matched event: it is a duplicate, not a second row.
    again = ingest_sendgrid_batch(engine, early[:3], now)
    assert (again.stored, again.duplicates) == (0, 3)
    assert count(engine, DeliveryEvent) == 3


def test_large_batch_many_messages(engine, now):
    with engine.begin() as conn:
        lender = factories.lender(conn, "lender-big")
        for i in range(300):
            factories.message(conn, lender, f"p{i}@example.com", provider_message_id=f"BIG{i}")
    batch = []
    for i in range(300):
        sg = f"BIG{i}.filter.{i}"
        batch.append(sg_event("processed", f"p{i}@example.com", sg, 0, f"big-{i}-p"))
        batch.append(sg_event("delivered" if i % 3 else "bounce", f"p{i}@example.com", sg, 1, f"big-{i}-d", type="bounce"))
    result = ingest_sendgrid_batch(engine, batch, now)
    assert result == IngestResult(stored=600)
    with engine.connect() as conn:
        statuses = dict(
            conn.execute(select(Message.delivery_status, func.count()).group_by(Message.delivery_status)).all()
        )
    assert statuses == {"DELIVERED": 200, "NOT_DELIVERED": 100}


def test_the_same_batch_posted_at_once_by_four_senders_is_stored_and_counted_once(pg_engine, now):
    """PostgreSQL (SQLite has one writer at a time): what each post answers adds up to the batch,
    however the posts interleave: one of them stored each event, the others counted it a duplicate."""
    _, ids = seed(pg_engine, *(f"p{i}@example.com" for i in range(40)))
    batch = [sg_event(kind, f"p{i}@example.com", f"XMSG{i}.a.0", minute, f"once-{i}-{kind}")
             for i in range(40) for minute, kind in ((0, "processed"), (1, "delivered"))]
    start = threading.Barrier(4)
    results: list[IngestResult] = []

    def post() -> None:
        start.wait(10)
        results.append(ingest_sendgrid_batch(pg_engine, batch, now))

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 4
    assert sum(r.stored for r in results) == 80 and sum(r.duplicates for r in results) == 3 * 80
    assert count(pg_engine, DeliveryEvent) == 80
    assert {message_row(pg_engine, m).delivery_status for m in ids} == {DeliveryStatus.DELIVERED}


def held_and_free_post(engine) -> tuple[int, int, list[dict]]:
    """Two emails, and a post delivering both: the tests below hold the first one's row."""
    _, (held, free) = seed(engine, "held@example.com", "free@example.com")
    batch = [sg_event("delivered", "held@example.com", "XMSG0.a.0", 1, "ev-held", response="250 2.0.0 OK"),
             sg_event("delivered", "free@example.com", "XMSG1.a.0", 1, "ev-free", response="250 2.0.0 OK")]
    return held, free, batch


def test_a_post_stores_its_free_emails_at_once_and_the_one_another_writer_holds_after_it(pg_engine, now):
    """PostgreSQL: while another transaction writes one of a post's emails, the post's other emails
    are stored and their status shows at once, instead of the whole post waiting; the held email's
    event follows when that transaction ends, and the post's answer counts both."""
    held, free, batch = held_and_free_post(pg_engine)
    results: list[IngestResult] = []
    poster = threading.Thread(target=lambda: results.append(ingest_sendgrid_batch(pg_engine, batch, now)))
    with pg_engine.connect() as other, other.begin():
        other.execute(select(Message.id).where(Message.id == held).with_for_update(key_share=True)).all()
        poster.start()
        deadline = time.monotonic() + 30
        while message_row(pg_engine, free).delivery_status != DeliveryStatus.DELIVERED:
            assert time.monotonic() < deadline, "the free email waited for the held one"
            time.sleep(0.02)
        assert message_row(pg_engine, held).delivery_status != DeliveryStatus.DELIVERED
        assert poster.is_alive() and not results  # the post has not answered: its held email is not stored yet
    poster.join(30)
    assert results == [IngestResult(stored=2)]
    assert message_row(pg_engine, held).delivery_status == DeliveryStatus.DELIVERED
    assert count(pg_engine, DeliveryEvent) == 2


def test_a_post_whose_second_transaction_fails_is_refused_and_its_retry_stores_the_rest_once(pg_engine, now, monkeypatch):
    """PostgreSQL: the emails another writer held go in a second transaction; when that one fails the
    post raises (the receiver answers 503), and SendGrid's retry of the same post stores what the
    first transaction left, counting the rest as duplicates: nothing lost, nothing twice."""
    held, free, batch = held_and_free_post(pg_engine)

    def database_gone(*_args, **_kwargs):
        raise OperationalError("UPDATE", {}, Exception("server closed the connection unexpectedly"))

    with pg_engine.connect() as other, other.begin():
        other.execute(select(Message.id).where(Message.id == held).with_for_update(key_share=True)).all()
        with monkeypatch.context() as m:
            m.setattr(ingest, "_store_on_messages", database_gone)
            with pytest.raises(OperationalError):
                ingest_sendgrid_batch(pg_engine, batch, now)
    assert message_row(pg_engine, free).delivery_status == DeliveryStatus.DELIVERED
    assert message_row(pg_engine, held).delivery_status != DeliveryStatus.DELIVERED

    assert ingest_sendgrid_batch(pg_engine, batch, now) == IngestResult(stored=1, duplicates=1)
    assert message_row(pg_engine, held).delivery_status == DeliveryStatus.DELIVERED
    assert count(pg_engine, DeliveryEvent) == 2

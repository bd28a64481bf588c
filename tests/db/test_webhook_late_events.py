"""Late SendGrid events without a message id (issue 13, point 3), at ingest and by the periodic
matcher, on SQLite and PostgreSQL (`engine` fixture).

The two real shapes of a delayed or asynchronous bounce: with `smtp-id` (`<X-Message-Id@host>`) and
no `sg_message_id`; and with nothing naming the email at all (no `sg_message_id`, no `smtp-id`, no
custom args), only `email`, `timestamp`, `event`, `type`, `status`, `reason` and `sg_event_id`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from commlog import rollups
from commlog.models import DeliveryEvent, Message, UnmatchedEvent
from commlog.store import MATCHED_BY_ADDRESS_AND_TIME
from commlog.vocabulary import DeliveryStatus
from commlog.webhooks.ingest import (
    ADDRESS_MATCH_WINDOW,
    IngestResult,
    ingest_sendgrid_batch,
    match_unmatched,
    pending_unmatched,
)
from tests.support import factories as f

T0 = f.T0
BOUNCE_AT = T0 + timedelta(days=3)  # when the late bounce happened
RECEIVED = BOUNCE_AT + timedelta(minutes=2)  # when the webhook brought it


def late_bounce(email: str, at: datetime = BOUNCE_AT, event_id: str | None = "late-1", **extra) -> dict:
    """An asynchronous bounce as SendGrid sends it without a message id."""
    ev = {"email": email, "timestamp": int(at.timestamp()), "event": "bounce", "type": "bounce",
          "status": "5.1.1", "reason": "550 5.1.1 The email account that you tried to reach does not exist"}
    if event_id is not None:
        ev["sg_event_id"] = event_id
    return ev | extra


def delivered(engine, message_id: int, lender: int, at: datetime) -> None:
    with engine.begin() as conn:
        f.events(conn, message_id, lender, ("PROCESSED", f.minutes(at), None),
                 ("DELIVERED", f.minutes(at) + 1, "250 2.0.0 OK"), now=at + timedelta(minutes=5))


def send(engine, lender: int, recipient: str, sent_at: datetime, *, provider: str = "sendgrid",
         provider_message_id: str | None = None, stored_as: str | None = None) -> int:
    """A sent email, counted in the rollups as the portal's write does; `stored_as`: the address
    exactly as the mailer stored it (any case)."""
    with engine.begin() as conn:
        mid = f.message(conn, lender, recipient, sent_at=sent_at, provider=provider, provider_message_id=provider_message_id)
        if stored_as is not None:
            conn.execute(update(Message).where(Message.id == mid).values(recipient_email=stored_as))
        rollups.add_messages(conn, [mid])
    return mid


def new_lender(engine, slug: str) -> int:
    with engine.begin() as conn:
        return f.lender(conn, slug)


def message(engine, mid: int):
    with engine.connect() as conn:
        return conn.execute(select(Message).where(Message.id == mid)).one()


def events_of(engine, mid: int) -> list:
    with engine.connect() as conn:
        return conn.execute(select(DeliveryEvent).where(DeliveryEvent.message_id == mid).order_by(DeliveryEvent.occurred_at)).all()


def count(engine, model) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model)).scalar_one()


# --- with smtp-id ----------------------------------------------------------------------------------


def test_a_late_bounce_with_only_smtp_id_finds_its_recipients_email_by_the_x_message_id(engine):
    lender = new_lender(engine, "alpha")
    ana = send(engine, lender, "ana@example.com", T0, provider_message_id="XLATE1")  # the bare X-Message-Id
    bo = send(engine, lender, "bo@example.com", T0, provider_message_id="XLATE1")  # same send, other recipient
    di = send(engine, lender, "di@example.com", T0, provider_message_id="XLATE2.recvd-5f8f-1.0")  # full id stored
    for mid in (ana, bo, di):
        delivered(engine, mid, lender, T0)

    batch = [late_bounce("Ana@Example.com", event_id="s-1", **{"smtp-id": "<XLATE1@ismtpd0001p1lon1.sendgrid.net>"}),
             late_bounce("di@example.com", event_id="s-2", **{"smtp-id": "<XLATE2@ismtpd0002p1lon1.sendgrid.net>"})]
    assert ingest_sendgrid_batch(engine, batch, RECEIVED) == IngestResult(stored=2)

    assert message(engine, ana).delivery_status == DeliveryStatus.NOT_DELIVERED
    assert message(engine, di).delivery_status == DeliveryStatus.NOT_DELIVERED
    assert message(engine, bo).delivery_status == DeliveryStatus.DELIVERED  # shares the X-Message-Id, not the address
    late = events_of(engine, ana)[-1]
    assert (late.event_type, late.smtp_status, late.matched_by) == ("BOUNCE", "5.1.1", None)  # the provider named it


def test_smtp_id_naming_an_email_we_do_not_have_is_not_matched_by_address(engine):
    lender = new_lender(engine, "alpha")
    ana = send(engine, lender, "ana@example.com", BOUNCE_AT - timedelta(hours=1), provider_message_id="KNOWN1")
    bounce = late_bounce("ana@example.com", **{"smtp-id": "<SOMEONEELSE@ismtpd0001p1lon1.sendgrid.net>"})
    assert ingest_sendgrid_batch(engine, [bounce], RECEIVED) == IngestResult(unmatched=1)
    assert match_unmatched(engine, RECEIVED) == 0
    assert events_of(engine, ana) == []


def test_a_kept_smtp_id_bounce_is_matched_by_the_periodic_matcher_once_its_email_exists(engine):
    bounce = late_bounce("ana@example.com", **{"smtp-id": "<XKEPT1@ismtpd0001p1lon1.sendgrid.net>"})
    assert ingest_sendgrid_batch(engine, [bounce], RECEIVED) == IngestResult(unmatched=1)
    lender = new_lender(engine, "alpha")
    ana = send(engine, lender, "ana@example.com", T0, provider_message_id="XKEPT1.recvd-1.0")
    delivered(engine, ana, lender, T0)

    assert match_unmatched(engine, RECEIVED) == 1
    assert message(engine, ana).delivery_status == DeliveryStatus.NOT_DELIVERED
    assert events_of(engine, ana)[-1].matched_by is None
    with engine.connect() as conn:
        assert pending_unmatched(conn) == 0


# --- with nothing naming the email: address and time ----------------------------------------------


def test_a_late_bounce_without_any_id_turns_the_newest_email_sent_before_it_not_delivered(engine):
    lender = new_lender(engine, "alpha")
    sent = {"too_old": BOUNCE_AT - ADDRESS_MATCH_WINDOW - timedelta(hours=1), "older": BOUNCE_AT - timedelta(days=2),
            "newest": BOUNCE_AT - timedelta(days=1), "after": BOUNCE_AT + timedelta(minutes=1)}  # after: after the bounce
    stored_as = {"older": "Ana@Example.com", "newest": "ANA@example.COM"}  # as the mailer stored them
    ids = {k: send(engine, lender, "ana@example.com", at, stored_as=stored_as.get(k)) for k, at in sent.items()}
    for k, mid in ids.items():
        delivered(engine, mid, lender, sent[k])
    too_old, older, newest, after = ids["too_old"], ids["older"], ids["newest"], ids["after"]

    assert ingest_sendgrid_batch(engine, [late_bounce("ana@EXAMPLE.com")], RECEIVED) == IngestResult(stored=1)

    row = message(engine, newest)
    assert (row.delivery_status, row.last_event_type) == (DeliveryStatus.NOT_DELIVERED, "BOUNCE")
    assert "does not exist" in row.status_reason
    late = events_of(engine, newest)[-1]
    assert (late.event_type, late.matched_by, late.lender_id) == ("BOUNCE", MATCHED_BY_ADDRESS_AND_TIME, lender)
    for untouched in (too_old, older, after):
        assert message(engine, untouched).delivery_status == DeliveryStatus.DELIVERED


@pytest.mark.parametrize(
    ("sent_before_the_bounce", "matched"),
    [
        (timedelta(0), True),  # sent at the event's very time
        (ADDRESS_MATCH_WINDOW, True),  # the window's first instant
        (ADDRESS_MATCH_WINDOW + timedelta(seconds=1), False),  # just older than the window
        (-timedelta(seconds=1), False),  # sent after the event: never
    ],
)
def test_the_window_and_never_after_the_event(engine, sent_before_the_bounce, matched):
    lender = new_lender(engine, "alpha")
    mid = send(engine, lender, "ana@example.com", BOUNCE_AT - sent_before_the_bounce)
    result = ingest_sendgrid_batch(engine, [late_bounce("ana@example.com")], RECEIVED)
    assert (result.stored, result.unmatched) == ((1, 0) if matched else (0, 1))
    assert len(events_of(engine, mid)) == (1 if matched else 0)


def test_each_event_in_a_batch_has_its_own_window(engine):
    lender = new_lender(engine, "alpha")
    mid = send(engine, lender, "ana@example.com", BOUNCE_AT - timedelta(days=1))
    much_later = BOUNCE_AT + ADDRESS_MATCH_WINDOW + timedelta(days=1)
    batch = [late_bounce("ana@example.com", event_id="in"), late_bounce("ana@example.com", much_later, event_id="out")]
    assert ingest_sendgrid_batch(engine, batch, much_later) == IngestResult(stored=1, unmatched=1)
    assert [e.provider_event_id for e in events_of(engine, mid)] == ["in"]


def test_only_sendgrid_emails_that_left_our_servers_are_candidates(engine):
    lender = new_lender(engine, "alpha")
    sendgrid = send(engine, lender, "ana@example.com", BOUNCE_AT - timedelta(days=1))
    postmark = send(engine, lender, "ana@example.com", BOUNCE_AT - timedelta(hours=2), provider="postmark",
                    provider_message_id="2f0e6a5c-pm")
    with engine.begin() as conn:
        failed = f.message(conn, lender, "ana@example.com", sent_at=BOUNCE_AT - timedelta(hours=1), send_status="failed",
                           send_error="SMTP relay timed out")
    assert ingest_sendgrid_batch(engine, [late_bounce("ana@example.com")], RECEIVED).stored == 1
    assert [len(events_of(engine, m)) for m in (sendgrid, postmark, failed)] == [1, 0, 0]


def test_the_newest_email_wins_across_lenders_and_the_event_takes_its_lender(engine):
    alpha, bravo = new_lender(engine, "alpha"), new_lender(engine, "bravo")
    to_alpha = send(engine, alpha, "shared@example.com", BOUNCE_AT - timedelta(hours=5))
    to_bravo = send(engine, bravo, "shared@example.com", BOUNCE_AT - timedelta(hours=1))
    assert ingest_sendgrid_batch(engine, [late_bounce("shared@example.com")], RECEIVED).stored == 1
    assert events_of(engine, to_alpha) == []
    (late,) = events_of(engine, to_bravo)
    assert late.lender_id == bravo


def test_an_event_with_an_unknown_sg_message_id_is_never_matched_by_address(engine):
    lender = new_lender(engine, "alpha")
    mid = send(engine, lender, "ana@example.com", BOUNCE_AT - timedelta(hours=1))
    bounce = late_bounce("ana@example.com", sg_message_id="NOTOURS.recvd-1.0")
    assert ingest_sendgrid_batch(engine, [bounce], RECEIVED) == IngestResult(unmatched=1)
    assert match_unmatched(engine, RECEIVED) == 0
    assert events_of(engine, mid) == []


def test_replaying_the_same_late_bounce_stores_it_once(engine):
    lender = new_lender(engine, "alpha")
    mid = send(engine, lender, "ana@example.com", BOUNCE_AT - timedelta(hours=1))
    with_id, without_id = late_bounce("ana@example.com"), late_bounce("ana@example.com", event_id=None, status="5.2.2")
    assert ingest_sendgrid_batch(engine, [with_id, without_id], RECEIVED) == IngestResult(stored=2)
    # SendGrid retries, also after a newer email to the address was sent (it is after the event).
    send(engine, lender, "ana@example.com", RECEIVED + timedelta(hours=1))
    for _ in range(2):
        assert ingest_sendgrid_batch(engine, [with_id, without_id], RECEIVED + timedelta(hours=2)) == IngestResult(duplicates=2)
    assert len(events_of(engine, mid)) == 2 and count(engine, DeliveryEvent) == 2


# --- kept first, matched by the periodic matcher --------------------------------------------------


def test_a_late_bounce_that_came_before_its_email_was_written_is_matched_later(engine):
    assert ingest_sendgrid_batch(engine, [late_bounce("ana@example.com")], RECEIVED) == IngestResult(unmatched=1)
    assert match_unmatched(engine, RECEIVED) == 0  # nothing sent to the address yet

    lender = new_lender(engine, "alpha")
    mid = send(engine, lender, "Ana@Example.com", BOUNCE_AT - timedelta(hours=6))
    delivered(engine, mid, lender, BOUNCE_AT - timedelta(hours=6))
    later = RECEIVED + timedelta(minutes=1)
    assert match_unmatched(engine, later) == 1
    assert match_unmatched(engine, later) == 0  # idempotent

    assert message(engine, mid).delivery_status == DeliveryStatus.NOT_DELIVERED
    assert events_of(engine, mid)[-1].matched_by == MATCHED_BY_ADDRESS_AND_TIME
    with engine.connect() as conn:
        assert pending_unmatched(conn) == 0
        assert conn.execute(select(UnmatchedEvent.matched_at)).scalar_one() == later
    # the same bounce again: a duplicate, stored once
    assert ingest_sendgrid_batch(engine, [late_bounce("ana@example.com")], later) == IngestResult(duplicates=1)
    assert count(engine, DeliveryEvent) == 3


def test_with_no_candidate_it_stays_unmatched(engine):
    lender = new_lender(engine, "alpha")
    send(engine, lender, "ana@example.com", BOUNCE_AT - ADDRESS_MATCH_WINDOW - timedelta(days=1))  # too old
    send(engine, lender, "ana@example.com", BOUNCE_AT + timedelta(hours=1))  # after it
    batch = [late_bounce("ana@example.com"), late_bounce("nobody@example.com", event_id="late-2")]
    assert ingest_sendgrid_batch(engine, batch, RECEIVED) == IngestResult(unmatched=2)
    assert match_unmatched(engine, RECEIVED + timedelta(days=1)) == 0
    with engine.connect() as conn:
        assert pending_unmatched(conn) == 2
    assert count(engine, DeliveryEvent) == 0


def test_late_bounces_keep_the_rollups_equal_to_a_rebuild(engine):
    lender = new_lender(engine, "alpha")
    ids = [send(engine, lender, f"user{i}@{'gmail.com' if i % 2 else 'outlook.com'}", T0 + timedelta(hours=i))
           for i in range(6)]
    for i, mid in enumerate(ids):
        delivered(engine, mid, lender, T0 + timedelta(hours=i))
    at_ingest = [late_bounce(f"user{i}@gmail.com", event_id=f"r-{i}") for i in (1, 3)]
    assert ingest_sendgrid_batch(engine, at_ingest, RECEIVED).stored == 2
    kept = [late_bounce("user7@outlook.com", event_id="r-7")]  # its email is written later
    assert ingest_sendgrid_batch(engine, kept, RECEIVED).unmatched == 1
    seventh = send(engine, lender, "user7@outlook.com", T0 + timedelta(hours=7))
    delivered(engine, seventh, lender, T0 + timedelta(hours=7))
    assert match_unmatched(engine, RECEIVED) == 1

    with engine.begin() as conn:
        incremental = rollups.snapshot(conn)
        rollups.rebuild_rollups(conn)
        rebuilt = rollups.snapshot(conn)
    assert incremental == rebuilt
    by_outcome: dict[str, int] = {}
    for key, n in rebuilt[0].items():
        by_outcome[key[5]] = by_outcome.get(key[5], 0) + n
    assert by_outcome == {"bounced": 3, "delivered": 4}

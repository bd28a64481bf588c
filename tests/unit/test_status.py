"""The overall-status rule, event by event as a user would read the outcome."""

from datetime import UTC, datetime, timedelta

from commlog.status import RETRY_WINDOW, StatusEvent, overall_status
from commlog.vocabulary import DeliveryStatus

SENT = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def ev(kind, minutes, reason=None, eid=None):
    return StatusEvent(kind, SENT + timedelta(minutes=minutes), reason, eid)


def status(events, hours_after=1):
    return overall_status(events, SENT, SENT + timedelta(hours=hours_after))


def test_delivered_after_processing():
    r = status([ev("PROCESSED", 0), ev("DELIVERED", 1, "250 2.0.0 OK")])
    assert r.status == DeliveryStatus.DELIVERED
    assert r.last_event_type == "DELIVERED"


def test_bounce_is_not_delivered_with_its_reason():
    r = status([ev("PROCESSED", 0), ev("BOUNCE", 1, "550 5.1.1 The email account that you tried to reach does not exist")])
    assert r.status == DeliveryStatus.NOT_DELIVERED
    assert r.last_event_type == "BOUNCE"
    assert "5.1.1" in r.reason


def test_async_bounce_after_delivery_wins():
    r = status([ev("PROCESSED", 0), ev("DELIVERED", 1), ev("BOUNCE", 30, "550 5.1.1 user unknown")])
    assert r.status == DeliveryStatus.NOT_DELIVERED
    assert r.last_event_type == "BOUNCE"


def test_delivery_after_block_counts_as_delivered():
    r = status([ev("BLOCKED", 1, "421 try later"), ev("DELIVERED", 50)])
    assert r.status == DeliveryStatus.DELIVERED


def test_deferral_is_pending_inside_the_retry_window():
    r = status([ev("PROCESSED", 0), ev("DEFERRED", 1, "421 4.7.28 rate limited")], hours_after=10)
    assert r.status == DeliveryStatus.PENDING
    assert r.last_event_type == "DEFERRED"


def test_deferral_expires_after_the_retry_window():
    hours = RETRY_WINDOW.total_seconds() / 3600 + 1
    r = status([ev("PROCESSED", 0), ev("DEFERRED", 1, "452 4.2.2 mailbox full")], hours_after=hours)
    assert r.status == DeliveryStatus.NOT_DELIVERED
    assert r.reason.startswith("expired")
    assert "4.2.2" in r.reason


def test_deferred_then_delivered():
    r = status([ev("PROCESSED", 0), ev("DEFERRED", 5), ev("DEFERRED", 65), ev("DELIVERED", 125)], hours_after=80)
    assert r.status == DeliveryStatus.DELIVERED


def test_complaint_and_unsubscribe_never_change_status():
    r = status([ev("DELIVERED", 1), ev("COMPLAINT", 60), ev("UNSUBSCRIBE", 61)])
    assert r.status == DeliveryStatus.DELIVERED
    assert r.last_event_type == "DELIVERED"


def test_open_without_delivered_event_counts_as_delivered():
    assert status([ev("PROCESSED", 0), ev("OPEN", 3)]).status == DeliveryStatus.DELIVERED


def test_no_events_yet_is_pending_then_expires():
    assert status([], hours_after=1).status == DeliveryStatus.PENDING
    assert status([], hours_after=100).status == DeliveryStatus.NOT_DELIVERED


def test_duplicate_events_are_counted_once_and_order_does_not_matter():
    events = [ev("BOUNCE", 2, "550", "b1"), ev("PROCESSED", 0, None, "p1"), ev("BOUNCE", 2, "550", "b1")]
    r = status(events)
    assert r.status == DeliveryStatus.NOT_DELIVERED
    assert r.last_event_at == SENT + timedelta(minutes=2)

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


# --- expiry runs on the provider's timeline (its first deferral), never on our send time alone ---

W = RETRY_WINDOW


def at(delta):
    return SENT + delta


def test_a_recent_deferral_is_pending_although_our_send_time_is_days_older():
    # Our mailer handed the email over late: the provider's first (and only) deferral was an hour ago.
    days_later = timedelta(days=5)
    r = overall_status([StatusEvent("DEFERRED", at(days_later), "421 4.7.0 try again later")], SENT, at(days_later + timedelta(hours=1)))
    assert r.status == DeliveryStatus.PENDING
    assert r.reason == "421 4.7.0 try again later"


def test_expiry_is_the_window_after_the_first_deferral_to_the_second():
    first = timedelta(days=2)
    events = [StatusEvent("PROCESSED", at(first - timedelta(minutes=1))), StatusEvent("DEFERRED", at(first), "452 4.2.2 mailbox full"),
              StatusEvent("DEFERRED", at(first + timedelta(hours=30)), "452 4.2.2 mailbox full")]
    just_before = overall_status(events, SENT, at(first + W - timedelta(seconds=1)))
    on_the_dot = overall_status(events, SENT, at(first + W))
    assert just_before.status == DeliveryStatus.PENDING
    assert on_the_dot.status == DeliveryStatus.NOT_DELIVERED
    assert on_the_dot.reason.startswith("expired") and "4.2.2" in on_the_dot.reason


def test_later_deferrals_do_not_extend_the_window():
    events = [StatusEvent("DEFERRED", at(timedelta(hours=1))), StatusEvent("DEFERRED", at(W))]
    assert overall_status(events, SENT, at(W + timedelta(hours=1))).status == DeliveryStatus.NOT_DELIVERED


def test_without_a_deferral_the_window_runs_from_the_providers_first_event():
    accepted = timedelta(days=4)  # the provider accepted it four days after our send time
    events = [StatusEvent("PROCESSED", at(accepted))]
    assert overall_status(events, SENT, at(accepted + W - timedelta(seconds=1))).status == DeliveryStatus.PENDING
    assert overall_status(events, SENT, at(accepted + W)).status == DeliveryStatus.NOT_DELIVERED


def test_with_no_event_at_all_our_send_time_is_the_only_clock():
    assert overall_status([], SENT, at(W - timedelta(seconds=1))).status == DeliveryStatus.PENDING
    assert overall_status([], SENT, at(W)).status == DeliveryStatus.NOT_DELIVERED


def test_the_provider_saying_it_gave_up_wins_inside_the_window():
    events = [StatusEvent("DEFERRED", at(timedelta(hours=1))), StatusEvent("BOUNCE", at(timedelta(hours=20)), "550 5.4.7 delivery time expired")]
    r = overall_status(events, SENT, at(timedelta(hours=21)))
    assert r.status == DeliveryStatus.NOT_DELIVERED and r.last_event_type == "BOUNCE"

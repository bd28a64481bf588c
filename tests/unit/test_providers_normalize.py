"""The one mapping table (providers.md "Normalized events") and the event parsers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from commlog.providers import normalize as n
from commlog.providers.normalize import EventParseError
from commlog.vocabulary import EventType as E
from tests.support.fake_provider import recorded

UTC = UTC

# Every SendGrid webhook / Logs cell of the table.
SENDGRID_ROWS = [
    ("processed", None, E.PROCESSED),
    ("deferred", None, E.DEFERRED),
    ("delivered", None, E.DELIVERED),
    ("bounce", "bounce", E.BOUNCE),
    ("bounce", None, E.BOUNCE),
    ("bounce", "blocked", E.BLOCKED),
    ("bounce", "block", E.BLOCKED),  # the docs' text spelling
    ("dropped", None, E.DROPPED),
    ("cancel_drop", None, E.DROPPED),
    ("spamreport", None, E.COMPLAINT),
    ("open", None, E.OPEN),
    ("click", None, E.CLICK),
    ("unsubscribe", None, E.UNSUBSCRIBE),
    ("group_unsubscribe", None, E.UNSUBSCRIBE),
    ("group_resubscribe", None, E.UNKNOWN),
    ("something_new", None, E.UNKNOWN),
]

ACTIVITY_ROWS = [
    ("processed", None, E.PROCESSED),
    ("deferred", None, E.DEFERRED),
    ("delivered", None, E.DELIVERED),
    ("bounced", "hard", E.BOUNCE),
    ("bounced", "soft", E.BLOCKED),
    ("blocked", None, E.BLOCKED),
    ("bounce", "blocked", E.BLOCKED),  # webhook spellings accepted
    ("dropped", None, E.DROPPED),
    ("spam_report", None, E.COMPLAINT),
    ("opened", None, E.OPEN),
    ("clicked", None, E.CLICK),
    ("unsubscribe", None, E.UNSUBSCRIBE),
    ("group_unsubscribe", None, E.UNSUBSCRIBE),
]

POSTMARK_EVENT_ROWS = [
    ("Delivered", None, E.DELIVERED),
    ("Transient", None, E.DEFERRED),
    ("Bounced", None, E.BOUNCE),
    ("Bounced", "HardBounce", E.BOUNCE),
    ("Bounced", "SoftBounce", E.BLOCKED),
    ("Opened", None, E.OPEN),
    ("LinkClicked", None, E.CLICK),
    ("SubscriptionChanged", None, E.UNSUBSCRIBE),
    ("Mystery", None, E.UNKNOWN),
]

POSTMARK_BOUNCE_ROWS = [
    ("HardBounce", E.BOUNCE),
    ("Transient", E.DEFERRED),
    ("DnsError", E.DEFERRED),
    ("Blocked", E.BLOCKED),
    ("DMARCPolicy", E.BLOCKED),
    ("SpamNotification", E.BLOCKED),
    ("SoftBounce", E.BLOCKED),
    ("VirusNotification", E.BLOCKED),
    ("ManuallyDeactivated", E.DROPPED),
    ("Unconfirmed", E.DROPPED),
    ("BadEmailAddress", E.DROPPED),
    ("SMTPApiError", E.FAILED),
    ("TemplateRenderingFailed", E.FAILED),
    ("SpamComplaint", E.COMPLAINT),
]

POSTMARK_STATUS_ROWS = [
    ("Queued", E.PROCESSED),
    ("Processed", E.PROCESSED),
    ("Sent", E.PROCESSED),
    ("Blocked", E.DROPPED),
    ("Failed", E.FAILED),
]


@pytest.mark.parametrize("event,btype,expected", SENDGRID_ROWS)
def test_sendgrid_table(event, btype, expected):
    assert n.sendgrid_event_type(event, btype) == expected
    obj = {"event": event, "timestamp": 1795165200, "email": "a@x.com"}
    if btype:
        obj["type"] = btype
    assert n.parse_sendgrid_webhook_event(obj).event_type == expected


@pytest.mark.parametrize("event,btype,expected", ACTIVITY_ROWS)
def test_activity_table(event, btype, expected):
    assert n.activity_event_type(event, btype) == expected
    ev = n.parse_activity_event({"event_name": event, "processed": "2026-11-20T09:00:00Z", "bounce_type": btype or ""}, "m.1", "a@x.com")
    assert ev.event_type == expected


@pytest.mark.parametrize("type_,btype,expected", POSTMARK_EVENT_ROWS)
def test_postmark_event_table(type_, btype, expected):
    assert n.postmark_event_type(type_, btype) == expected


@pytest.mark.parametrize("btype,expected", POSTMARK_BOUNCE_ROWS)
def test_postmark_bounce_table(btype, expected):
    assert n.postmark_bounce_type(btype) == expected
    details = {"Status": "Sent", "ReceivedAt": "2026-11-20T09:00:00Z", "MessageEvents": [
        {"Type": "Bounced", "Recipient": "a@x.com", "ReceivedAt": "2026-11-20T09:00:05Z", "Details": {"Type": btype, "Summary": "x"}}
    ]}
    evs = n.parse_postmark_details(details, "pm-1", "a@x.com")
    assert [e.event_type for e in evs] == [expected]
    assert evs[0].raw_type == btype


@pytest.mark.parametrize("status,expected", POSTMARK_STATUS_ROWS)
def test_postmark_status_fallback(status, expected):
    assert n.postmark_status_type(status) == expected
    evs = n.parse_postmark_details({"Status": status, "ReceivedAt": "2026-11-20T09:00:00Z", "MessageEvents": []}, "pm-1")
    assert [e.event_type for e in evs] == [expected]


def test_postmark_status_not_added_when_events_say_more():
    body = recorded("postmark_details_delivered.json")
    evs = n.parse_postmark_details(body, body["MessageID"], "riley.chen@yahoo.com")
    assert [e.event_type for e in evs] == [E.DEFERRED, E.DELIVERED, E.OPEN]


def test_postmark_times_seven_digits_and_offset_to_utc():
    body = recorded("postmark_details_delivered.json")
    evs = n.parse_postmark_details(body, body["MessageID"])
    assert evs[0].occurred_at == datetime(2026, 11, 20, 9, 0, 5, tzinfo=UTC)
    assert evs[2].occurred_at == datetime(2026, 11, 20, 10, 1, 44, 250000, tzinfo=UTC)
    assert evs[1].reason == "250 ok dirdel"
    assert evs[0].smtp_status == "4.7.0"


def test_postmark_ids_stable_and_distinct():
    body = recorded("postmark_details_delivered.json")
    a = n.parse_postmark_details(body, body["MessageID"])
    b = n.parse_postmark_details(body, body["MessageID"])
    assert [e.provider_event_id for e in a] == [e.provider_event_id for e in b]
    assert len({e.provider_event_id for e in a}) == 3


@pytest.mark.parametrize(
    "value,expected",
    [
        (1795165200, datetime(2026, 11, 20, 9, 0, tzinfo=UTC)),
        ("1795165200", datetime(2026, 11, 20, 9, 0, tzinfo=UTC)),
        ("2026-11-20T09:00:00Z", datetime(2026, 11, 20, 9, 0, tzinfo=UTC)),
        ("2026-11-20T04:00:00.1234567-05:00", datetime(2026, 11, 20, 9, 0, 0, 123456, tzinfo=UTC)),
        ("2026-11-20T09:00:00", datetime(2026, 11, 20, 9, 0, tzinfo=UTC)),
    ],
)
def test_parse_time(value, expected):
    got = n.parse_time(value)
    assert got == expected and got.tzinfo is not None


@pytest.mark.parametrize("value", [None, "", "yesterday", True])
def test_parse_time_rejects(value):
    with pytest.raises(EventParseError):
        n.parse_time(value)


def test_sendgrid_prefix_split_on_first_dot():
    assert n.sendgrid_message_prefix("evEK_IhZSlKus235aGfxIQ.filter0361p1las1-11880-5978131E-23.0") == "evEK_IhZSlKus235aGfxIQ"
    assert n.sendgrid_message_prefix("evEK_IhZSlKus235aGfxIQ.recvd-5f7d8c9b6-x2kqp-1-6739A1B2-7.0") == "evEK_IhZSlKus235aGfxIQ"
    assert n.sendgrid_message_prefix("evEK_IhZSlKus235aGfxIQ") == "evEK_IhZSlKus235aGfxIQ"
    assert n.sendgrid_message_prefix(None) is None


def test_webhook_batch_recorded():
    batch = recorded("sendgrid_webhook_batch.json")
    evs = [n.parse_sendgrid_webhook_event(o) for o in batch]
    assert [e.event_type for e in evs] == [
        E.PROCESSED, E.DEFERRED, E.DELIVERED, E.BOUNCE, E.BLOCKED, E.DROPPED, E.OPEN, E.CLICK,
        E.COMPLAINT, E.UNSUBSCRIBE, E.UNSUBSCRIBE, E.UNKNOWN, E.BOUNCE,
    ]
    deferred = evs[1]
    assert deferred.attempt == 6  # zero-based "5" on the wire
    assert deferred.reason == "400 try again later"
    assert deferred.provider_event_id == "t7LEShmowp86DTdUW8M-GQ=="
    assert evs[0].custom_args == {"commlog_message_id": "42"}
    assert evs[3].smtp_status == "5.0.0" and evs[3].bounce_classification == "Invalid Address"
    assert evs[4].raw_type == "blocked" and evs[4].smtp_status == "5.7.1"  # found in the reason text
    assert evs[0].provider_message_id.startswith("14c5d75ce93")
    # An async bounce without sg_message_id / sg_event_id: a stable synthetic id.
    last = evs[-1]
    assert last.provider_message_id is None and last.provider_event_id.startswith("syn:")
    assert n.parse_sendgrid_webhook_event(batch[-1]).provider_event_id == last.provider_event_id


def test_webhook_event_to_new_event():
    ev = n.parse_sendgrid_webhook_event(recorded("sendgrid_webhook_batch.json")[3])
    ne = ev.to_new_event(7, 3)
    assert (ne.message_id, ne.lender_id, ne.event_type, ne.provider) == (7, 3, "BOUNCE", "sendgrid")
    assert ne.occurred_at == datetime(2026, 11, 20, 9, 1, 40, tzinfo=UTC)
    # Every field lands under its own name (the event is made positionally, as a webhook post makes hundreds).
    assert ne._asdict() == {
        "message_id": 7, "lender_id": 3, "event_type": "BOUNCE", "occurred_at": ev.occurred_at, "provider": "sendgrid",
        "provider_event_id": ev.provider_event_id, "raw_type": ev.raw_type, "reason": ev.reason,
        "smtp_status": ev.smtp_status, "attempt": ev.attempt, "bounce_classification": ev.bounce_classification,
        "matched_by": None,
    }
    assert ev.reason and ev.smtp_status and ev.bounce_classification  # the bounce names them all: a swap would show
    assert ev.to_new_event(7, 3, "address_and_time").matched_by == "address_and_time"


@pytest.mark.parametrize("obj", [{}, {"event": "delivered"}, {"timestamp": 1}, "x", {"event": "open", "timestamp": "soon"}])
def test_webhook_event_malformed(obj):
    with pytest.raises(EventParseError):
        n.parse_sendgrid_webhook_event(obj)


@pytest.mark.parametrize(
    "status,texts,expected",
    [
        ("5.1.1", (), "5.1.1"),
        (None, ("550-5.1.1 The email account does not exist",), "5.1.1"),
        ("bounce", ("421 4.7.28 [1.2.3.4] rate limited",), "4.7.28"),
        (None, ("250 2.0.0 OK",), "2.0.0"),
        (None, ("IP 168.245.72.14 refused",), None),
        (None, (None,), None),
    ],
)
def test_smtp_status(status, texts, expected):
    assert n.smtp_status_of(status, *texts) == expected


def test_one_attempt_convention_on_every_path():
    """The same two deferrals and a delivery, as the webhook, the Email Logs API, the Activity API
    and Postmark report them: the page reads "attempt 1", "attempt 2" on the deferrals and no
    attempt anywhere else, whichever API answered."""
    ts = 1795165205
    webhook = [
        {"event": "processed", "email": "a@x.com", "timestamp": ts, "sg_event_id": "p", "attempt": "0"},
        {"event": "deferred", "email": "a@x.com", "timestamp": ts + 5, "sg_event_id": "d1", "attempt": "0", "response": "421 later"},
        {"event": "deferred", "email": "a@x.com", "timestamp": ts + 65, "sg_event_id": "d2", "attempt": "1", "response": "421 later"},
        {"event": "delivered", "email": "a@x.com", "timestamp": ts + 125, "sg_event_id": "dl", "attempt": "2", "response": "250 OK"},
    ]
    by_webhook = [n.parse_sendgrid_webhook_event(o) for o in webhook]
    by_logs = [n.parse_sendgrid_logs_event(o, {"sg_message_id": "m.1", "to_email": "a@x.com"}) for o in webhook]
    activity = [
        {"event_name": "processed", "processed": "2026-11-20T09:00:00Z", "attempt_num": 0},
        {"event_name": "deferred", "processed": "2026-11-20T09:00:05Z", "attempt_num": 1, "reason": "421 later"},
        {"event_name": "deferred", "processed": "2026-11-20T09:01:05Z", "attempt_num": 2, "reason": "421 later"},
        {"event_name": "delivered", "processed": "2026-11-20T09:02:05Z", "attempt_num": 0},
    ]
    by_activity = [n.parse_activity_event(o, "m.1", "a@x.com") for o in activity]
    postmark = n.parse_postmark_details({"Status": "Sent", "MessageEvents": [
        {"Type": "Transient", "Recipient": "a@x.com", "ReceivedAt": "2026-11-20T09:00:05Z", "Details": {"Summary": "421 later"}},
        {"Type": "Delivered", "Recipient": "a@x.com", "ReceivedAt": "2026-11-20T09:02:05Z", "Details": {"DeliveryMessage": "250 OK"}},
    ]}, "pm-1")
    expected = [None, 1, 2, None]
    assert [e.attempt for e in by_webhook] == expected
    assert [e.attempt for e in by_logs] == expected
    assert [e.attempt for e in by_activity] == expected
    assert [e.attempt for e in postmark] == [None, None]  # Postmark gives no try numbers


def test_attempt_values_that_are_no_try_number_are_dropped():
    deferred = {"event": "deferred", "email": "a@x.com", "timestamp": 1795165205, "sg_event_id": "x"}
    assert n.parse_sendgrid_webhook_event({**deferred, "attempt": "-1"}).attempt is None
    assert n.parse_sendgrid_webhook_event({**deferred, "attempt": "soon"}).attempt is None
    assert n.parse_sendgrid_webhook_event({**deferred, "attempt": True}).attempt is None
    assert n.parse_sendgrid_webhook_event(deferred).attempt is None
    assert n.parse_activity_event({"event_name": "deferred", "processed": "2026-11-20T09:00:05Z", "attempt_num": 0}, "m", "a@x.com").attempt is None


def test_activity_ids_of_events_stored_before_the_convention_do_not_change():
    # A re-check must not store an Activity event twice: its synthetic id still uses the old attempt.
    obj = {"event_name": "delivered", "processed": "2026-11-20T09:02:05Z", "attempt_num": 0}
    assert n.parse_activity_event(obj, "m.1", "a@x.com").provider_event_id == n.synth_event_id("m.1", "delivered", None, 1795165325, 0)

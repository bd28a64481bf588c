"""Postmark's webhook records read into events (no database, no HTTP): one mapping with Check
delivery status, stable ids for replays, short safe reasons for records it cannot use."""

from __future__ import annotations

import base64

import pytest

from commlog.providers import normalize as n
from commlog.vocabulary import TERMINAL_FAILURES
from commlog.vocabulary import EventType as E
from commlog.webhooks.postmark import RecordError, parse_record
from commlog.webhooks.postmark_receiver import basic_credentials
from tests.support.fake_provider import recorded

DELIVERY = recorded("postmark_webhook_delivery.json")
BOUNCE = recorded("postmark_webhook_bounce.json")
COMPLAINT = recorded("postmark_webhook_spam_complaint.json")
SUBSCRIPTION = recorded("postmark_webhook_subscription_change.json")


def test_the_four_recorded_records_read_as_their_events():
    delivery, bounce, complaint, unsubscribe = (parse_record(r) for r in (DELIVERY, BOUNCE, COMPLAINT, SUBSCRIPTION))
    assert [e.event_type for e in (delivery, bounce, complaint, unsubscribe)] == [
        E.DELIVERED, E.BOUNCE, E.COMPLAINT, E.UNSUBSCRIBE]
    for e in (delivery, bounce, complaint, unsubscribe):
        assert (e.provider, e.provider_message_id, e.recipient_email) == (
            "postmark", "7b2e4c1a-3f5d-4e8b-9a6c-0d1e2f3a4b5c", "jordan.lee@example.com")
        assert e.occurred_at.utcoffset().total_seconds() == 0
    # -05:00 and seven fractional digits, as Postmark sends them, become UTC.
    assert delivery.occurred_at.isoformat() == "2026-11-20T12:00:03.123456+00:00"
    assert delivery.reason.startswith("smtp;250 2.0.0 OK")
    assert (bounce.raw_type, bounce.smtp_status, bounce.bounce_classification) == ("HardBounce", "5.1.1", "HardBounce")
    assert "does not exist" in bounce.reason
    assert unsubscribe.reason == "added to the outbound stream's suppression list (origin: Recipient)"
    # What a kept event is matched from later: Postmark's own record.
    assert bounce.payload == BOUNCE


@pytest.mark.parametrize("bounce_type", sorted(n.POSTMARK_BOUNCE_TYPES))
def test_a_bounce_record_maps_like_the_messages_api_bounce(bounce_type):
    """One mapping: the webhook's bounce types turn into what Check delivery status makes of them."""
    event = parse_record(BOUNCE | {"Type": bounce_type})
    api = n.parse_postmark_details({"MessageEvents": [
        {"Type": "Bounced", "Recipient": BOUNCE["Email"], "ReceivedAt": BOUNCE["BouncedAt"], "Details": {"Type": bounce_type}}
    ]}, BOUNCE["MessageID"])[0]
    assert (event.event_type, event.raw_type) == (api.event_type, api.raw_type)


@pytest.mark.parametrize("bounce_type,expected", [
    ("HardBounce", E.BOUNCE), ("SoftBounce", E.BLOCKED), ("Transient", E.DEFERRED), ("DnsError", E.DEFERRED),
    ("BadEmailAddress", E.DROPPED), ("SpamComplaint", E.COMPLAINT),
])
def test_bounce_types_that_decide_the_status(bounce_type, expected):
    assert parse_record(BOUNCE | {"Type": bounce_type}).event_type == expected


def test_a_delivery_has_the_id_a_check_gives_the_same_delivery():
    """So a delivery the webhook stored is not stored a second time by Check delivery status."""
    api = n.parse_postmark_details({"Status": "Sent", "MessageEvents": [
        {"Type": "Delivered", "Recipient": DELIVERY["Recipient"], "ReceivedAt": DELIVERY["DeliveredAt"],
         "Details": {"DeliveryMessage": DELIVERY["Details"]}}
    ]}, DELIVERY["MessageID"])[0]
    assert parse_record(DELIVERY).provider_event_id == api.provider_event_id


def test_ids_are_stable_for_replays_and_differ_between_records():
    assert parse_record(dict(BOUNCE)).provider_event_id == parse_record(BOUNCE).provider_event_id == (
        "postmark:Bounce:4323372036854775807")
    assert parse_record(COMPLAINT).provider_event_id == "postmark:SpamComplaint:4323372036854775901"
    assert parse_record(BOUNCE | {"ID": 1}).provider_event_id != parse_record(BOUNCE).provider_event_id
    assert parse_record(SUBSCRIPTION).provider_event_id == parse_record(dict(SUBSCRIPTION)).provider_event_id
    later = SUBSCRIPTION | {"ChangedAt": "2026-11-21T08:00:00Z"}
    assert parse_record(later).provider_event_id != parse_record(SUBSCRIPTION).provider_event_id
    later_delivery = DELIVERY | {"DeliveredAt": "2026-11-20T12:00:04Z"}
    assert parse_record(later_delivery).provider_event_id != parse_record(DELIVERY).provider_event_id


@pytest.mark.parametrize("change,expected,words", [
    ({"SuppressionReason": "ManualSuppression", "Origin": "Recipient"}, E.UNSUBSCRIBE, "origin: Recipient"),
    ({"SuppressionReason": "SpamComplaint", "Origin": "Recipient"}, E.COMPLAINT, "spam complaint"),
    ({"SuppressionReason": "HardBounce", "Origin": "Recipient"}, E.UNKNOWN, "hard bounce"),
    ({"SuppressionReason": "ManualSuppression", "Origin": "Customer"}, E.UNKNOWN, "manual suppression (origin: Customer)"),
    ({"SuppressSending": False, "SuppressionReason": None, "Origin": "Customer"}, E.UNKNOWN, "reactivated"),
])
def test_subscription_changes_say_who_asked(change, expected, words):
    """Only the recipient's own unsubscribe is an unsubscribe; a suppression after a hard bounce
    (the Bounce record carries the bounce) or by the customer keeps Postmark's word."""
    event = parse_record(SUBSCRIPTION | change)
    assert event.event_type == expected and words in event.reason
    if expected == E.UNKNOWN:
        assert event.raw_type == "SubscriptionChange"


def test_records_that_name_no_email_or_are_not_read_are_ignored():
    assert parse_record(SUBSCRIPTION | {"MessageID": None, "Origin": "Admin"}) is None
    for record_type in ("Open", "Click", "Inbound"):
        assert parse_record({"RecordType": record_type, "MessageID": "x", "Recipient": "a@x.com"}) is None


@pytest.mark.parametrize("record,reason", [
    ([DELIVERY], "body is not a JSON object"),
    ("Delivery", "body is not a JSON object"),
    ({k: v for k, v in DELIVERY.items() if k != "RecordType"}, "record without RecordType"),
    ({k: v for k, v in DELIVERY.items() if k != "MessageID"}, "Delivery record without MessageID"),
    (DELIVERY | {"Recipient": " "}, "Delivery record without Recipient"),
    (DELIVERY | {"DeliveredAt": "sometime-secret"}, "Delivery record with an unreadable DeliveredAt"),
    ({k: v for k, v in BOUNCE.items() if k != "ID"}, "Bounce record without ID"),
    (BOUNCE | {"Type": None}, "Bounce record without Type"),
    ({k: v for k, v in BOUNCE.items() if k != "Email"}, "Bounce record without Email"),
    ({k: v for k, v in COMPLAINT.items() if k != "MessageID"}, "SpamComplaint record without MessageID"),
    (SUBSCRIPTION | {"SuppressSending": "yes"}, "SubscriptionChange record without SuppressSending (true or false)"),
    (SUBSCRIPTION | {"ChangedAt": None}, "SubscriptionChange record without ChangedAt"),
])
def test_records_it_cannot_use_say_which_field_and_never_a_value(record, reason):
    with pytest.raises(RecordError) as caught:
        parse_record(record)
    assert str(caught.value) == reason


def _basic(raw: bytes) -> str:
    return "Basic " + base64.b64encode(raw).decode()


def test_basic_credentials_are_read_from_the_header():
    assert basic_credentials(_basic(b"hooks:p4ss:with:colons")) == (b"hooks", b"p4ss:with:colons")
    assert basic_credentials("basic " + base64.b64encode(b"u:").decode()) == (b"u", b"")
    for header in (None, "", "Basic", "Bearer abc", "Basic not*base64", _basic(b"no-colon"), "Digest " + _basic(b"u:p")[6:]):
        assert basic_credentials(header) is None, header


@pytest.mark.parametrize("bounce_type", ["AutoResponder", "AddressChange", "ChallengeVerification", "OpenRelayTest",
                                         "Subscribe", "Unsubscribe"])
def test_replies_filed_as_bounces_are_no_failure(bounce_type):
    """An out-of-office reply reaches the bounce webhook too; it must not turn the email NOT_DELIVERED."""
    assert parse_record(BOUNCE | {"Type": bounce_type}).event_type not in TERMINAL_FAILURES
    assert parse_record(BOUNCE | {"Type": "Unsubscribe"}).event_type == E.UNSUBSCRIBE

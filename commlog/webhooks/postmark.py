"""Postmark's webhooks, read: one record (the JSON object of one POST) -> one `ParsedEvent`, and
handed to the webhooks' one write path (`commlog.webhooks.ingest`). No HTTP here
(`commlog.webhooks.postmark_receiver` serves it).

The records (Postmark's developer documentation, "Webhooks", and the official Node.js client's
`dist/client/models/webhooks/payload/*.d.ts`, postmark 4.0):

* Delivery (postmarkapp.com/developer/webhooks/delivery-webhook): `{RecordType: "Delivery",
  ServerID, MessageStream, MessageID, Recipient, Tag, DeliveredAt, Details, Metadata}`; `Details`
  is the receiving server's answer (`smtp;250 2.0.0 OK …`).
* Bounce (…/webhooks/bounce-webhook; the Bounce API's bounce plus `Metadata`): `{RecordType:
  "Bounce", ID, Type, TypeCode, Name, Tag, MessageID, ServerID, MessageStream, Description,
  Details, Email, From, BouncedAt, DumpAvailable, Inactive, CanActivate, Subject, Content,
  Metadata}`; `Type` is one of the Bounce API's bounce types (`HardBounce`, `SoftBounce`,
  `Transient`, `DnsError`, `Blocked`, `AutoResponder`, …), `Details` the receiving server's answer.
* SpamComplaint (…/webhooks/spam-complaint-webhook): the Bounce shape, `RecordType` and `Type`
  `"SpamComplaint"` (`TypeCode` 512), `BouncedAt` the time of the complaint.
* SubscriptionChange (…/webhooks/subscription-change-webhook): `{RecordType: "SubscriptionChange",
  MessageID, ServerID, MessageStream, ChangedAt, Recipient, Origin, SuppressSending,
  SuppressionReason, Tag, Metadata}`. `SuppressSending` true: the address was added to the
  stream's suppression list, false: reactivated. `SuppressionReason` is `HardBounce`,
  `SpamComplaint` or `ManualSuppression` (an unsubscribe is a ManualSuppression with `Origin`
  `Recipient`), null on reactivation; `MessageID` is null for suppressions made by the Customer or
  an Admin and for reactivations (such records name no email: answered 200 and not stored).

Times are ISO 8601 with an offset and up to 7 fractional digits (`normalize.parse_time` reads them).
Postmark signs nothing: its webhooks are protected by HTTP basic auth in the URL
(…/webhooks/webhooks-overview, "Protecting your webhook"). A post not answered 2xx is retried; the
schedule Postmark documents (for its inbound webhook: support article "Understanding Inbound Webhook
Retries") is 10 retries over about 10.5 hours, and a 403 stops them, so the receiver never answers
403.

One mapping: every record is restated as the Messages API's message event (`{Type, Recipient,
ReceivedAt, Details}`) and read by `commlog.providers.normalize.parse_postmark_details`, so the
webhook and Check delivery status read Postmark alike: Delivery is `Delivered`; Bounce and
SpamComplaint are `Bounced` with their bounce type (`HardBounce` -> BOUNCE, `SoftBounce` ->
BLOCKED, `SpamComplaint` -> COMPLAINT, …). SubscriptionChange says nothing about one email's
delivery: an unsubscribe (ManualSuppression by the Recipient) is `SubscriptionChanged`
(UNSUBSCRIBE), a spam-complaint suppression is the complaint, anything else (a suppression after a
hard bounce, which the Bounce record carries; one the Customer made; a reactivation) is kept with
its own word (UNKNOWN). None of those three changes a status (`commlog.status`).

Event ids (storage is idempotent on them, so a replayed webhook stores once): Bounce and
SpamComplaint `postmark:<RecordType>:<ID>` (the bounce's own id); Delivery the id the Messages API
path gives the same delivery (a hash of MessageID, Recipient, type and time), so a delivery the
webhook stored is not stored again by a check; SubscriptionChange a hash of the record's own fields.

Matching: `MessageID` is what Postmark's send API returns and what the portal stores as the
message's `provider_message_id` (provider `postmark`); the event's recipient must be the message's.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from commlog.providers.normalize import (
    EventParseError,
    ParsedEvent,
    parse_postmark_details,
    parse_time,
    synth_event_id,
)
from commlog.webhooks import ingest

PROVIDER = "postmark"
RECORD_TYPES = ("Delivery", "Bounce", "SpamComplaint", "SubscriptionChange")


class RecordError(ValueError):
    """A record the receiver cannot use. The message is short and safe to log and to answer with:
    it names a field, never a value."""


def _text(record: dict, key: str) -> str | None:
    value = record.get(key)
    if value is None or isinstance(value, (bool, dict, list)):
        return None
    text = str(value).strip()
    return text or None


def _required(record: dict, key: str, record_type: str) -> str:
    value = _text(record, key)
    if value is None:
        raise RecordError(f"{record_type} record without {key}")
    return value


def _time(record: dict, key: str, record_type: str) -> str:
    value = _required(record, key, record_type)
    try:
        parse_time(value)
    except EventParseError:
        raise RecordError(f"{record_type} record with an unreadable {key}") from None
    return value


def _read(record: dict, message_id: str | None, event: dict[str, Any]) -> ParsedEvent:
    """The one mapping: the record as a Messages API message event, read by normalize."""
    (parsed,) = parse_postmark_details({"MessageEvents": [event]}, message_id or "")
    return dataclasses.replace(parsed, provider_message_id=message_id, payload=record)


def _delivery(record: dict) -> ParsedEvent:
    message_id = _required(record, "MessageID", "Delivery")
    event = {
        "Type": "Delivered",
        "Recipient": _required(record, "Recipient", "Delivery"),
        "ReceivedAt": _time(record, "DeliveredAt", "Delivery"),
        "Details": {"DeliveryMessage": _text(record, "Details")},
    }
    return _read(record, message_id, event)  # its id is the Messages API path's for the same delivery


def _bounce(record: dict, record_type: str) -> ParsedEvent:
    bounce_id = _required(record, "ID", record_type)
    bounce_type = _text(record, "Type") or ("SpamComplaint" if record_type == "SpamComplaint" else None)
    if bounce_type is None:
        raise RecordError(f"{record_type} record without Type")
    event = {
        "Type": "Bounced",
        "Recipient": _required(record, "Email", record_type),
        "ReceivedAt": _time(record, "BouncedAt", record_type),
        "Details": {
            "Type": bounce_type,
            "Summary": _text(record, "Details") or _text(record, "Description"),
            "BounceID": bounce_id,
        },
    }
    parsed = _read(record, _required(record, "MessageID", record_type), event)
    return dataclasses.replace(parsed, provider_event_id=f"postmark:{record_type}:{bounce_id}"[:255])


def _subscription_change(record: dict) -> ParsedEvent | None:
    message_id = _text(record, "MessageID")
    if message_id is None:
        return None  # a suppression the Customer or an Admin made, or a reactivation: about no email
    recipient = _required(record, "Recipient", "SubscriptionChange")
    changed_at = _time(record, "ChangedAt", "SubscriptionChange")
    suppress = record.get("SuppressSending")
    if not isinstance(suppress, bool):
        raise RecordError("SubscriptionChange record without SuppressSending (true or false)")
    reason = _text(record, "SuppressionReason")
    origin = _text(record, "Origin")
    stream = _text(record, "MessageStream")
    where = f"the {stream} stream's suppression list" if stream else "the stream's suppression list"
    by = f" (origin: {origin})" if origin else ""
    if suppress and reason == "SpamComplaint":
        event_type, details = "Bounced", {"Type": "SpamComplaint", "Summary": f"added to {where}: spam complaint{by}"}
    elif suppress and reason == "ManualSuppression" and origin == "Recipient":
        event_type, details = "SubscriptionChanged", {"Summary": f"added to {where}{by}"}
    elif suppress:
        said = {"HardBounce": "hard bounce", "ManualSuppression": "manual suppression"}.get(reason or "", reason)
        event_type, details = "SubscriptionChange", {"Summary": f"added to {where}" + (f": {said}" if said else "") + by}
    else:
        event_type, details = "SubscriptionChange", {"Summary": f"reactivated: removed from {where}{by}"}
    parsed = _read(record, message_id, {"Type": event_type, "Recipient": recipient, "ReceivedAt": changed_at,
                                        "Details": details})
    event_id = synth_event_id(PROVIDER, "SubscriptionChange", message_id, recipient.lower(),
                              parse_time(changed_at).isoformat(), suppress, reason, origin)
    return dataclasses.replace(parsed, provider_event_id=event_id)


def parse_record(record: object) -> ParsedEvent | None:
    """One webhook record -> its event; None for a record that says nothing about an email in the
    log (another record type: Open, Click, Inbound; a SubscriptionChange without MessageID), which
    the receiver answers 200 so Postmark does not retry it. Raises RecordError when a record of a
    type it reads lacks a field it needs (MessageID included: Postmark always sends it)."""
    if not isinstance(record, dict):
        raise RecordError("body is not a JSON object")
    record_type = _text(record, "RecordType")
    if record_type is None:
        raise RecordError("record without RecordType")
    if record_type == "Delivery":
        return _delivery(record)
    if record_type in ("Bounce", "SpamComplaint"):
        return _bounce(record, record_type)
    if record_type == "SubscriptionChange":
        return _subscription_change(record)
    return None


def ingest_record(engine: Engine, event: ParsedEvent, now: datetime) -> ingest.IngestResult:
    """Store one parsed record in one transaction through the webhooks' write path: onto its message
    when it is known, else kept in `unmatched_event` until `match_unmatched` finds it."""
    return ingest.ingest_events(engine, [event], now)


def _kept(payload: dict) -> ParsedEvent | None:
    try:
        return parse_record(payload)
    except RecordError:
        return None


def match_unmatched(engine: Engine, now: datetime) -> int:
    """Move kept Postmark events onto messages that now exist; returns how many were matched."""
    return ingest.match_kept_events(engine, PROVIDER, _kept, now)

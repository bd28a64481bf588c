"""The product's words: normalized event types, delivery statuses, and what each means.

Wording follows the portal's help page (Communication Log, Status, DELIVERED, NOT_DELIVERED,
BOUNCE, BLOCKED, DEFERRED) and the normalized vocabulary in the provider reference.
"""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    PROCESSED = "PROCESSED"
    DEFERRED = "DEFERRED"
    DELIVERED = "DELIVERED"
    BOUNCE = "BOUNCE"
    BLOCKED = "BLOCKED"
    DROPPED = "DROPPED"
    FAILED = "FAILED"
    COMPLAINT = "COMPLAINT"
    OPEN = "OPEN"
    CLICK = "CLICK"
    UNSUBSCRIBE = "UNSUBSCRIBE"
    UNKNOWN = "UNKNOWN"


class DeliveryStatus(StrEnum):
    DELIVERED = "DELIVERED"
    NOT_DELIVERED = "NOT_DELIVERED"
    PENDING = "PENDING"


# A message whose provider has never been asked and that no webhook has reached.
NOT_CHECKED = "NOT_CHECKED"
NOT_CHECKED_LABEL = "Not checked yet"


class SendStatus(StrEnum):
    SENT = "sent"
    FAILED = "failed"


class Audience(StrEnum):
    STAFF = "staff"
    BORROWER = "borrower"


TERMINAL_FAILURES = frozenset({EventType.BOUNCE, EventType.BLOCKED, EventType.DROPPED, EventType.FAILED})
DELIVERY_PROOF = frozenset({EventType.DELIVERED, EventType.OPEN, EventType.CLICK})

# One bit per event type, so "was this message ever deferred / bounced" is a column test,
# not a join over millions of events (message.event_mask).
EVENT_BIT: dict[EventType, int] = {t: 1 << i for i, t in enumerate(EventType)}


def mask_of(types) -> int:
    mask = 0
    for t in types:
        # A stored name is a key as it is (an EventType is a str that hashes as its value): the
        # enum's own call, slower, only for what is not a name as stored (and raises as it did).
        bit = EVENT_BIT.get(t)
        mask |= bit if bit is not None else EVENT_BIT[EventType(t)]
    return mask


EVENT_MEANING: dict[EventType, str] = {
    EventType.PROCESSED: "Our mail servers accepted the email and handed it to the email provider for sending.",
    EventType.DEFERRED: (
        "The receiving server delayed acceptance of the message. It does not mean the email will not be "
        "delivered: the receiving server has temporarily limited access (too many spam complaints, or "
        "technical issues at that time), so delivery will be retried and the email may still arrive."
    ),
    EventType.DELIVERED: (
        "The receiving server accepted the email. That is not a guarantee it reached the inbox: "
        "ask the recipient to check their spam or junk folder."
    ),
    EventType.BOUNCE: (
        "The receiving server denied the message for a permanent reason, most commonly because the address "
        "is not valid. The address is now suppressed: future emails to it will not be sent until it is corrected."
    ),
    EventType.BLOCKED: (
        "The receiving server denied the message, but the address is not suppressed. Common reasons are content "
        "the inbox provider deems \"spammy\" or a technical issue between the two servers at the time of sending."
    ),
    EventType.DROPPED: (
        "The email provider did not attempt delivery, usually because the address is on its suppression list "
        "after an earlier bounce or complaint, or is invalid."
    ),
    EventType.FAILED: "A technical failure at the email provider (for example a rendering or API error); it was not sent.",
    EventType.COMPLAINT: "The recipient marked the email as spam.",
    EventType.OPEN: "The recipient opened the email.",
    EventType.CLICK: "The recipient clicked a link in the email.",
    EventType.UNSUBSCRIBE: "The recipient unsubscribed.",
    EventType.UNKNOWN: "An event the email provider reported that commlog does not recognise; its raw name is shown.",
}

STATUS_MEANING: dict[str, str] = {
    DeliveryStatus.DELIVERED: "The receiving mail server accepted the email.",
    DeliveryStatus.NOT_DELIVERED: "The email did not reach the recipient's mail server. See the events for why.",
    DeliveryStatus.PENDING: "The email provider is still trying to deliver it, or has not reported on it yet.",
    NOT_CHECKED: "No delivery information has been fetched for this email yet: use Check delivery status.",
}


def explain_event(event_type: str) -> str:
    try:
        return EVENT_MEANING[EventType(event_type)]
    except ValueError:
        return EVENT_MEANING[EventType.UNKNOWN]

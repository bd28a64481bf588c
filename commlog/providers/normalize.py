"""THE mapping from provider event names to commlog's vocabulary (`commlog.vocabulary.EventType`),
per the table in `shared/reference/providers.md` ("Normalized events"), and the parsers that turn
one provider event (JSON object) into a `ParsedEvent`.

Public for other modules:

* `parse_sendgrid_webhook_event(obj: dict) -> ParsedEvent` — one element of a SendGrid Event
  Webhook POST body (the body is a JSON array of these). Requires `event` and `timestamp`
  (Unix seconds); raises `EventParseError` (a `ValueError`) with a short safe message otherwise.
  `ParsedEvent.provider_event_id` is `sg_event_id`, or, when absent, a stable synthetic id
  (`syn:` + a hash of message id, event, type and timestamp) so re-delivered copies dedupe.
  `ParsedEvent.provider_message_id` is the full `sg_message_id` (None for async bounces without
  it); `custom_args` holds any non-standard top-level keys (e.g. `commlog_log_id`).
  `ParsedEvent.to_new_event(message_id, lender_id[, matched_by])` gives the `commlog.store.NewEvent`.
* `parse_sendgrid_logs_event(obj, message)` — one `events[]` item of `GET /v3/logs/{id}`.
* `parse_activity_event(obj, msg_id, to_email)` — one `events[]` item of `GET /v3/messages/{id}`.
* `parse_postmark_details(obj, message_id)` — all events of `GET /messages/outbound/{id}/details`.
* `sendgrid_message_prefix(id)` — the X-Message-Id part of a per-recipient id (split on the first `.`).

Conventions: `occurred_at` is timezone-aware UTC; `attempt` (see `delivery_attempt`) is the
provider's try number of a DEFERRED event, counted from 1, and None on every other event;
`reason` is the provider's reason or the receiving server's SMTP response; `smtp_status` is the
enhanced status code (`5.1.1`), taken from the provider's field or found in the reason text;
`raw_type` is the provider's own word: SendGrid's `event`, except a bounce of type `blocked` is
`blocked` (as in the Email Logs status rollup); the Activity API's `event_name` with the bounce
type in parentheses (`bounced (soft)`); Postmark's event `Type`, or the bounce type (`HardBounce`)
when a Bounced event names one. Product choices (kept here, tested): Postmark `SoftBounce` -> BLOCKED and
`BadEmailAddress` -> DROPPED; SendGrid `group_resubscribe` -> UNKNOWN (it says nothing about
delivery).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from commlog.vocabulary import EventType

E = EventType


class EventParseError(ValueError):
    """A provider event we cannot read. The message is safe to log (no payload values)."""


@dataclass(slots=True)
class ParsedEvent:
    """One provider event in commlog's words. Not frozen: a webhook post parses hundreds, and a frozen
    dataclass of these fields takes about three times as long to make (its fields set one by one
    through object.__setattr__); nothing changes one after it is parsed."""

    event_type: EventType
    raw_type: str
    occurred_at: datetime
    provider_event_id: str
    provider: str = "sendgrid"
    reason: str | None = None
    smtp_status: str | None = None
    attempt: int | None = None
    bounce_classification: str | None = None
    provider_message_id: str | None = None
    recipient_email: str | None = None
    custom_args: dict[str, Any] = field(default_factory=dict, compare=False)
    # The provider's own JSON for this one event (SendGrid: webhook-shaped, with email and
    # sg_message_id filled in), e.g. for commlog.models.UnmatchedEvent.payload.
    payload: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def to_new_event(self, message_id: int, lender_id: int, matched_by: str | None = None):  # -> commlog.store.NewEvent
        from commlog.store import NewEvent

        return NewEvent(
            message_id,
            lender_id,
            str(self.event_type),
            self.occurred_at,
            self.provider,
            self.provider_event_id,
            _clip(self.raw_type, 64),
            self.reason,
            _clip(self.smtp_status, 16),
            self.attempt,
            _clip(self.bounce_classification, 64),
            matched_by,
        )


# --- mapping tables ------------------------------------------------------------------------------

# SendGrid Event Webhook and Email Logs API `event` (bounce decided by `type`, see sendgrid_event_type).
SENDGRID_EVENTS: dict[str, EventType] = {
    "processed": E.PROCESSED,
    "deferred": E.DEFERRED,
    "delivered": E.DELIVERED,
    "bounce": E.BOUNCE,
    "blocked": E.BLOCKED,
    "block": E.BLOCKED,
    "dropped": E.DROPPED,
    "drop": E.DROPPED,
    "cancel_drop": E.DROPPED,
    "spamreport": E.COMPLAINT,
    "spam_report": E.COMPLAINT,
    "open": E.OPEN,
    "click": E.CLICK,
    "unsubscribe": E.UNSUBSCRIBE,
    "group_unsubscribe": E.UNSUBSCRIBE,
}
SENDGRID_BLOCK_TYPES = frozenset({"blocked", "block"})

# SendGrid Email Activity API `event_name` (bounced decided by bounce_type); webhook spellings accepted.
ACTIVITY_EVENTS: dict[str, EventType] = {
    **SENDGRID_EVENTS,
    "bounced": E.BOUNCE,
    "opened": E.OPEN,
    "clicked": E.CLICK,
}

# Postmark MessageEvents[].Type
POSTMARK_EVENTS: dict[str, EventType] = {
    "Delivered": E.DELIVERED,
    "Transient": E.DEFERRED,
    "Bounced": E.BOUNCE,
    "Opened": E.OPEN,
    "LinkClicked": E.CLICK,
    "SubscriptionChanged": E.UNSUBSCRIBE,
}

# Postmark bounce types (Bounce API `Type`, or a Bounced event's Details when it names one).
POSTMARK_BOUNCE_TYPES: dict[str, EventType] = {
    "HardBounce": E.BOUNCE,
    "Transient": E.DEFERRED,
    "DnsError": E.DEFERRED,
    "Blocked": E.BLOCKED,
    "DMARCPolicy": E.BLOCKED,
    "SpamNotification": E.BLOCKED,
    "SoftBounce": E.BLOCKED,  # product choice
    "VirusNotification": E.BLOCKED,
    "ManuallyDeactivated": E.DROPPED,
    "Unconfirmed": E.DROPPED,
    "BadEmailAddress": E.DROPPED,  # product choice
    "SMTPApiError": E.FAILED,
    "TemplateRenderingFailed": E.FAILED,
    "SpamComplaint": E.COMPLAINT,
    # Replies Postmark files as bounces that are no failure (Bounce API types; its bounce webhook
    # posts them too): an out-of-office reply must not turn a delivered email NOT_DELIVERED.
    "AutoResponder": E.UNKNOWN,
    "AddressChange": E.UNKNOWN,
    "ChallengeVerification": E.UNKNOWN,
    "OpenRelayTest": E.UNKNOWN,
    "Subscribe": E.UNKNOWN,
    "Unsubscribe": E.UNSUBSCRIBE,
}

# Postmark message `Status` (a fallback only: used when it is the only information).
POSTMARK_STATUS: dict[str, EventType] = {
    "Queued": E.PROCESSED,
    "Processed": E.PROCESSED,
    "Sent": E.PROCESSED,
    "Scheduled": E.PROCESSED,
    "Blocked": E.DROPPED,
    "Failed": E.FAILED,
}


def sendgrid_event_type(event: str | None, bounce_type: str | None = None) -> EventType:
    name = (event or "").strip().lower()
    if name == "bounce" and (bounce_type or "").strip().lower() in SENDGRID_BLOCK_TYPES:
        return E.BLOCKED
    return SENDGRID_EVENTS.get(name, E.UNKNOWN)


def activity_event_type(event_name: str | None, bounce_type: str | None = None) -> EventType:
    name = (event_name or "").strip().lower()
    btype = (bounce_type or "").strip().lower()
    if name in ("bounced", "bounce"):
        if btype in SENDGRID_BLOCK_TYPES or btype == "soft":
            return E.BLOCKED
        return E.BOUNCE
    return ACTIVITY_EVENTS.get(name, E.UNKNOWN)


def postmark_event_type(type_: str | None, bounce_type: str | None = None) -> EventType:
    t = (type_ or "").strip()
    if t == "Bounced" and bounce_type:
        return POSTMARK_BOUNCE_TYPES.get(bounce_type.strip(), E.BOUNCE)
    return POSTMARK_EVENTS.get(t, E.UNKNOWN)


def postmark_bounce_type(bounce_type: str | None) -> EventType:
    return POSTMARK_BOUNCE_TYPES.get((bounce_type or "").strip(), E.UNKNOWN)


def postmark_status_type(status: str | None) -> EventType:
    return POSTMARK_STATUS.get((status or "").strip(), E.UNKNOWN)


# --- helpers -------------------------------------------------------------------------------------

_SMTP_STATUS = re.compile(r"(?<![\d.])([245]\.\d{1,3}\.\d{1,3})(?![\d.])")
_ISO_FRACTION = re.compile(r"(\.\d{6})\d+")


def _clip(value: str | None, n: int) -> str | None:
    if value is None:
        return None
    value = str(value)
    return value if len(value) <= n else value[:n]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    s = str(value).strip()
    return s or None


def smtp_status_of(status: Any, *texts: Any) -> str | None:
    """The enhanced SMTP status: the provider's own field when it is one, else found in the text."""
    s = _text(status)
    if s and _SMTP_STATUS.fullmatch(s):
        return s
    for t in texts:
        t = _text(t)
        if t:
            m = _SMTP_STATUS.search(t)
            if m:
                return m.group(1)
    return None


def parse_time(value: Any) -> datetime:
    """Unix seconds (int, float or numeric string) or ISO 8601 (Z or offset, up to 7+ fractional
    digits as Postmark sends) -> timezone-aware UTC. Naive ISO values are taken as UTC."""
    if value is None or isinstance(value, bool):
        raise EventParseError("missing timestamp")
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(float(value), tz=UTC)
    s = str(value).strip()
    if not s:
        raise EventParseError("missing timestamp")
    try:
        return datetime.fromtimestamp(float(s), tz=UTC)
    except ValueError:
        pass
    iso = s.replace("Z", "+00:00").replace("z", "+00:00")
    iso = _ISO_FRACTION.sub(r"\1", iso)
    try:
        dt = datetime.fromisoformat(iso)
    except ValueError:
        raise EventParseError("unreadable timestamp") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def delivery_attempt(event_type: EventType, value: Any, *, zero_based: bool) -> int | None:
    """The one convention for attempt numbers, on every path (Logs, Activity, webhook, Postmark).

    "Attempt N" is the provider's N-th try to hand the email to the receiving server, counted from 1,
    and it is kept on DEFERRED events only: a deferral is the one event whose meaning depends on how
    many tries came before ("delayed 3 times, still retrying"). Other events carry none, so the page
    never prints "attempt 0" or an attempt on a delivery, and the same message reads the same through
    every API.

    * SendGrid Event Webhook and Email Logs API (`GET /v3/logs/{id}` events mirror the webhook):
      `attempt` is a zero-based string (shared/reference/providers.md, "SendGrid Email Logs API";
      SendGrid's Event Webhook reference lists it on deferred events, e.g. `"attempt": "5"`), so
      it is shifted by one.
    * SendGrid Email Activity API: `attempt_num` is 1–10 on deferrals (providers.md, "SendGrid Email
      Activity API"); it stores 0 on processed, delivered and bounced events, which is no try number.
    * Postmark's Messages API and webhooks give no attempt number: None.
    A value that is not a whole number, or below the first try, is None.
    """
    if event_type != EventType.DEFERRED or value is None or value == "" or isinstance(value, bool):
        return None
    try:
        n = int(str(value).strip())
    except ValueError:
        return None
    n = n + 1 if zero_based else n
    return n if n >= 1 else None


def _id_attempt(obj: dict) -> int | None:
    """The attempt part of an Activity event's synthetic id, as ids were always built (the ids of
    events stored earlier must not change, or a re-check would store them twice)."""
    for key, shift in (("attempt_num", 0), ("attempt", 1)):
        try:
            if obj.get(key) not in (None, ""):
                return int(str(obj.get(key)).strip()) + shift
        except ValueError:
            return None
    return None


def synth_event_id(*parts: Any) -> str:
    """A stable id for an event the provider gave none: same inputs, same id, every time."""
    h = hashlib.sha256("|".join("" if p is None else str(p) for p in parts).encode("utf-8")).hexdigest()
    return f"syn:{h[:40]}"


def sendgrid_message_prefix(message_id: str | None) -> str | None:
    """`evEK_IhZSlKus235aGfxIQ.recvd-…` -> `evEK_IhZSlKus235aGfxIQ` (the X-Message-Id)."""
    if not message_id:
        return None
    return message_id.strip().split(".", 1)[0] or None


def _bounce_label(raw: str, subtype: str | None) -> str:
    return f"{raw} ({subtype})" if subtype else raw


# --- SendGrid ------------------------------------------------------------------------------------

_WEBHOOK_STANDARD = frozenset(
    {
        "email", "timestamp", "event", "smtp-id", "sg_event_id", "sg_message_id", "reason", "status",
        "response", "attempt", "type", "bounce_classification", "tls", "category", "ip", "useragent",
        "url", "url_offset", "asm_group_id", "cert_err", "sg_content_type", "sg_machine_open",
        "marketing_campaign_id", "marketing_campaign_name", "pool", "send_at", "sg_template_id",
        "sg_template_name", "singlesend_id", "singlesend_name", "template_id", "template_version_id",
        "mc_stats", "phase_id", "post_type", "newsletter",
    }
)


def _sendgrid_event(obj: dict, *, message_id: str | None, email: str | None, zero_based_attempt: bool) -> ParsedEvent:
    if not isinstance(obj, dict):
        raise EventParseError("event is not a JSON object")
    raw = _text(obj.get("event"))
    if raw is None:
        raise EventParseError("event without an 'event' name")
    occurred = parse_time(obj.get("timestamp"))
    btype = _text(obj.get("type"))
    etype = sendgrid_event_type(raw, btype)
    reason = _text(obj.get("reason")) or _text(obj.get("response"))
    smtp_status = smtp_status_of(obj.get("status"), obj.get("reason"), obj.get("response"))
    eid = _text(obj.get("sg_event_id")) or synth_event_id(
        message_id or _text(obj.get("smtp-id")) or email, raw, btype, int(occurred.timestamp())
    )
    custom = {k: v for k, v in obj.items() if k not in _WEBHOOK_STANDARD}
    return ParsedEvent(
        event_type=etype,
        raw_type="blocked" if etype == E.BLOCKED and raw.lower() == "bounce" else raw,
        occurred_at=occurred,
        provider_event_id=eid[:255],
        provider="sendgrid",
        reason=reason,
        smtp_status=smtp_status,
        attempt=delivery_attempt(etype, obj.get("attempt"), zero_based=zero_based_attempt),
        bounce_classification=_text(obj.get("bounce_classification")),
        provider_message_id=message_id,
        recipient_email=email,
        custom_args=custom,
        payload={**obj, **({"email": email} if email else {}), **({"sg_message_id": message_id} if message_id else {})},
    )


def parse_sendgrid_webhook_event(obj: dict) -> ParsedEvent:
    """One SendGrid Event Webhook event (one element of the POSTed JSON array)."""
    if not isinstance(obj, dict):
        raise EventParseError("event is not a JSON object")
    return _sendgrid_event(
        obj,
        message_id=_text(obj.get("sg_message_id")),
        email=_text(obj.get("email")),
        zero_based_attempt=True,
    )


def parse_sendgrid_logs_event(obj: dict, message: dict) -> ParsedEvent:
    """One `events[]` item of the Email Logs API's `GET /v3/logs/{sg_message_id}`."""
    ev = _sendgrid_event(
        obj,
        message_id=_text(obj.get("sg_message_id")) or _text(message.get("sg_message_id")),
        email=_text(obj.get("email")) or _text(message.get("to_email")),
        zero_based_attempt=True,
    )
    nested = message.get("custom_args")
    if isinstance(nested, dict) and nested:
        ev.custom_args.update(nested)
    return ev


def parse_activity_event(obj: dict, msg_id: str | None, to_email: str | None) -> ParsedEvent:
    """One `events[]` item of the legacy Email Activity API's `GET /v3/messages/{msg_id}`."""
    if not isinstance(obj, dict):
        raise EventParseError("event is not a JSON object")
    raw = _text(obj.get("event_name")) or _text(obj.get("event"))
    if raw is None:
        raise EventParseError("event without an 'event_name'")
    occurred = parse_time(obj.get("processed") if obj.get("processed") is not None else obj.get("timestamp"))
    btype = _text(obj.get("bounce_type")) or _text(obj.get("type"))
    etype = activity_event_type(raw, btype)
    reason = _text(obj.get("reason")) or _text(obj.get("response"))
    if obj.get("attempt_num") is not None:
        attempt = delivery_attempt(etype, obj.get("attempt_num"), zero_based=False)
    else:
        attempt = delivery_attempt(etype, obj.get("attempt"), zero_based=True)
    eid = _text(obj.get("sg_event_id")) or synth_event_id(msg_id, raw, btype, int(occurred.timestamp()), _id_attempt(obj))
    return ParsedEvent(
        event_type=etype,
        raw_type=_bounce_label(raw, btype) if raw.lower() in ("bounced", "bounce") else raw,
        occurred_at=occurred,
        provider_event_id=eid[:255],
        provider="sendgrid",
        reason=reason,
        smtp_status=smtp_status_of(obj.get("status"), reason),
        attempt=attempt,
        bounce_classification=_text(obj.get("bounce_classification")),
        provider_message_id=msg_id,
        recipient_email=to_email,
    )


# --- Postmark ------------------------------------------------------------------------------------


def _postmark_event(obj: dict, message_id: str, default_recipient: str | None) -> ParsedEvent:
    if not isinstance(obj, dict):
        raise EventParseError("event is not a JSON object")
    raw = _text(obj.get("Type"))
    if raw is None:
        raise EventParseError("event without a 'Type'")
    occurred = parse_time(obj.get("ReceivedAt"))
    details = obj.get("Details") if isinstance(obj.get("Details"), dict) else {}
    btype = (_text(details.get("BounceType")) or _text(details.get("Type"))) if raw == "Bounced" else None
    etype = postmark_event_type(raw, btype)
    reason = _text(details.get("DeliveryMessage")) or _text(details.get("Summary")) or _text(details.get("Details"))
    recipient = _text(obj.get("Recipient")) or default_recipient
    eid = synth_event_id("postmark", message_id, recipient, raw, btype, occurred.isoformat())
    return ParsedEvent(
        event_type=etype,
        raw_type=(btype or raw) if raw == "Bounced" else raw,
        occurred_at=occurred,
        provider_event_id=eid,
        provider="postmark",
        reason=reason,
        smtp_status=smtp_status_of(None, details.get("DeliveryMessage"), details.get("Summary")),
        bounce_classification=btype,
        provider_message_id=message_id,
        recipient_email=recipient,
        payload={**obj, "MessageID": message_id},
    )


def parse_postmark_details(obj: dict, message_id: str, recipient: str | None = None) -> list[ParsedEvent]:
    """All events of one Postmark message (`GET /messages/outbound/{id}/details`). The message
    `Status` is used only when no event says more: Queued/Processed/Sent with no events gives one
    PROCESSED event; Blocked gives DROPPED and Failed gives FAILED (at the message's ReceivedAt)."""
    if not isinstance(obj, dict):
        raise EventParseError("details are not a JSON object")
    events_raw = obj.get("MessageEvents") or []
    if not isinstance(events_raw, list):
        raise EventParseError("MessageEvents is not a list")
    events = [_postmark_event(e, message_id, recipient) for e in events_raw]
    status = _text(obj.get("Status"))
    status_type = postmark_status_type(status)
    if status and obj.get("ReceivedAt") is not None:
        needs = (status_type == E.PROCESSED and not events) or (
            status_type in (E.DROPPED, E.FAILED) and not any(e.event_type == status_type for e in events)
        )
        if needs:
            occurred = parse_time(obj.get("ReceivedAt"))
            events.append(
                ParsedEvent(
                    event_type=status_type,
                    raw_type=f"Status {status}",
                    occurred_at=occurred,
                    provider_event_id=synth_event_id("postmark", message_id, "Status", status, occurred.isoformat()),
                    provider="postmark",
                    provider_message_id=message_id,
                    recipient_email=recipient,
                )
            )
    return events

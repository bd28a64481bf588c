"""Who said what about an email: each event worded by its source.

    event_voice(event_type, provider=..., reason=..., raw_type=..., domain=...) -> Voice | None
    send_failure_voice(send_error) -> Voice
    match_note(matched_by) -> str | None

An event's stored `reason` comes from one of three places, and the words say which:

* the receiving server's SMTP reply (BOUNCE, BLOCKED, DEFERRED; DELIVERED's "250 OK"):
  "The receiving server (gmail.com) answered:" and its reply verbatim. A reason that is not an SMTP
  reply (Postmark's summary of a bounce) is the provider's: "Postmark reported:".
* the provider's own decision (DROPPED: the address is on its suppression list, or invalid; FAILED:
  a failure at the provider): "SendGrid did not send it: the address is on its bounce list ...
  (Bounced Address)". The receiving server said nothing: it was never asked.
* the recipient, through the provider (COMPLAINT, UNSUBSCRIBE).

Our own send failure (message.send_status = failed, no events) is `send_failure_voice`: "Our mail
servers could not send it:". PROCESSED, OPEN and CLICK are neutral: a reason there is the provider's
note. The message view, the email dialog and the troubleshooter all word events through here.

How an event found its email is said too when the provider did not name it (`match_note`): a late
bounce without a message id is matched by address and time (commlog.webhooks.ingest), and the reader
should know that is our inference, not the provider's word.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from commlog.providers.errors import provider_label
from commlog.store import MATCHED_BY_ADDRESS_AND_TIME
from commlog.vocabulary import TERMINAL_FAILURES, EventType

RECEIVING_SERVER = "receiving_server"
PROVIDER = "provider"
RECIPIENT = "recipient"
OUR_SERVERS = "our_servers"

# An SMTP reply: a reply code (250, 421, 550-...), an enhanced status code (5.1.1), or a DSN's "smtp;".
_SMTP_REPLY = re.compile(r"^\s*(?:smtp;\s*)?[245]\d\d(?:[\s-]|$)|\b[245]\.\d{1,3}\.\d{1,3}\b", re.IGNORECASE)

_DECIDING = frozenset(str(t) for t in TERMINAL_FAILURES)
_FROM_THE_RECEIVING_SERVER = frozenset({EventType.BOUNCE, EventType.BLOCKED, EventType.DEFERRED, EventType.DELIVERED})

# SendGrid's drop reasons (its suppression lists) -> why it did not send.
_SENDGRID_DROPS = (
    (re.compile(r"bounced address", re.I), "the address is on its bounce list, after an earlier email to it bounced"),
    (re.compile(r"unsubscribed", re.I), "the recipient unsubscribed, so the address is on its unsubscribe list"),
    (re.compile(r"spam report", re.I), "the recipient reported an earlier email as spam, so the address is on its "
                                      "spam report list"),
    (re.compile(r"invalid", re.I), "the address is on its invalid address list"),
    (re.compile(r"block", re.I), "the address is on its block list, after an earlier email to it was blocked"),
)  # fmt: skip
# Postmark's inactive reasons (bounce types, message Status) -> why it did not send.
_POSTMARK_DROPS = (
    (re.compile(r"bademailaddress|invalid", re.I), "the address is not a valid email address"),
    (re.compile(r"unconfirmed", re.I), "the address was never confirmed"),
    (re.compile(r"manual", re.I), "the address was deactivated by hand"),
    (re.compile(r"spam", re.I), "the recipient reported an earlier email as spam, so the address is inactive"),
)  # fmt: skip
_POSTMARK_INACTIVE = "the address is marked inactive on its suppression list, after an earlier hard bounce or spam complaint"
_SUPPRESSED = "the address is on its suppression list (an earlier bounce, complaint or unsubscribe, or an invalid address)"


@dataclass(frozen=True)
class Voice:
    """Who spoke (`speaker`), what they decided or how we introduce them (`lead`), and their own
    words to show verbatim (`quote`: an SMTP reply, an error), if any."""

    speaker: str
    lead: str
    quote: str | None = None

    def sentence(self) -> str:
        """One line of prose: the lead, then the quote."""
        if not self.quote:
            return _full_stop(self.lead)
        return f"{self.lead} {_full_stop(' '.join(self.quote.split()))}"


def is_smtp_reply(text: str | None) -> bool:
    return bool(text) and bool(_SMTP_REPLY.search(text))


def event_voice(
    event_type: str,
    *,
    provider: str | None,
    reason: str | None,
    raw_type: str | None = None,
    domain: str | None = None,
) -> Voice | None:
    """How to word what this event says, by who said it; None when it says nothing beyond its type
    (no reason stored, nobody to name)."""
    name = provider_label(provider)
    try:
        etype = EventType(event_type)
    except ValueError:
        etype = EventType.UNKNOWN
    reason = reason.strip() if reason and reason.strip() else None

    if etype == EventType.DROPPED:
        return Voice(PROVIDER, f"{name} did not send it: {_why_dropped(provider, reason, raw_type)}"
                     + (f" ({reason or raw_type})" if reason or raw_type else ""))  # fmt: skip
    if etype == EventType.FAILED:
        return Voice(PROVIDER, f"{name} could not send it" + (":" if reason else " (a failure at the provider)"), reason)
    if etype == EventType.COMPLAINT:
        return Voice(RECIPIENT, f"The recipient reported it as spam, and their mailbox provider told {_mid(name)}"
                     + (":" if reason else ""), reason)  # fmt: skip
    if etype == EventType.UNSUBSCRIBE:
        return Voice(RECIPIENT, f"The recipient unsubscribed, through {_mid(name)}" + (":" if reason else ""), reason)
    if reason is None:
        return None
    if etype in _FROM_THE_RECEIVING_SERVER and is_smtp_reply(reason):
        server = f"The receiving server ({domain})" if domain else "The receiving server"
        verb = "accepted it, answering:" if etype == EventType.DELIVERED else "answered:"
        return Voice(RECEIVING_SERVER, f"{server} {verb}", reason)
    return Voice(PROVIDER, f"{name} reported:", reason)


def status_reason_text(message: Mapping) -> str | None:
    """A message's stored status reason (the deciding event's words, cut short for the grid), said
    by whoever said it: "SendGrid did not send it: ... (Bounced Address)" for a drop, "The receiving
    server (gmail.com) answered: 550 ..." for a bounce; our own words ("expired: ...") as they are."""
    reason = message.get("status_reason")
    last = message.get("last_event_type")
    if not reason or last not in _DECIDING or reason.startswith("expired"):
        return reason
    voice = event_voice(last, provider=message.get("provider"), reason=None if reason == last.lower() else reason,
                        domain=message.get("recipient_domain"))
    return voice.sentence() if voice is not None else reason


def match_note(matched_by: str | None) -> str | None:
    """How a stored event found its email, when the provider did not say (None: it named the email)."""
    if matched_by == MATCHED_BY_ADDRESS_AND_TIME:
        return ("Matched to this email by address and time: the provider sent no message id, and this is the "
                "newest email to the address sent before the event.")
    return None


def send_failure_voice(send_error: str | None) -> Voice:
    """Our own mail servers' failure: the email never reached the provider."""
    if send_error and send_error.strip():
        return Voice(OUR_SERVERS, "Our mail servers could not send it, so it never reached the email provider:",
                     send_error.strip())
    return Voice(OUR_SERVERS, "Our mail servers could not send it, so it never reached the email provider.")


def _why_dropped(provider: str | None, reason: str | None, raw_type: str | None) -> str:
    said = " ".join(filter(None, (reason, raw_type)))
    if provider == "postmark":
        return next((why for pattern, why in _POSTMARK_DROPS if pattern.search(said)), _POSTMARK_INACTIVE)
    if provider in ("sendgrid", "sandbox"):
        return next((why for pattern, why in _SENDGRID_DROPS if pattern.search(said)), _SUPPRESSED)
    return _SUPPRESSED


def _mid(name: str) -> str:
    """A provider's name inside a sentence ("the sandbox email provider", "SendGrid")."""
    return name[0].lower() + name[1:] if name.startswith("The ") else name


def _full_stop(text: str) -> str:
    text = text.strip()
    return text if text[-1:] in ".!?…" else text + "."

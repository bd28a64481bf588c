"""The one next step for "why didn't they get it?": rules you can read top to bottom.

    next_step(situation) -> NextStep

A `Situation` holds what the troubleshooter found about one address: the address checks (no
network), the email the question is about (the newest one to the address, or the one the lender
admin opened) with what its events say, the provider's suppression lists, and whether its mailbox
provider was blocking the whole platform when it was sent. The rules below are tried in order; the
first that applies gives the step. Each is unit-tested with its wording (tests/unit/test_next_step.py).

 1. no_email          we never emailed this address
 2. correct_address   the address is malformed, a likely typo, a placeholder, or bounced as nonexistent
 3. resend            our mail servers could not send it
 4. recipient_asked   the recipient marked our email as spam or unsubscribed
 5. platform_block    the mailbox provider was blocking the whole platform
 6. request_removal   suppressed after a temporary problem (mailbox full, a block)
 7. check_first       its delivery status was never checked
 8. wait_and_recheck  the receiving server is delaying it, inside the retry window
 9. check_spam        delivered: look in spam and add the sender
10. blocked           the receiving server refused this email (not the address)
11. expired           delayed past the retry window
12. ask_ops           anything else (a failure at the provider)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from commlog.deliverability import FAMILY_SHORT, PlatformEpisode
from commlog.event_wording import event_voice
from commlog.providers.base import SuppressionReport
from commlog.rollups import smtp_code
from commlog.status import RETRY_WINDOW
from commlog.troubleshoot.address import AddressCheck
from commlog.vocabulary import DeliveryStatus, EventType

# Enhanced codes that mean "this address or its domain does not exist" (RFC 3463 X.1.x; Microsoft
# 365's 5.4.1 "recipient address rejected: access denied" is its directory saying the same).
NONEXISTENT_CODES = ("5.1.0", "5.1.1", "5.1.2", "5.1.3", "5.1.6", "5.1.10", "5.4.1")
NONEXISTENT_WORDS = re.compile(
    r"does not exist|doesn't exist|user unknown|no such user|unknown user|domain not found|"
    r"does not accept mail|doesn't have a \S+ account|mailbox unavailable|invalid address",
    re.IGNORECASE,
)
# Drop reasons (SendGrid) that say the recipient asked not to receive email.
ASKED_DROP_REASONS = re.compile(r"spam reporting|unsubscribed", re.IGNORECASE)
RECHECK_AFTER = timedelta(hours=1)  # a deferred email is worth checking again about this often


@dataclass(frozen=True)
class Focus:
    """The email the question is about, and what its events say."""

    sent_at: datetime
    send_status: str  # sent | failed
    send_error: str | None
    delivery_status: str | None  # None: never checked
    last_event_type: str | None
    reason: str | None  # the receiving server's (or provider's) words on its status
    first_deferral_at: datetime | None
    deferrals: int
    complained: bool  # a COMPLAINT or UNSUBSCRIBE event
    provider_family: str
    provider: str | None = None  # the email provider that sent it (sendgrid | postmark): who said what
    recipient_domain: str | None = None  # the receiving server's domain, to name it


@dataclass(frozen=True)
class Situation:
    address: str
    address_check: AddressCheck
    focus: Focus | None  # None: no email to this address in scope
    suppression: SuppressionReport | None  # None: the provider could not be asked
    platform_episode: PlatformEpisode | None  # the focus's family's block episode, if it covers the send day
    previous_bounce: str | None  # the reply of the newest BOUNCE among the address's emails
    now: datetime
    tz: ZoneInfo


@dataclass(frozen=True)
class NextStep:
    kind: str
    title: str  # what to do, in a few words
    detail: str  # why, with the evidence


def next_step(s: Situation) -> NextStep:
    for rule in RULES:
        step = rule(s)
        if step is not None:
            return step
    raise AssertionError("the last rule always applies")


# --- the rules, in order ----------------------------------------------------------------------------


def _no_email(s: Situation) -> NextStep | None:
    if s.focus is not None:
        return None
    detail = "No email to this address is in your Communication Log, so there is nothing to check."
    if s.address_check.findings:
        detail += " " + " ".join(s.address_check.findings)
    return NextStep("no_email", "We have not emailed this address",
                    detail + " Check the address on the borrower's account, then ask them to request the email again "
                    "(for example a new password reset).")


def _correct_address(s: Situation) -> NextStep | None:
    check = s.address_check
    if check.looks_wrong:
        return NextStep("correct_address", "Correct the address",
                        f"{' '.join(check.findings)} Ask the borrower for the right address, update it on their "
                        "account, then send the email again.")
    bounce = _nonexistent_bounce(s)
    if bounce is not None:
        return NextStep("correct_address", "Correct the address",
                        f"The receiving server said this address does not exist ({bounce}). Ask the borrower for the "
                        "right address, update it on their account, then send the email again: the old address is "
                        "suppressed and will never receive email.")
    return None


def _resend(s: Situation) -> NextStep | None:
    f = s.focus
    if f.send_status != "failed":
        return None
    why = f" ({f.send_error})" if f.send_error else ""
    return NextStep("resend", "Send it again",
                    f"Our mail servers could not send this email{why}, so it never left the portal. Ask the borrower "
                    "to request it again (for example a new password reset), or send it again from the portal.")


def _recipient_asked(s: Situation) -> NextStep | None:
    f = s.focus
    listed = [e for e in (s.suppression.entries if s.suppression else ()) if e.recipient_asked]
    dropped_asked = f.last_event_type == EventType.DROPPED and ASKED_DROP_REASONS.search(f.reason or "")
    if not (listed or f.complained or dropped_asked):
        return None
    how = f"it is on the provider's {listed[0].label} list" if listed else "they marked one of our emails as spam or unsubscribed"
    return NextStep("recipient_asked", "The recipient asked not to get our email",
                    f"The email provider will not send to this address: {how}. Only the recipient can undo that, and "
                    "commlog never removes it for them. Ask the borrower to use another address, or to contact the "
                    "portal's support to receive email again.")


def _platform_block(s: Situation) -> NextStep | None:
    f, episode = s.focus, s.platform_episode
    if f.last_event_type != EventType.BLOCKED or episode is None:
        return None
    who = FAMILY_SHORT.get(episode.family, episode.family)
    detail = (f"{episode.sentence()} That block was against the whole platform's mail, not this address or your "
              "lender: nothing you can do changes it, and platform ops handle it with " + who + ".")
    if not episode.ongoing:
        return NextStep("platform_block", "A block against the whole platform, now over: send it again",
                        detail + " It is over: ask the borrower to request the email again.")
    return NextStep("platform_block", "Nothing for you to do: platform ops are on it", detail)


def _request_removal(s: Situation) -> NextStep | None:
    stopping = [e for e in (s.suppression.entries if s.suppression else ()) if e.stops_sending and not e.recipient_asked]
    if not stopping:
        return None
    entry = stopping[0]
    cause = entry.reason or s.previous_bounce or ""
    if says_address_does_not_exist(cause):
        return None  # handled by correct_address when the reply was stored; never ask to unsuppress a dead address
    since = f" since {_when(entry.since, s.tz)}" if entry.since else ""
    said = f" {_said(s.focus, EventType.BOUNCE, cause)}" if cause else ""
    return NextStep("request_removal", "Ask for the address to be taken off the suppression list",
                    f"The address is on the provider's {entry.label} list{since}, so no email to it is sent.{said} "
                    "That was a temporary problem, not a wrong address: once the borrower confirms their mailbox "
                    "works, ask platform ops to remove the address from the suppression list, then send the email again.")


def _check_first(s: Situation) -> NextStep | None:
    if s.focus.delivery_status is not None:
        return None
    return NextStep("check_first", "Check delivery status first",
                    "Our mail servers sent this email, but nobody has asked the email provider what happened to it "
                    "yet. Use Check delivery status: the answer decides the next step.")


def _wait_and_recheck(s: Situation) -> NextStep | None:
    f = s.focus
    if f.delivery_status != DeliveryStatus.PENDING:
        return None
    if f.first_deferral_at is None:
        return NextStep("wait_and_recheck", "Wait a few minutes, then check again",
                        "The email provider has the email but has not reported delivery yet. That is normal for a "
                        "few minutes after sending.")
    gives_up = f.first_deferral_at + RETRY_WINDOW
    recheck = min(s.now + RECHECK_AFTER, gives_up)
    said = f" {_said(f, EventType.DEFERRED, f.reason)}" if f.reason else ""
    return NextStep("wait_and_recheck", "Wait, then check again",
                    f"The receiving server has delayed this email {f.deferrals} time{'s' if f.deferrals != 1 else ''} "
                    f"and the email provider keeps retrying until {_when(gives_up, s.tz)}.{said} It may still arrive: "
                    f"check again after {_when(recheck, s.tz)}.")


def _check_spam(s: Situation) -> NextStep | None:
    if s.focus.delivery_status != DeliveryStatus.DELIVERED:
        return None
    return NextStep("check_spam", "Ask them to look in their spam folder",
                    "The receiving mail server accepted this email, so it reached the borrower's mailbox provider; "
                    "that is not a guarantee of the inbox. Ask the borrower to look in their spam or junk folder (and "
                    "in tabs like Promotions or Updates) and to add our sender address to their contacts.")


def _blocked(s: Situation) -> NextStep | None:
    if s.focus.last_event_type != EventType.BLOCKED:
        return None
    said = f" ({s.focus.reason})" if s.focus.reason else ""
    return NextStep("blocked", "Send it again later; tell platform ops if it repeats",
                    f"The receiving server refused this email{said}, usually for its content or our sending reputation, "
                    "not because of the address, which is not suppressed. Ask the borrower to request the email "
                    "again later; if it is blocked again, tell platform ops.")


def _expired(s: Situation) -> NextStep | None:
    f = s.focus
    if f.delivery_status != DeliveryStatus.NOT_DELIVERED or f.last_event_type not in (None, EventType.DEFERRED):
        return None
    return NextStep("expired", "Ask them to check their mailbox, then send it again",
                    "The receiving server kept delaying this email for 72 hours, so the email provider gave up. Often "
                    "the mailbox is full or the borrower's provider had trouble. Ask the borrower to check their "
                    "mailbox has space, then to request the email again.")


def _ask_ops(s: Situation) -> NextStep:
    f = s.focus
    if f.last_event_type == EventType.DROPPED:
        return NextStep("ask_ops", "Ask platform ops",
                        f"{_said(f, EventType.DROPPED, f.reason)} The receiving server was never asked. Platform ops "
                        "can find out with the provider why the address is listed, and take it off the list if the "
                        "earlier problem is over.")
    said = f" {_said(f, f.last_event_type or EventType.FAILED, f.reason)}" if f.reason else ""
    return NextStep("ask_ops", "Ask platform ops",
                    f"The email provider could not deliver this email for a reason that is not about the address.{said} "
                    "Platform ops can look into it with the provider.")


RULES = (_no_email, _correct_address, _resend, _recipient_asked, _platform_block, _request_removal, _check_first,
         _wait_and_recheck, _check_spam, _blocked, _expired, _ask_ops)


# --- helpers --------------------------------------------------------------------------------------


def _said(f: Focus, event_type: str, reason: str | None) -> str:
    """What the event's source said, worded by who said it (commlog.event_wording)."""
    voice = event_voice(event_type, provider=f.provider, reason=reason, domain=f.recipient_domain)
    return voice.sentence() if voice is not None else ""


def says_address_does_not_exist(reply: str | None) -> bool:
    """The receiving server's reply says the mailbox does not exist (a 5.1.x / 5.4.1 code, or the
    words of one under a 5xx)."""
    if not reply:
        return False
    code = smtp_code(reply).split(" ")[-1]
    return code in NONEXISTENT_CODES or (code[:1] == "5" and bool(NONEXISTENT_WORDS.search(reply)))


def _nonexistent_bounce(s: Situation) -> str | None:
    """The reply that says the address does not exist: the focus's own BOUNCE, or the bounce that
    put it on the suppression list when the focus was DROPPED for it."""
    f = s.focus
    if f.last_event_type == EventType.BOUNCE and says_address_does_not_exist(f.reason):
        return f.reason
    if f.last_event_type == EventType.DROPPED and says_address_does_not_exist(s.previous_bounce):
        return s.previous_bounce
    listed = [e.reason for e in (s.suppression.entries if s.suppression else ()) if e.stops_sending and e.reason]
    return next((r for r in listed if says_address_does_not_exist(r)), None)


def _when(at: datetime, tz: ZoneInfo) -> str:
    return f"{at.astimezone(tz):%Y-%m-%d %H:%M} ({tz.key})"

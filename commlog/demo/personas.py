"""The demo's personas: Harbor Credit Union borrowers with a crafted, deterministic history, one for
each next step the troubleshooter ("Why didn't they get it?") can name.

The generated demo data comes from hashes, so no generated borrower reliably shows a given case.
The personas do, on every seed (`seed-demo` with `--days` of at least `MIN_DAYS`, any other option,
any `--seed`), at times relative to the seed's anchor (the demo's "now"):

* delivered -- Maya Lindqvist <maya.lindqvist@gmail.com>: account confirmation (lender log)
  delivered and opened; password reset (her log) delivered yesterday, never opened.
* typo_domain -- Owen Hargrove <owen.hargrove@gmial.com>: confirmation BOUNCE (gmial.com accepts
  no mail), then his reset DROPPED "Bounced Address".
* no_mailbox -- Priya Raman <priya.raman@yahoo.com>: confirmation BOUNCE 554 5.1.1, no such Yahoo
  account.
* deferred -- Diego Arriaga <diego.arriaga@outlook.com>: reset DEFERRED again and again (Microsoft
  451 4.7.650 rate limit): PENDING at the anchor, delivered 6 hours after it.
* suppressed_after_temporary -- Hannah Okonkwo <hannah.okonkwo@comcast.net>: loan status update
  BOUNCE 552 5.2.2 mailbox full (on the bounce list since), then her reset DROPPED.
* platform_block -- Ethan Bramwell <ethan.bramwell@hotmail.com>: reset BLOCKED during the Microsoft
  block episode (S3150); nothing sent to him since.
* never_sent -- Lucia Ferreira <lucia.ferreira@icloud.com>: confirmation failed to send.
* recipient_asked -- Victor Petrov <victor.petrov@aol.com>: loan status update delivered, then
  reported as spam; payment reminder DROPPED "Spam Reporting Address".
* not_checked -- Nora Quinn <nora.quinn@gmail.com>: confirmation delivered; reset 3 hours ago not
  checked yet (the sandbox answers DELIVERED).

Their names cannot be generated (`commlog.demo.names` never pairs these first and last names), so
their addresses are unique across the demo and no generated borrower shares their history.

How the rest of the demo uses this module:

* `commlog.demo.seed` writes their accounts and messages after the generated ones (ids after
  theirs; subjects and provider message ids from their own RNG, "commlog-persona-<seed>"), so the
  generated data is the same with or without them (`SeedConfig.personas`).
* `commlog.demo.outcomes.planned_events` asks `crafted_plan` first: for a persona's email it
  returns the crafted events of its plan (below), so the seeded rows, the sandbox's "Check delivery
  status" and its suppression lists all tell the same story. Emails whose `plan` is None (Owen,
  Priya) follow outcomes' general rules: a dead address bounces, later sends are dropped.
* `commlog.demo.outcomes.address_fate` treats `NO_MAILBOX` (Priya) as nonexistent mailboxes.

This module reads `commlog.demo.outcomes` (reasons, backoff, the Microsoft block episode) only
inside functions: outcomes imports this module at its top.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING

from commlog.demo import catalog
from commlog.demo.subjects import ACCOUNT_CONFIRMATION, SEND_ERRORS, TYPES, EmailType
from commlog.vocabulary import EventType

if TYPE_CHECKING:
    from collections.abc import Callable

    from commlog.demo.outcomes import MessageFacts

LENDER_INDEX = 0  # catalog index of the personas' lender: Harbor Credit Union (always seeded)
LENDER = catalog.LENDERS[LENDER_INDEX]
MIN_DAYS = 14  # every persona email is sent within the last 14 days (the block episode included)


def _borrower_type(name: str) -> EmailType:
    return next(t for t in TYPES if t.name == name and t.audience == "borrower")


CONFIRMATION = ACCOUNT_CONFIRMATION  # lender log
PASSWORD_RESET = _borrower_type("password_reset")  # borrower log
LOAN_STATUS_UPDATE = _borrower_type("loan_status_update")  # borrower log
PAYMENT_REMINDER = _borrower_type("payment_reminder")  # borrower log


@dataclass(frozen=True)
class PersonaEmail:
    """One email the portal sent (or tried to send) to a persona."""

    email_type: EmailType
    at: timedelta  # when it was sent, relative to the anchor (negative: before)
    plan: str | None  # its crafted events (a key of _PLANS); None: outcomes' general rules
    checked: bool = True  # stored with its delivery information as of the anchor
    send_error: str | None = None  # the send failed: no provider message id, no events
    during_ms_block: bool = False  # `at` counts from the start of the Microsoft block episode

    @property
    def log(self) -> str:
        """Whose Communication Log shows it: "borrower" (the persona's own) or "lender"."""
        return "borrower" if self.email_type.borrower_log else "lender"

    def sent_at(self, anchor: datetime) -> datetime:
        if self.during_ms_block:
            from commlog.demo.outcomes import microsoft_block_window

            window = microsoft_block_window(anchor)
            if window is None:
                raise ValueError("the Microsoft block episode needs an anchor")
            return window[0] + self.at
        return anchor + self.at


@dataclass(frozen=True)
class Persona:
    """A Harbor Credit Union borrower whose history shows one case of "why didn't they get it?"."""

    case: str  # the troubleshooter's case, e.g. "typo_domain"
    name: str
    email: str  # lowercase, unique in the demo
    story: str  # what happened, in words
    next_step: str  # the one next step a lender admin should take
    emails: tuple[PersonaEmail, ...]
    member_for: timedelta | None = None  # account age at the anchor; None: opened just before its first email
    mailbox_exists: bool = True  # False: outcomes.address_fate bounces the address (no such mailbox)

    def joined_at(self, anchor: datetime) -> datetime:
        """When the account was created (an account confirmation follows 7 seconds later)."""
        if self.member_for is not None:
            return anchor - self.member_for
        return min(e.sent_at(anchor) for e in self.emails) - timedelta(seconds=7)


def _ago(days: int = 0, hours: int = 0, minutes: int = 0, seconds: int = 0) -> timedelta:
    return -timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


PERSONAS: tuple[Persona, ...] = (
    Persona(
        "delivered",
        "Maya Lindqvist",
        "maya.lindqvist@gmail.com",
        "Her account confirmation was delivered and opened 13 days ago; yesterday's password reset "
        "was delivered too, but never opened.",
        "It was delivered: ask her to look in her spam or junk folder (and to add the sender to her contacts).",
        (
            PersonaEmail(CONFIRMATION, _ago(13, 3, 41, 12), "delivered_opened"),
            PersonaEmail(PASSWORD_RESET, _ago(1, 2, 37, 5), "delivered"),
        ),
    ),
    Persona(
        "typo_domain",
        "Owen Hargrove",
        "owen.hargrove@gmial.com",
        "His address was entered as gmial.com, a domain that accepts no mail: his account confirmation "
        "bounced, and his password reset the next day was dropped (the address is on the bounce list).",
        "Correct the typo in his email address (gmail.com, not gmial.com), then send the email again.",
        (
            PersonaEmail(CONFIRMATION, _ago(3, 5, 12, 48), None),
            PersonaEmail(PASSWORD_RESET, _ago(2, 1, 54, 20), None),
        ),
    ),
    Persona(
        "no_mailbox",
        "Priya Raman",
        "priya.raman@yahoo.com",
        "Yahoo has no account with her address: her account confirmation bounced (554 5.1.1).",
        "Ask her for an email address that works (this mailbox does not exist), update it, then send again.",
        (PersonaEmail(CONFIRMATION, _ago(5, 4, 8, 33), None),),
        mailbox_exists=False,
    ),
    Persona(
        "deferred",
        "Diego Arriaga",
        "diego.arriaga@outlook.com",
        "Outlook is rate-limiting the sender (451 4.7.650): his password reset, sent a little over three "
        "hours before the demo's start, has been deferred and retried since; it is delivered six hours "
        "after the start.",
        "Wait: the receiving server is delaying it and the provider keeps retrying (for up to 72 hours). "
        "Check again later.",
        (PersonaEmail(PASSWORD_RESET, _ago(0, 3, 15), "rate_limited_then_delivered"),),
        member_for=timedelta(days=236, hours=5),
    ),
    Persona(
        "suppressed_after_temporary",
        "Hannah Okonkwo",
        "hannah.okonkwo@comcast.net",
        "Her mailbox was full 12 days ago: a loan status update bounced (552 5.2.2), which put her "
        "address on the bounce list, so her password reset two days ago was dropped.",
        "Her mailbox was only full: once she has freed space, ask for her address to be removed from "
        "the bounce list, then send again.",
        (
            PersonaEmail(LOAN_STATUS_UPDATE, _ago(12, 4, 20, 9), "mailbox_full_bounce"),
            PersonaEmail(PASSWORD_RESET, _ago(2, 3, 6, 41), "dropped_bounced_address"),
        ),
        member_for=timedelta(days=412, hours=2),
    ),
    Persona(
        "platform_block",
        "Ethan Bramwell",
        "ethan.bramwell@hotmail.com",
        "His password reset went out during the Microsoft block episode: Microsoft refused mail from "
        "the sending network (S3150) for every lender. Nothing has been sent to him since.",
        "Nothing is wrong with his address: Microsoft blocked the sender for a few days. The block is "
        "over; send the email again.",
        (PersonaEmail(PASSWORD_RESET, timedelta(days=1, hours=2, minutes=14, seconds=31), "microsoft_block", during_ms_block=True),),
        member_for=timedelta(days=530, hours=9),
    ),
    Persona(
        "never_sent",
        "Lucia Ferreira",
        "lucia.ferreira@icloud.com",
        "Her account confirmation was never sent: the email provider's API failed (503).",
        "It never left the portal: send it again (if it keeps failing, report the send error to support).",
        (PersonaEmail(CONFIRMATION, _ago(1, 4, 2, 17), None, checked=False, send_error=SEND_ERRORS[2]),),
    ),
    Persona(
        "recipient_asked",
        "Victor Petrov",
        "victor.petrov@aol.com",
        "He marked a delivered loan status update as spam 9 days ago; his address is on the spam-report "
        "list since, so his payment reminder was dropped.",
        "He reported our email as spam, so the provider stops sending to him: ask him to confirm he wants "
        "the emails, then ask for his address to be removed from the spam-report list.",
        (
            PersonaEmail(LOAN_STATUS_UPDATE, _ago(9, 6, 31, 50), "delivered_then_spam_report"),
            PersonaEmail(PAYMENT_REMINDER, _ago(1, 20, 11, 4), "dropped_spam_report"),
        ),
        member_for=timedelta(days=318, hours=15),
    ),
    Persona(
        "not_checked",
        "Nora Quinn",
        "nora.quinn@gmail.com",
        "Her account confirmation was delivered 10 days ago. Her password reset three hours ago has not "
        "been checked yet (it was delivered a minute after sending).",
        "Click Check delivery status: commlog has not asked the email provider about this email yet.",
        (
            PersonaEmail(CONFIRMATION, _ago(10, 7, 45, 2), "delivered_opened"),
            PersonaEmail(PASSWORD_RESET, _ago(0, 3, 2, 44), "delivered_after_a_minute", checked=False),
        ),
    ),
)

BY_CASE: dict[str, Persona] = {p.case: p for p in PERSONAS}
_BY_EMAIL: dict[str, Persona] = {p.email: p for p in PERSONAS}
# Addresses whose mailbox does not exist, whatever their hash says (outcomes.address_fate).
NO_MAILBOX: frozenset[str] = frozenset(p.email for p in PERSONAS if not p.mailbox_exists)


def schedule(anchor: datetime) -> list[tuple[Persona, PersonaEmail, datetime]]:
    """Every persona email with its send time for this anchor, in send order."""
    out = [(p, e, e.sent_at(anchor)) for p in PERSONAS for e in p.emails]
    out.sort(key=lambda x: x[2])
    return out


# --- the plans: what the provider reports for a persona's email ----------------------------------
# A plan returns outcomes' raw plan: (event type, seconds after sending, reason, SMTP status,
# attempt, bounce classification) tuples; outcomes turns them into PlannedEvents (raw types, event
# ids from the provider message id). `d`: the message's digest (reason details, as outcomes uses it).
# Offsets are binary fractions (x.5, x.25, x.125 ...), exact in microseconds.

Step = tuple[EventType, float, str | None, str | None, int | None, str | None]


def _ip(facts: MessageFacts) -> str:
    from commlog.demo.outcomes import sending_ip

    return sending_ip(facts.lender_slug, facts.provider)


def _delivered_at(facts: MessageFacts, d: bytes, seconds: float, attempt: int = 1) -> Step:
    from commlog.demo.outcomes import _delivered_reason

    return (EventType.DELIVERED, seconds, _delivered_reason(facts.provider_family, d), "2.0.0", attempt, None)


def _processed(seconds: float) -> Step:
    return (EventType.PROCESSED, seconds, None, None, None, None)


def _plan_delivered(facts: MessageFacts, d: bytes) -> list[Step]:
    return [_processed(1.25), _delivered_at(facts, d, 4.125)]


def _plan_delivered_opened(facts: MessageFacts, d: bytes) -> list[Step]:
    return [
        _processed(0.875),
        _delivered_at(facts, d, 3.375),
        (EventType.OPEN, 26 * 60 + 12.0, None, None, None, None),
    ]


def _plan_delivered_after_a_minute(facts: MessageFacts, d: bytes) -> list[Step]:
    return [_processed(1.125), _delivered_at(facts, d, 61.25)]


def _plan_rate_limited_then_delivered(facts: MessageFacts, d: bytes) -> list[Step]:
    """Deferred by Microsoft's rate limit, retried with the provider's backoff (no jitter), and
    delivered at the first retry at least 8 hours after sending (9 h 15 min)."""
    from commlog.demo.outcomes import _BACKOFF, _ms_rate_limited

    smtp, reason, cls = _ms_rate_limited(_ip(facts), d)
    out = [_processed(1.375)]
    at, attempt = 3.125, 1
    for wait in _BACKOFF:
        out.append((EventType.DEFERRED, at, reason, smtp, attempt, cls))
        attempt += 1
        at += wait
        if at >= 8 * 3600:
            break
    out.append(_delivered_at(facts, d, at, attempt))
    return out


def _plan_mailbox_full_bounce(facts: MessageFacts, d: bytes) -> list[Step]:
    from commlog.demo.outcomes import MAILBOX_FULL_552

    return [_processed(1.25), (EventType.BOUNCE, 6.375, MAILBOX_FULL_552, "5.2.2", 1, "Mailbox Unavailable")]


def _plan_dropped_bounced_address(facts: MessageFacts, d: bytes) -> list[Step]:
    return [_processed(0.625), (EventType.DROPPED, 0.875, "Bounced Address", None, None, None)]


def _plan_microsoft_block(facts: MessageFacts, d: bytes) -> list[Step]:
    from commlog.demo.outcomes import _ms_block_reason

    return [_processed(1.0), (EventType.BLOCKED, 4.625, _ms_block_reason(_ip(facts), d), "5.7.1", 1, "Reputation")]


def _plan_delivered_then_spam_report(facts: MessageFacts, d: bytes) -> list[Step]:
    return [_processed(0.75), _delivered_at(facts, d, 2.75), (EventType.COMPLAINT, 3 * 3600 + 12 * 60 + 5.0, None, None, None, None)]


def _plan_dropped_spam_report(facts: MessageFacts, d: bytes) -> list[Step]:
    return [_processed(0.75), (EventType.DROPPED, 1.0, "Spam Reporting Address", None, None, None)]


_PLANS: dict[str, Callable[[MessageFacts, bytes], list[Step]]] = {
    "delivered": _plan_delivered,
    "delivered_opened": _plan_delivered_opened,
    "delivered_after_a_minute": _plan_delivered_after_a_minute,
    "rate_limited_then_delivered": _plan_rate_limited_then_delivered,
    "mailbox_full_bounce": _plan_mailbox_full_bounce,
    "dropped_bounced_address": _plan_dropped_bounced_address,
    "microsoft_block": _plan_microsoft_block,
    "delivered_then_spam_report": _plan_delivered_then_spam_report,
    "dropped_spam_report": _plan_dropped_spam_report,
}


@lru_cache(maxsize=64)
def _sent_times(persona: Persona, anchor: datetime) -> tuple[tuple[PersonaEmail, datetime], ...]:
    return tuple((e, e.sent_at(anchor)) for e in persona.emails)


def crafted_plan(facts: MessageFacts, d: bytes) -> list[Step] | None:
    """The crafted plan of a persona's email (the message at Harbor Credit Union to a persona's
    address, of that email's type, sent exactly at its time for the facts' anchor); None for every
    other message and for persona emails that follow outcomes' general rules."""
    persona = _BY_EMAIL.get(facts.recipient_email)
    if persona is None or facts.lender_slug != LENDER.slug or facts.provider != "sendgrid" or facts.anchor is None:
        return None
    for email, sent_at in _sent_times(persona, facts.anchor):
        if email.email_type.name == facts.email_type and sent_at == facts.sent_at:
            return None if email.plan is None else _PLANS[email.plan](facts, d)
    return None

"""Ground truth of the demo data: what the email provider "knows" about each demo message.

CONTRACT (the demo seeder and the sandbox provider both rely on it)
-------------------------------------------------------------------
``planned_events(facts) -> list[PlannedEvent]`` is PURE and deterministic: the same facts give
the same events, in time order, in any process, forever. It returns *every* event the provider will
ever report for the message, including ones in the future of any given "now"; filter on
``occurred_at <= now`` to see what the provider knows at ``now`` (``events_known_at``).

Its inputs (``MessageFacts``) are the message row's own columns plus two derived facts:

* ``anchor`` -- the demo's seeding instant ("now" when the data was seeded). Demo lenders are
  stored with ``lender.created_at = anchor - LENDER_AGE`` (exactly 400 days), so the anchor is
  recomputed from the database with ``anchor_from_lender_created_at``. It only places the
  Microsoft block episode (``microsoft_block_window``); ``None`` means "no episode".
* ``earlier_send`` -- whether the same lender had an earlier message (by ``(sent_at, id)``) with
  ``send_status = 'sent'`` to the same ``recipient_email``. It matters only for dead addresses
  (``address_fate(email) is not None``): the first send bounces and suppresses the address, later
  sends are DROPPED ("Bounced Address"). For live addresses it is ignored.

The demo's personas (``commlog.demo.personas``: Harbor Credit Union borrowers, one per
troubleshooting case) are part of the same function: ``planned_events`` returns their crafted
events (``personas.crafted_plan``), and ``address_fate`` treats ``personas.NO_MAILBOX`` as
nonexistent mailboxes.

Randomness comes only from ``hashlib.blake2b`` of ``provider_message_id`` (per message) and of the
address (per address: nonexistent mailboxes, mailboxes that are often full), never from Python's
``hash()`` or a global RNG. Typo domains (gmial.com, hotmial.com, yaho.com ...) are always dead.

Outcomes (SendGrid unless said): PROCESSED then, mostly, DELIVERED (some OPEN / CLICK, rare
COMPLAINT); DEFERRED retries then DELIVERED (Gmail 4.7.28 rate limiting, 4.2.2 mailbox full,
421 4.4.2 timeouts ...); DEFERRED for 72 h with no final event (expired by the status rule);
BOUNCE for dead addresses (5.1.1 user unknown, 5.1.2 / 5.1.10 bad domain, 5.4.1 Microsoft 365);
BLOCKED (5.7.1 content / blocklist, 5.7.26 DMARC; and the Microsoft block episode: Outlook,
Hotmail, Live and MSN recipients of every lender get "... on our block list (S3150)" for ~4 days);
DROPPED for repeated sends to a dead address. Failed sends (``send_status = 'failed'``) and
messages without a ``provider_message_id`` have no events.

``raw_type`` is the provider's own name. SendGrid: the webhook ``event`` (processed, deferred,
delivered, bounce, dropped, open, click, spamreport), except that a bounce of type ``blocked`` is
``'blocked'`` (as in the Email Logs status rollup); ``PlannedEvent.webhook_event`` and
``bounce_type`` give the webhook's ``event`` and ``type`` fields. Postmark: Delivered, Transient,
HardBounce, Blocked, Opened, LinkClicked, SpamComplaint (no processed event; Postmark refuses sends
to inactive recipients at its API, so the demo stores those as failed sends, not DROPPED).
``provider_event_id``: SendGrid ``sg_event_id`` style (22 base64url characters + ``==``), Postmark a
UUID; unique per (message, event).

``truth_for_message(conn, provider_message_id, now)`` reads the message (and its lender's anchor)
from the database and returns ``events_known_at(planned_events(facts), now)``, or ``None`` if no
message has that provider message id. For the demo's stored ("checked") messages this equals the
stored events as of the seeding instant.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import NamedTuple

from sqlalchemy import Connection, and_, or_, select

from commlog.demo import personas
from commlog.providers.normalize import delivery_attempt
from commlog.vocabulary import EventType

UTC = UTC
LENDER_AGE = timedelta(days=400)  # demo lenders' created_at = anchor - LENDER_AGE
RETRY_HOURS = 72

# Microsoft block episode, relative to the anchor's day (UTC midnight).
MS_BLOCK_START = timedelta(days=-13, hours=7)
MS_BLOCK_LENGTH = timedelta(days=3, hours=21)
MS_BLOCK_SHARE = 0.85  # of Microsoft consumer recipients blocked during the episode


class MessageFacts(NamedTuple):
    lender_slug: str
    provider: str  # sendgrid | postmark
    provider_message_id: str | None
    recipient_email: str
    recipient_domain: str
    provider_family: str
    email_type: str
    audience: str
    sent_at: datetime  # UTC aware
    send_status: str  # sent | failed
    anchor: datetime | None = None
    earlier_send: bool = False


class PlannedEvent(NamedTuple):
    event_type: EventType
    raw_type: str
    occurred_at: datetime  # UTC aware
    reason: str | None
    smtp_status: str | None
    attempt: int | None
    bounce_classification: str | None
    provider_event_id: str

    @property
    def webhook_event(self) -> str:
        """SendGrid webhook `event` field (a blocked bounce is event 'bounce', type 'blocked')."""
        return "bounce" if self.raw_type == "blocked" else self.raw_type

    @property
    def bounce_type(self) -> str | None:
        """SendGrid webhook `type` field of a bounce: 'bounce' (hard) or 'blocked'."""
        if self.raw_type in ("bounce", "blocked"):
            return self.raw_type
        return None


class AddressFate(NamedTuple):
    """Why an address can never receive mail: its bounce."""

    kind: str  # bad_domain | no_mailbox
    smtp_status: str
    reason: str
    classification: str


# --- addresses -------------------------------------------------------------------------------

# Misspelt consumer domains: always undeliverable. Value: ("nxdomain" | "nullmx").
TYPO_DOMAINS: dict[str, str] = {
    "gmial.com": "nullmx",
    "gmal.com": "nullmx",
    "gamil.com": "nullmx",
    "gmaill.com": "nxdomain",
    "gmail.co": "nxdomain",
    "gmail.con": "nxdomain",
    "gnail.com": "nullmx",
    "hotmial.com": "nxdomain",
    "hotmal.com": "nullmx",
    "hotmail.con": "nxdomain",
    "outlok.com": "nullmx",
    "outloo.com": "nxdomain",
    "yaho.com": "nxdomain",
    "yahooo.com": "nullmx",
    "yahoo.cm": "nxdomain",
    "icoud.com": "nxdomain",
    "iclod.com": "nxdomain",
    "aol.co": "nxdomain",
    "comcast.ne": "nxdomain",
}

# Corporate domains that run Microsoft 365 (nonexistent users get 5.4.1). Others: by domain hash.
M365_DOMAINS = frozenset(
    {
        "harborcredit.com",
        "summitmortgage.com",
        "lakeshoreloans.com",
        "cedarvalleybank.com",
        "meridiancapital.com",
        "acme-logistics.com",
        "stlukeshealth.org",
        "brightpath-edu.org",
        "contoso-engineering.com",
    }
)

CONSUMER_DEAD_RATE = 0.011  # share of consumer addresses whose mailbox does not exist
CORPORATE_DEAD_RATE = 0.015  # staff who left, mistyped work addresses
OFTEN_FULL_RATE = 0.004  # mailboxes that keep running out of space

_CONSUMER = {"google", "microsoft", "yahoo", "apple"}
_SCALE = 1.0 / 4294967296.0


def _u(data: bytes, i: int) -> float:
    """The i-th uniform [0, 1) value from a digest (4 bytes each)."""
    return int.from_bytes(data[4 * i : 4 * i + 4], "big") * _SCALE


@lru_cache(maxsize=262144)
def address_hash(email: str) -> float:
    return _u(hashlib.blake2b(email.lower().encode(), digest_size=8, person=b"commlog-addr").digest(), 0)


def is_m365_domain(domain: str) -> bool:
    if domain in M365_DOMAINS:
        return True
    return _u(hashlib.blake2b(domain.encode(), digest_size=4, person=b"commlog-m365").digest(), 0) < 0.45


def address_fate(email: str, family: str | None = None) -> AddressFate | None:
    """The permanent bounce an address always gets, or None if it can receive mail."""
    return _address_fate(email.lower(), family)


@lru_cache(maxsize=262144)
def _address_fate(email: str, family: str | None) -> AddressFate | None:
    local, _, domain = email.rpartition("@")
    typo = TYPO_DOMAINS.get(domain)
    if typo == "nxdomain":
        return AddressFate(
            "bad_domain",
            "5.1.2",
            f"550 5.1.2 <{email}>: Recipient address rejected: Domain not found. "
            f"Host or domain name not found. Name service error for name={domain} type=MX: Host not found",
            "Invalid Address",
        )
    if typo == "nullmx":
        return AddressFate(
            "bad_domain",
            "5.1.10",
            f"556 5.1.10 <{email}>: Recipient address rejected: Domain {domain} does not accept mail (nullMX)",
            "Invalid Address",
        )
    if family is None:
        from commlog.domains import provider_family

        family = provider_family(domain)
    rate = CONSUMER_DEAD_RATE if family in _CONSUMER else CORPORATE_DEAD_RATE
    if address_hash(email) >= rate and email not in personas.NO_MAILBOX:
        return None
    if family == "google":
        return AddressFate(
            "no_mailbox",
            "5.1.1",
            "550-5.1.1 The email account that you tried to reach does not exist. Please try double-checking "
            "the recipient's email address for typos or unnecessary spaces. For more information, go to "
            "https://support.google.com/mail/?p=NoSuchUser - gsmtp",
            "Invalid Address",
        )
    if family == "microsoft":
        return AddressFate(
            "no_mailbox",
            "5.1.1",
            "550 5.1.1 Requested action not taken: mailbox unavailable (S2017062302). "
            "[DM6NAM12FT041.eop-nam12.prod.protection.outlook.com]",
            "Invalid Address",
        )
    if family == "yahoo":
        return AddressFate(
            "no_mailbox",
            "5.1.1",
            f"554 5.1.1 delivery error: dd This user doesn't have a {domain} account ({email}) [0] "
            "- mta4312.mail.gq1.yahoo.com",
            "Invalid Address",
        )
    if family == "apple":
        return AddressFate("no_mailbox", "5.1.1", f"550 5.1.1 <{email}>: user does not exist", "Invalid Address")
    if is_m365_domain(domain):
        return AddressFate(
            "no_mailbox",
            "5.4.1",
            "550 5.4.1 Recipient address rejected: Access denied. For more information see "
            "https://aka.ms/EXOSmtpErrors [SN1PEPF0002BA4C.namprd03.prod.outlook.com]",
            "Invalid Address",
        )
    return AddressFate(
        "no_mailbox",
        "5.1.1",
        f"550 5.1.1 <{email}>: Recipient address rejected: User unknown in virtual mailbox table",
        "Invalid Address",
    )


def often_full(email: str) -> bool:
    h = address_hash(email)
    return CORPORATE_DEAD_RATE <= h < CORPORATE_DEAD_RATE + OFTEN_FULL_RATE


# --- episodes --------------------------------------------------------------------------------


def anchor_from_lender_created_at(created_at: datetime | None) -> datetime | None:
    return None if created_at is None else created_at + LENDER_AGE


def microsoft_block_window(anchor: datetime | None) -> tuple[datetime, datetime] | None:
    """[start, end) of the Microsoft block episode (all lenders, Microsoft consumer recipients)."""
    if anchor is None:
        return None
    day = anchor.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = day + MS_BLOCK_START
    return start, start + MS_BLOCK_LENGTH


def sending_ip(lender_slug: str, provider: str) -> str:
    d = hashlib.blake2b(lender_slug.encode(), digest_size=4, person=b"commlog-ip").digest()
    if provider == "postmark":
        return f"50.31.156.{d[0] % 200 + 20}"
    return f"{(168, 149, 167)[d[0] % 3]}.{(245, 72, 89)[d[0] % 3]}.{d[1]}.{d[2] % 250 + 3}"


# --- reasons ---------------------------------------------------------------------------------


def _gsmtp(d: bytes) -> str:
    return f"{d[40:44].hex()}{d[44:46].hex()[:1]}-{d[46:52].hex()}si{int.from_bytes(d[52:56], 'big') % 99999999}.{d[56] % 900 + 100} - gsmtp"


def _ms_host(d: bytes) -> str:
    n = d[57] % 40 + 1
    return f"[{('DM6', 'BN8', 'SN1', 'CO1', 'MW2')[d[58] % 5]}NAM{n:02d}FT{d[59] % 90 + 10:03d}.eop-nam{n:02d}.prod.protection.outlook.com]"


def _deferral(family: str, full: bool, d: bytes, ip: str, email: str) -> tuple[str, str, str]:
    """(smtp_status, reason, classification) of a temporary failure."""
    pick = d[60] % 4
    if full:
        if family == "google":
            return (
                "4.2.2",
                "452-4.2.2 The recipient's inbox is out of storage space. Please direct the recipient to "
                f"https://support.google.com/mail/?p=OverQuotaTemp {_gsmtp(d)}",
                "Mailbox Unavailable",
            )
        return "4.2.2", f"452 4.2.2 <{email}>: Recipient address rejected: Mailbox is full", "Mailbox Unavailable"
    if family == "google":
        if pick < 3:
            return (
                "4.7.28",
                f"421-4.7.28 [{ip}] Gmail has detected an unusual rate of unsolicited mail originating from your "
                "IP address. To protect our users from spam, mail sent from your IP address has been temporarily "
                f"rate limited. For more information, go to https://support.google.com/mail/?p=UnsolicitedRateLimitError {_gsmtp(d)}",
                "Frequency or Volume Too High",
            )
        return "4.4.2", "421 4.4.2 Connection timed out while talking to gmail-smtp-in.l.google.com", "Technical"
    if family == "microsoft":
        if pick < 2:
            return _ms_rate_limited(ip, d)
        return "4.7.500", f"451 4.7.500 Server busy. Please try again later from [{ip}]. (S77719) {_ms_host(d)}", "Frequency or Volume Too High"
    if family == "yahoo":
        return (
            "4.7.0",
            f"421 4.7.0 [TSS04] Messages from {ip} temporarily deferred due to unexpected volume or user "
            "complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
            "Frequency or Volume Too High",
        )
    if pick == 0:
        return "4.7.1", f"451 4.7.1 <{email}>: Recipient address rejected: Greylisted, please try again in 300 seconds", "Technical"
    if pick == 1:
        return "4.4.1", "451 4.4.1 No answer from host", "Technical"
    return "4.4.2", "421 4.4.2 Connection dropped: timeout exceeded", "Technical"


def _ms_rate_limited(ip: str, d: bytes) -> tuple[str, str, str]:
    """Microsoft's temporary rate limit of a sending IP: (smtp_status, reason, classification)."""
    return (
        "4.7.650",
        f"451 4.7.650 The mail server [{ip}] has been temporarily rate limited due to IP reputation. "
        f"For e-mail delivery information, see https://postmaster.live.com (S775) {_ms_host(d)}",
        "Reputation",
    )


MAILBOX_FULL_552 = "552 5.2.2 Mailbox full: the recipient's mailbox has exceeded its storage limit"


def _block(family: str, domain: str, sender_domain: str, d: bytes, ip: str) -> tuple[str, str, str]:
    pick = d[61] % 3
    if family == "google":
        if pick == 0:
            return (
                "5.7.26",
                "550-5.7.26 This mail has been blocked because the sender is unauthenticated. Gmail requires all "
                f"senders to authenticate with either SPF or DKIM. Authentication results: DKIM = did not pass "
                f"SPF [{sender_domain}] with ip: [{ip}] = did not pass. For instructions on setting up "
                f"authentication, go to https://support.google.com/mail/answer/81126#authentication {_gsmtp(d)}",
                "Technical",
            )
        return (
            "5.7.1",
            f"550-5.7.1 [{ip}] Gmail has detected that this message is likely unsolicited mail. To reduce the "
            "amount of spam sent to Gmail, this message has been blocked. For more information, go to "
            f"https://support.google.com/mail/?p=UnsolicitedMessageError {_gsmtp(d)}",
            "Content",
        )
    if family == "microsoft":
        return (
            "5.7.1",
            f"550 5.7.1 Service unavailable, Client host [{ip}] blocked using Spamhaus. To request removal from "
            f"this list see https://www.spamhaus.org/query/ip/{ip} (AS3130) {_ms_host(d)}",
            "Reputation",
        )
    if family == "yahoo":
        if pick == 0:
            return "5.7.9", "554 5.7.9 Message not accepted for policy reasons. See https://postmaster.yahooinc.com/error-codes", "Content"
        return (
            "5.7.1",
            f"553 5.7.1 [BL21] Connections will not be accepted from {ip}, because the ip is in Spamhaus's list; "
            "see https://postmaster.yahooinc.com/error-codes",
            "Reputation",
        )
    if family == "apple":
        return "5.7.1", "550 5.7.1 [CS01] Message rejected due to local policy. Please visit https://support.apple.com/en-us/HT204137", "Content"
    if pick == 0:
        return "5.7.26", f"550 5.7.26 Unauthenticated email from {sender_domain} is not accepted due to domain's DMARC policy", "Technical"
    if pick == 1:
        return "5.2.2", MAILBOX_FULL_552, "Mailbox Unavailable"
    return "5.7.1", f"550 5.7.1 Message rejected as spam by Content Filtering. [{domain}]", "Content"


def _ms_block_reason(ip: str, d: bytes) -> str:
    return (
        f"550 5.7.1 Unfortunately, messages from [{ip}] weren't sent. Please contact your Internet service "
        "provider since part of their network is on our block list (S3150). You can also refer your provider "
        f"to http://mail.live.com/mail/troubleshooting.aspx#errors. {_ms_host(d)}"
    )


# --- the plan --------------------------------------------------------------------------------

_OPEN_RATE = {
    "account_confirmation": 0.62,
    "password_reset": 0.7,
    "verification_code": 0.75,
    "staff_invitation": 0.6,
    "document_request": 0.5,
    "loan_status_update": 0.55,
}
_CLICK_RATE = {"account_confirmation": 0.8, "password_reset": 0.85, "staff_invitation": 0.8, "document_request": 0.45}

# SendGrid-style delays between delivery attempts (seconds) after a deferral.
_BACKOFF = (300, 600, 1200, 2400, 4800, 9600, 14400, 21600, 21600, 28800, 28800, 28800, 28800, 28800)

_SG_RAW = {
    EventType.PROCESSED: "processed",
    EventType.DEFERRED: "deferred",
    EventType.DELIVERED: "delivered",
    EventType.BOUNCE: "bounce",
    EventType.BLOCKED: "blocked",
    EventType.DROPPED: "dropped",
    EventType.OPEN: "open",
    EventType.CLICK: "click",
    EventType.COMPLAINT: "spamreport",
}
_PM_RAW = {
    EventType.DEFERRED: "Transient",
    EventType.DELIVERED: "Delivered",
    EventType.BOUNCE: "HardBounce",
    EventType.BLOCKED: "Blocked",
    EventType.DROPPED: "Inactive",
    EventType.OPEN: "Opened",
    EventType.CLICK: "LinkClicked",
    EventType.COMPLAINT: "SpamComplaint",
}


def _event_id(provider: str, pmid: str, n: int) -> str:
    d = hashlib.blake2b(f"{pmid}#{n}".encode(), digest_size=16, person=b"commlog-evt").digest()
    if provider == "postmark":
        h = d.hex()
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[d[8] % 4]}{h[17:20]}-{h[20:32]}"
    return base64.urlsafe_b64encode(d).decode()


def planned_events(facts: MessageFacts) -> list[PlannedEvent]:
    """Every event the provider will ever report for this message, in time order (see module doc)."""
    pmid = facts.provider_message_id
    if facts.send_status != "sent" or not pmid:
        return []
    d = hashlib.blake2b(pmid.encode(), digest_size=64, person=b"commlog-msg").digest()
    provider = facts.provider
    postmark = provider == "postmark"
    raw = _PM_RAW if postmark else _SG_RAW
    crafted = personas.crafted_plan(facts, d)  # the demo personas' scripted histories
    if crafted is not None:
        return _materialize(facts, crafted, raw)
    family = facts.provider_family
    email = facts.recipient_email
    out: list[tuple] = []  # (type, offset seconds, reason, smtp, attempt, classification)
    t = 0.2 + 2.5 * _u(d, 0)  # processed
    if not postmark:
        out.append((EventType.PROCESSED, t, None, None, None, None))

    fate = address_fate(email, family)
    ip = sending_ip(facts.lender_slug, provider)
    if fate is not None:
        if facts.earlier_send:
            out.append((EventType.DROPPED, t + 0.05 + 0.3 * _u(d, 1), "Bounced Address", None, None, None))
        else:
            out.append((EventType.BOUNCE, t + 1 + 8 * _u(d, 1), fate.reason, fate.smtp_status, 1, fate.classification))
        return _materialize(facts, out, raw)

    u = _u(d, 2)
    window = microsoft_block_window(facts.anchor) if family == "microsoft" else None
    if window is not None and window[0] <= facts.sent_at < window[1] and _u(d, 3) < MS_BLOCK_SHARE:
        out.append((EventType.BLOCKED, t + 2 + 4 * _u(d, 1), _ms_block_reason(ip, d), "5.7.1", 1, "Reputation"))
        return _materialize(facts, out, raw)

    full = often_full(email)
    if full:
        p_block, p_expire, p_defer = 0.0, 0.25, 0.45
    else:
        p_block, p_expire, p_defer = 0.006, 0.0025, 0.045
    if u < p_block:
        smtp, reason, cls = _block(family, facts.recipient_domain, facts.lender_slug.replace("-", "") + ".com", d, ip)
        out.append((EventType.BLOCKED, t + 1 + 6 * _u(d, 1), reason, smtp, 1, cls))
        return _materialize(facts, out, raw)

    attempt = 1
    if u < p_block + p_expire + p_defer:
        smtp, reason, cls = _deferral(family, full, d, ip, email)
        expire = u < p_block + p_expire
        tries = 15 if expire else 1 + int(4 * _u(d, 4) ** 2)
        at = t + 1 + 5 * _u(d, 1)
        for i in range(tries):
            if at >= RETRY_HOURS * 3600 - 60:
                break
            out.append((EventType.DEFERRED, at, reason, smtp, attempt, cls))
            attempt += 1
            at += _BACKOFF[min(i, len(_BACKOFF) - 1)] * (0.9 + 0.2 * _u(d, 5))
        if expire:
            return _materialize(facts, out, raw)
        delivered_at = at
    else:
        delivered_at = t + 0.8 + 20 * _u(d, 1) ** 3

    out.append((EventType.DELIVERED, delivered_at, _delivered_reason(family, d), "2.0.0", attempt, None))
    open_rate = 0.9 if family == "apple" else _OPEN_RATE.get(facts.email_type, 0.35)  # Apple MPP pre-fetches
    if _u(d, 6) < open_rate:
        opened = delivered_at + 30 + 86400 * _u(d, 7) ** 4
        out.append((EventType.OPEN, opened, None, None, None, None))
        if _u(d, 8) < _CLICK_RATE.get(facts.email_type, 0.12):
            out.append((EventType.CLICK, opened + 5 + 600 * _u(d, 9) ** 2, None, None, None, None))
    elif facts.audience == "borrower" and _u(d, 10) < 0.0004:
        out.append((EventType.COMPLAINT, delivered_at + 3600 + 86400 * _u(d, 9), None, None, None, None))
    return _materialize(facts, out, raw)


def _delivered_reason(family: str, d: bytes) -> str:
    if family == "google":
        return f"250 2.0.0 OK {int.from_bytes(d[32:36], 'big')} {_gsmtp(d)}"
    if family == "microsoft":
        return f"250 2.6.0 <{d[32:40].hex()}@commlog.mail> Queued mail for delivery"
    if family == "yahoo":
        return "250 ok dirdel"
    return "250 2.0.0 Ok: queued as " + d[32:37].hex().upper()


def _materialize(facts: MessageFacts, out: list[tuple], raw: dict) -> list[PlannedEvent]:
    sent = facts.sent_at
    pmid = facts.provider_message_id
    provider = facts.provider
    events = []
    for n, (etype, offset, reason, smtp, attempt, cls) in enumerate(out):
        events.append(
            PlannedEvent(
                etype,
                raw[etype],
                sent + timedelta(microseconds=int(offset * 1_000_000)),
                reason,
                smtp,
                delivery_attempt(etype, attempt, zero_based=False),  # a try number on deferrals only
                cls,
                _event_id(provider, pmid, n),
            )
        )
    events.sort(key=lambda e: e.occurred_at)
    return events


def events_known_at(events: list[PlannedEvent], now: datetime) -> list[PlannedEvent]:
    return [e for e in events if e.occurred_at <= now]


# --- reading facts back from the database ----------------------------------------------------


def facts_for_message(conn: Connection, provider_message_id: str) -> MessageFacts | None:
    from commlog.models import Lender, Message

    m = conn.execute(
        select(
            Message.id,
            Message.lender_id,
            Message.provider,
            Message.provider_message_id,
            Message.recipient_email,
            Message.recipient_domain,
            Message.provider_family,
            Message.email_type,
            Message.audience,
            Message.sent_at,
            Message.send_status,
            Lender.slug,
            Lender.created_at.label("lender_created_at"),
        )
        .join(Lender, Lender.id == Message.lender_id)
        .where(Message.provider_message_id == provider_message_id)
        .order_by(Message.id)
        .limit(1)
    ).first()
    if m is None:
        return None
    slug, lender_created = m.slug, m.lender_created_at
    earlier = False
    if m.send_status == "sent" and address_fate(m.recipient_email, m.provider_family) is not None:
        earlier = (
            conn.execute(
                select(Message.id)
                .where(
                    Message.lender_id == m.lender_id,
                    Message.recipient_domain == m.recipient_domain,
                    Message.recipient_email == m.recipient_email,
                    Message.send_status == "sent",
                    or_(Message.sent_at < m.sent_at, and_(Message.sent_at == m.sent_at, Message.id < m.id)),
                )
                .limit(1)
            ).first()
            is not None
        )
    return MessageFacts(
        lender_slug=slug,
        provider=m.provider,
        provider_message_id=m.provider_message_id,
        recipient_email=m.recipient_email,
        recipient_domain=m.recipient_domain,
        provider_family=m.provider_family,
        email_type=m.email_type,
        audience=m.audience,
        sent_at=m.sent_at,
        send_status=m.send_status,
        anchor=anchor_from_lender_created_at(lender_created),
        earlier_send=earlier,
    )


def truth_for_message(conn: Connection, provider_message_id: str, now: datetime) -> list[PlannedEvent] | None:
    """The events the provider knows at `now` for this message; None if no such message."""
    facts = facts_for_message(conn, provider_message_id)
    if facts is None:
        return None
    return events_known_at(planned_events(facts), now)

"""What the database knows about one address, for "Why didn't they get it?" (reads only; the
provider's suppression lists are asked separately, `commlog.troubleshoot.suppressions`).

    subject_of_message(conn, principal, message_id) -> Subject | None
    subject_of_account(conn, principal, account_id) -> Subject | None
    gather(conn, principal, subject, today) -> Evidence

A subject is one address at one lender, reached from an email (the one the lender admin opened) or
from an account (a borrower). Everything is read inside that lender, in SQL: an id outside the
principal's scope reads as "not found", like everywhere else.

Events the provider reported for the address that match no email in any log (`unmatched_event`:
a late bounce without a message id and nothing sent to the address in the window before it) have no
lender. A lender sees them only for an address one of its own emails went to (the query says so,
and on PostgreSQL the row-level security policy of migration 0006 too), only while they match no
email, and only what the provider said about the address (event, time, reply), never the payload.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, Connection, and_, func, select

from commlog.deliverability import MailboxProviderHealth, mailbox_provider_health
from commlog.domains import provider_family
from commlog.log_queries import (
    LOG_COLUMNS,
    AccountRow,
    LenderRow,
    MessageDetail,
    get_lender,
    get_message,
)
from commlog.models import ACCOUNT_EMAIL, RECIPIENT_EMAIL, Account, Message, UnmatchedEvent
from commlog.principal import Principal
from commlog.providers.normalize import EventParseError, parse_sendgrid_webhook_event
from commlog.troubleshoot.address import AddressCheck, check_address
from commlog.troubleshoot.next_step import Focus
from commlog.vocabulary import EventType

LAST_EMAILS = 10  # the emails the panel lists
MAX_TO_CHECK = 200  # never-checked emails a single "Check delivery status" takes
UNMATCHED_SHOWN = 5  # the newest provider events for the address that match no email


@dataclass(frozen=True)
class Subject:
    """Who the question is about: one address at one lender."""

    address: str  # lower-case
    lender: LenderRow
    account: AccountRow | None  # the lender's account (borrower, else staff) with this address
    focus_id: int | None  # the email the question started from; None: the newest to the address


@dataclass(frozen=True)
class UnmatchedReport:
    """Something the provider reported for the address that matches no email in the log."""

    provider: str
    event_type: str | None  # vocabulary.EventType; None: a provider whose events we cannot read here
    occurred_at: datetime  # when it happened, else when we received it
    reason: str | None  # the receiving server's reply or the provider's reason


@dataclass(frozen=True)
class Evidence:
    subject: Subject
    emails: list[dict]  # the newest LAST_EMAILS emails to the address, each with its log's name
    total: int  # emails to the address, all time
    not_checked_ids: list[int]  # sent, never asked about (newest first, at most MAX_TO_CHECK)
    focus: MessageDetail | None  # the email the question is about (None: no email to the address)
    previous_bounce: str | None  # the reply of the newest BOUNCE to the address
    address_check: AddressCheck
    mailbox_health: MailboxProviderHealth
    unmatched: tuple[UnmatchedReport, ...] = ()  # newest first, at most UNMATCHED_SHOWN

    @property
    def family(self) -> str:
        return self.mailbox_health.family


def subject_of_message(conn: Connection, principal: Principal, message_id: int) -> Subject | None:
    detail = get_message(conn, principal, message_id)
    if detail is None:
        return None
    address = detail.message["recipient_email"].lower()
    return Subject(address, detail.lender, _account_with(conn, detail.lender.id, address), detail.message["id"])


def subject_of_account(conn: Connection, principal: Principal, account_id: int) -> Subject | None:
    scope = principal.lender_scope(None) if not principal.is_ops else None
    stmt = select(Account.id, Account.lender_id, Account.kind, Account.name, Account.email).where(Account.id == account_id)
    if scope is not None:
        stmt = stmt.where(Account.lender_id == scope)
    row = conn.execute(stmt).first()
    if row is None:
        return None
    lender = get_lender(conn, principal, row.lender_id)
    if lender is None:
        return None
    return Subject(row.email.lower(), lender, AccountRow(*row), None)


def gather(conn: Connection, principal: Principal, subject: Subject, today: date) -> Evidence:
    lender_id = principal.require_lender(subject.lender.id)
    to_address = and_(Message.lender_id == lender_id, subject.address == RECIPIENT_EMAIL)
    emails = _last_emails(conn, to_address)
    total = conn.execute(select(func.count()).select_from(Message).where(to_address)).scalar_one()
    not_checked = list(conn.execute(
        select(Message.id).where(to_address, Message.send_status == "sent", Message.delivery_status.is_(None))
        .order_by(Message.sent_at.desc(), Message.id.desc()).limit(MAX_TO_CHECK)
    ).scalars())
    focus_id = subject.focus_id if subject.focus_id is not None else (emails[0]["id"] if emails else None)
    focus = get_message(conn, principal, focus_id) if focus_id is not None else None
    bounce = conn.execute(
        select(Message.status_reason).where(to_address, Message.last_event_type == EventType.BOUNCE.value)
        .order_by(Message.sent_at.desc(), Message.id.desc()).limit(1)
    ).scalar()
    family = focus.message["provider_family"] if focus else provider_family(subject.address.rpartition("@")[2])
    return Evidence(
        subject=subject,
        emails=emails,
        total=total,
        not_checked_ids=not_checked,
        focus=focus,
        previous_bounce=bounce,
        address_check=check_address(subject.address),
        mailbox_health=mailbox_provider_health(conn, principal, family, today),
        unmatched=unmatched_reports(conn, lender_id, subject.address),
    )


def unmatched_reports(conn: Connection, lender_id: int, address: str) -> tuple[UnmatchedReport, ...]:
    """The provider's events for `address` that match no email, when the lender emailed it."""
    u = UnmatchedEvent
    lenders_recipient = select(Message.id).where(Message.lender_id == lender_id, u.recipient_email == RECIPIENT_EMAIL)
    rows = conn.execute(
        select(u.provider, u.payload, u.received_at)
        .where(u.recipient_email == address.lower(), u.matched_at.is_(None), lenders_recipient.exists())
        .order_by(u.id.desc())
        .limit(4 * UNMATCHED_SHOWN)  # received order; shown by when they happened
    ).all()
    reports = [_report(r.provider, r.payload, r.received_at) for r in rows]
    return tuple(sorted(reports, key=lambda r: r.occurred_at, reverse=True)[:UNMATCHED_SHOWN])


def _report(provider: str, payload: str, received_at: datetime) -> UnmatchedReport:
    if provider == "sendgrid":
        try:
            ev = parse_sendgrid_webhook_event(json.loads(payload))
        except (EventParseError, ValueError, TypeError, OverflowError, OSError):
            pass
        else:
            return UnmatchedReport(provider, str(ev.event_type), ev.occurred_at, ev.reason)
    return UnmatchedReport(provider, None, received_at, None)


def focus_of(detail: MessageDetail | None) -> Focus | None:
    """What the next-step rules need of the focus email, from it and its events."""
    if detail is None:
        return None
    m = detail.message
    deferrals = [e for e in detail.events if e.event_type == EventType.DEFERRED]
    # The deciding event's whole reply (the stored status reason is cut short for the grid).
    last = next((e for e in reversed(detail.events) if e.event_type == m["last_event_type"] and e.reason), None)
    return Focus(
        sent_at=m["sent_at"],
        send_status=m["send_status"],
        send_error=m["send_error"],
        delivery_status=m["delivery_status"],
        last_event_type=m["last_event_type"],
        reason=last.reason if last is not None else m["status_reason"],
        first_deferral_at=min((e.occurred_at for e in deferrals), default=None),
        deferrals=len(deferrals),
        complained=any(e.event_type in (EventType.COMPLAINT, EventType.UNSUBSCRIBE) for e in detail.events),
        provider_family=m["provider_family"],
        provider=m["provider"],
        recipient_domain=m["recipient_domain"],
    )


# --- reads ----------------------------------------------------------------------------------------


def _account_with(conn: Connection, lender_id: int, address: str) -> AccountRow | None:
    """The lender's account with this address: a borrower before staff (the same person)."""
    rows = conn.execute(
        select(Account.id, Account.lender_id, Account.kind, Account.name, Account.email)
        .where(Account.lender_id == lender_id, address == ACCOUNT_EMAIL)
        .order_by(Account.kind, Account.id)  # 'borrower' < 'staff'
        .limit(1)
    ).first()
    return AccountRow(*rows) if rows else None


def _last_emails(conn: Connection, to_address: ColumnElement[bool]) -> list[dict]:
    borrower = Account.__table__.alias("log_owner")
    stmt = (
        select(*LOG_COLUMNS, Message.provider, Message.log_account_id, borrower.c.name.label("log_account_name"))
        .outerjoin(borrower, and_(borrower.c.id == Message.log_account_id, borrower.c.lender_id == Message.lender_id))
        .where(to_address)
        .order_by(Message.sent_at.desc(), Message.id.desc())
        .limit(LAST_EMAILS)
    )
    return [dict(r) for r in conn.execute(stmt).mappings()]

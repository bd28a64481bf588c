"""Small builders for test data, inserted with SQLAlchemy Core. Explicit values, no magic."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, insert

from commlog import auth
from commlog.domains import provider_family
from commlog.models import Account, Lender, Message
from commlog.store import NewEvent, record_events

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
NOW = T0  # the `now` fixture's fixed instant
_seq = itertools.count(1)


def lender(conn: Connection, slug: str, name: str | None = None) -> int:
    return conn.execute(
        insert(Lender).values(slug=slug, name=name or slug.replace("-", " ").title(), created_at=T0).returning(Lender.id)
    ).scalar_one()


def account(conn: Connection, lender_id: int, name: str, email: str, kind: str = "borrower") -> int:
    return conn.execute(
        insert(Account)
        .values(
            lender_id=lender_id,
            kind=kind,
            name=name,
            email=email.lower(),
            search_text=f"{name} {email}".lower(),
            created_at=T0,
        )
        .returning(Account.id)
    ).scalar_one()


def message(
    conn: Connection,
    lender_id: int,
    recipient: str,
    *,
    log_account_id: int | None = None,
    recipient_account_id: int | None = None,
    audience: str = "borrower",
    email_type: str = "account_confirmation",
    subject: str = "Confirm your new account",
    sent_at: datetime = T0,
    send_status: str = "sent",
    send_error: str | None = None,
    provider: str = "sendgrid",
    provider_message_id: str | None = None,
) -> int:
    domain = recipient.rsplit("@", 1)[-1].lower()
    n = next(_seq)
    return conn.execute(
        insert(Message)
        .values(
            lender_id=lender_id,
            log_account_id=log_account_id,
            recipient_account_id=recipient_account_id,
            audience=audience,
            email_type=email_type,
            subject=subject,
            recipient_email=recipient.lower(),
            recipient_domain=domain,
            provider_family=provider_family(domain),
            sent_at=sent_at,
            send_status=send_status,
            send_error=send_error,
            provider=provider,
            provider_message_id=provider_message_id
            if provider_message_id is not None
            else (None if send_status == "failed" else f"TestMsg{n:015d}.recvd-test-{n}.0"),
            event_mask=0,
        )
        .returning(Message.id)
    ).scalar_one()


def minutes(at: datetime) -> float:
    """`at` as the minutes after T0 that `events` takes."""
    return (at - T0).total_seconds() / 60


def events(conn: Connection, message_id: int, lender_id: int, *specs, now: datetime | None = None, checked: bool = True):
    """specs: (event_type, minutes after T0, reason) tuples. Stored through the real write path."""
    evs = [
        NewEvent(
            message_id=message_id,
            lender_id=lender_id,
            event_type=etype,
            occurred_at=T0 + timedelta(minutes=minutes),
            provider="sendgrid",
            provider_event_id=f"ev-{message_id}-{i}-{etype}",
            raw_type=etype.lower(),
            reason=reason,
        )
        for i, (etype, minutes, reason) in enumerate(specs)
    ]
    return record_events(conn, evs, now or T0 + timedelta(hours=1), checked_ids=[message_id] if checked else [])


def user(conn: Connection, email: str, role: str, lender_slug: str | None = None, password: str | None = "correct horse battery") -> int:
    return auth.add_user(conn, email, role, lender_slug, password, T0)


# The choice filters by the names queries used to take them (commlog.log_filters has the URL's).
_CHOICE_NAMES = {"send_status": "status", "delivery_status": "delivery", "event_type": "event", "email_type": "type",
                 "audience": "audience", "provider_family": "family", "provider": "provider"}


def log_query(lender_id: int, since: datetime | None = None, until: datetime | None = None, **view):
    """A LogQuery for tests: the lender, UTC bounds, and the view's fields (choice filters by name)."""
    from commlog.log_view import LogQuery, LogView

    choices = {_CHOICE_NAMES[k]: view.pop(k) for k in list(view) if k in _CHOICE_NAMES and view[k] is not None}
    for k in [k for k in view if k in _CHOICE_NAMES]:
        view.pop(k)
    return LogQuery(lender_id, LogView(choices=choices, **view), since, until)

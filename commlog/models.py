"""SQLAlchemy 2 typed models. The schema itself is created and upgraded by Alembic migrations
(commlog/migrations); these classes describe it for queries and for autogenerate.

Every lender-owned table carries `lender_id`, so every read can be scoped by lender in SQL.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from commlog.db import is_sqlite
from commlog.mime_subject import stored_subject_text

# SQLite only aliases rowid for INTEGER PRIMARY KEY; PostgreSQL gets 64-bit ids.
BigId = BigInteger().with_variant(Integer, "sqlite")


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC in, timezone-aware UTC out, on every backend.

    SQLite has no time zone type: values are stored as naive UTC text, which also sorts correctly.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return _bound_utc(value, naive=is_sqlite(dialect))

    def process_result_value(self, value, dialect):
        return _read_utc(value)

    # The two processors SQLAlchemy asks for once per statement and database, then runs on every
    # value: process_bind_param's and process_result_value's work with the database's kind decided
    # once, not for each value (a webhook post binds and reads thousands). The impl's own processors
    # still apply, in the order TypeDecorator's would apply them.
    def bind_processor(self, dialect):
        naive = is_sqlite(dialect)
        impl = self.impl_instance.bind_processor(dialect)
        if impl is None:
            return lambda value: _bound_utc(value, naive)
        return lambda value: impl(_bound_utc(value, naive))

    def result_processor(self, dialect, coltype):
        impl = self.impl_instance.result_processor(dialect, coltype)
        if impl is None:
            return _read_utc
        return lambda value: _read_utc(impl(value))


def _bound_utc(value: datetime | None, naive: bool) -> datetime | None:
    """A UTC column's value as bound: aware UTC, or naive UTC where the database has no time zones."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column; attach a time zone first")
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None) if naive else value


def _read_utc(value: datetime | None) -> datetime | None:
    """A UTC column's value as read: aware UTC."""
    if value is None:
        return None
    if value.tzinfo is UTC:  # PostgreSQL in the session's time zone, UTC (commlog.db.make_engine)
        return value
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class Bytewise(FunctionElement):
    """Text compared byte by byte (code point order), whatever the database's collation: the one
    order in which "starts with x" is exactly the range [x, x with its last character + 1).

    PostgreSQL: `expr COLLATE "C"`; an index on the same expression sorts the same way, and a query
    must use this very expression for the index to apply. SQLite: `expr` (its default collation,
    BINARY, is already bytewise).
    """

    inherit_cache = True
    name = "bytewise"  # never rendered: the two compilers below say what it is
    type = String()


@compiles(Bytewise)
def _bytewise_default(element: Bytewise, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(Bytewise, "postgresql")
def _bytewise_postgresql(element: Bytewise, compiler: SQLCompiler, **kw: Any) -> str:
    return f'{compiler.process(element.clauses, **kw)} COLLATE "C"'


NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime()}


class Lender(Base):
    __tablename__ = "lender"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class Account(Base):
    """A person with an account on the portal: lender staff, or a borrower of that lender."""

    __tablename__ = "account"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    lender_id: Mapped[int] = mapped_column(ForeignKey("lender.id"))
    kind: Mapped[str] = mapped_column(String(16))  # staff | borrower (vocabulary.Audience)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    # lower(name + " " + email): what the Account type-ahead searches.
    search_text: Mapped[str] = mapped_column(String(530))
    created_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_account_lender_kind_email", "lender_id", "kind", "email"),
        Index("ix_account_lender_kind_name", "lender_id", "kind", "name"),
        # Type-ahead: prefix ranges on "first name ..." before any substring scan.
        Index("ix_account_lender_kind_search", "lender_id", "kind", "search_text"),
        # PostgreSQL (migration 0013): text anywhere in a name or address, one lender's accounts only.
        Index("ix_account_lender_search_trgm", "lender_id", "search_text", postgresql_using="gin",
              postgresql_ops={"search_text": "gin_trgm_ops"}).ddl_if(dialect="postgresql"),
    )


class AppUser(Base):
    """Someone who can log in to commlog: platform ops, or a lender admin of exactly one lender."""

    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # stored lower-case
    password_hash: Mapped[str | None] = mapped_column(String(255))  # None: single sign-on only
    role: Mapped[str] = mapped_column(String(32))  # ops | lender_admin
    lender_id: Mapped[int | None] = mapped_column(ForeignKey("lender.id"))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None]


class LoginAttempt(Base):
    """Sign-in attempts whose password was checked (not those refused by throttling), for
    commlog.throttle; kept a day (commlog.throttle.prune)."""

    __tablename__ = "login_attempt"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    attempted_at: Mapped[datetime]
    succeeded: Mapped[bool] = mapped_column(Boolean)
    client_ip: Mapped[str | None] = mapped_column(String(45))  # NULL: not known (a local connection)

    __table_args__ = (
        Index("ix_login_attempt_email_at", "email", "attempted_at"),
        Index("ix_login_attempt_ip_at", "client_ip", "attempted_at"),
        Index("ix_login_attempt_at", "attempted_at"),
    )


def _subject_text_default(context) -> str | None:
    return stored_subject_text(context.get_current_parameters().get("subject"))


class Message(Base):
    """One email to one recipient. `log_account_id` says whose Communication Log it belongs to:
    NULL for the lender's own log, else the borrower account whose activity sent it.

    On PostgreSQL partitioned by month of `sent_at` (commlog.partitions, migration 0012): there the
    primary key is (id, sent_at) and no foreign key points here (delivery_event and
    suppression_removal name a message by id; ids stay unique, from one sequence)."""

    __tablename__ = "message"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    lender_id: Mapped[int] = mapped_column(ForeignKey("lender.id"))
    log_account_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    recipient_account_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    audience: Mapped[str] = mapped_column(String(16))  # staff | borrower
    email_type: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(500))  # exactly as received (may be RFC 2047 encoded)
    # The subject decoded (commlog.mime_subject) when that differs from `subject`, else NULL: read
    # it through SUBJECT_TEXT. Filled on insert from `subject` unless given (migration 0005 backfills).
    subject_text: Mapped[str | None] = mapped_column(String(500), default=_subject_text_default)
    recipient_email: Mapped[str] = mapped_column(String(320))
    recipient_domain: Mapped[str] = mapped_column(String(255))
    provider_family: Mapped[str] = mapped_column(String(32))  # google | microsoft | yahoo | apple | other
    sent_at: Mapped[datetime]
    send_status: Mapped[str] = mapped_column(String(16))  # sent | failed
    send_error: Mapped[str | None] = mapped_column(Text)
    provider: Mapped[str] = mapped_column(String(32))  # sendgrid | postmark
    provider_message_id: Mapped[str | None] = mapped_column(String(255))
    # Delivery status known so far; NULL = not checked yet. Kept current by commlog.store.
    delivery_status: Mapped[str | None] = mapped_column(String(16))
    last_event_type: Mapped[str | None] = mapped_column(String(16))
    last_event_at: Mapped[datetime | None]
    status_reason: Mapped[str | None] = mapped_column(String(500))
    event_mask: Mapped[int] = mapped_column(Integer, default=0)  # vocabulary.EVENT_BIT of every event seen
    checked_at: Mapped[datetime | None]

    __table_args__ = (
        # Lender log (log_account_id IS NULL) and one borrower's log, newest first.
        Index("ix_message_log", "lender_id", "log_account_id", "sent_at", "id"),
        Index("ix_message_lender_sent", "lender_id", "sent_at", "id"),
        # One log filtered by delivery status or by recipient domain, newest first.
        # (migration 0012) id for the page's order; on PostgreSQL the domain rides along, so "NOT_DELIVERED
        # to gmail.com" is counted and paged from the index alone, without reading a row of the table.
        Index("ix_message_log_delivery", "lender_id", "log_account_id", "delivery_status", "sent_at", "id",
              postgresql_include=["recipient_domain"]),
        Index("ix_message_log_domain", "lender_id", "log_account_id", "recipient_domain", "sent_at"),
        Index("ix_message_provider_message_id", "provider_message_id"),
        # (migration 0014) Only the PENDING messages, for their expiry once their retry window ends
        # (commlog.store.expire_pending): it reads those few, not the lender's whole log.
        Index("ix_message_pending", "lender_id", "sent_at", postgresql_where=text("delivery_status = 'PENDING'"),
              sqlite_where=text("delivery_status = 'PENDING'")),
    )


# What the log shows, searches and exports as the subject: decoded, else as received.
SUBJECT_TEXT = func.coalesce(Message.subject_text, Message.subject)

# The recipient search (commlog.recipient_search; migration 0004) compares addresses lower-cased,
# whatever case the sender stored, and bytewise, so that "starts with" is an index range:
RECIPIENT_EMAIL = Bytewise(func.lower(Message.recipient_email))
RECIPIENT_DOMAIN = Bytewise(func.lower(Message.recipient_domain))
# One lender's emails to one address (every log), newest first; addresses starting with a text.
Index("ix_message_lender_recipient", Message.lender_id, RECIPIENT_EMAIL, Message.sent_at, Message.id)
# Every lender's emails to one address by send time: a late provider event without a message id
# names an address, not a lender (commlog.webhooks.ingest; migration 0006).
Index("ix_message_recipient_sent", RECIPIENT_EMAIL, Message.sent_at)
# One lender's addresses on a domain, or on domains starting with a text ("gmial").
Index("ix_message_lender_domain_recipient", Message.lender_id, RECIPIENT_DOMAIN, RECIPIENT_EMAIL)
# The lender's account (staff or borrower) with a given address.
ACCOUNT_EMAIL = func.lower(Account.email)
Index("ix_account_lender_email", Account.lender_id, ACCOUNT_EMAIL)


class DeliveryEvent(Base):
    """A normalized provider event. (provider, provider_event_id, occurred_at) is unique, so
    re-ingesting a webhook batch or re-running a check stores nothing twice. On PostgreSQL
    partitioned by month of `occurred_at` (commlog.partitions; primary key (id, occurred_at))."""

    __tablename__ = "delivery_event"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    lender_id: Mapped[int] = mapped_column(ForeignKey("lender.id"))
    message_id: Mapped[int] = mapped_column(ForeignKey("message.id"))
    event_type: Mapped[str] = mapped_column(String(16))  # vocabulary.EventType
    raw_type: Mapped[str | None] = mapped_column(String(64))  # the provider's own name
    occurred_at: Mapped[datetime]
    reason: Mapped[str | None] = mapped_column(Text)  # reason / SMTP response
    smtp_status: Mapped[str | None] = mapped_column(String(16))  # enhanced code, e.g. 5.1.1
    attempt: Mapped[int | None] = mapped_column(Integer)
    bounce_classification: Mapped[str | None] = mapped_column(String(64))
    provider: Mapped[str] = mapped_column(String(32))
    provider_event_id: Mapped[str] = mapped_column(String(255))
    ingested_at: Mapped[datetime]
    # How the event found its message: NULL = the provider named it (an id); "address_and_time" =
    # the provider sent no id and it is the newest email to the address sent before the event
    # (commlog.store.MATCHED_BY_ADDRESS_AND_TIME; migration 0006).
    matched_by: Mapped[str | None] = mapped_column(String(32))

    __table_args__ = (
        # occurred_at too: on PostgreSQL the table is partitioned by it (commlog.partitions), and a
        # partitioned table's unique keys must hold its partition key; a provider's event always
        # carries the same time, so an event is still stored once (commlog.store.EVENT_KEY).
        UniqueConstraint("provider", "provider_event_id", "occurred_at", name="uq_delivery_event_provider_event"),
        Index("ix_delivery_event_message", "message_id", "occurred_at"),
    )


class UnmatchedEvent(Base):
    """A webhook event whose message is not known yet: kept, and matched when the message appears."""

    __tablename__ = "unmatched_event"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    provider_event_id: Mapped[str] = mapped_column(String(255))
    provider_message_id: Mapped[str | None] = mapped_column(String(255))
    recipient_email: Mapped[str | None] = mapped_column(String(320))
    payload: Mapped[str] = mapped_column(Text)  # the provider's JSON for this one event
    received_at: Mapped[datetime]
    matched_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("provider", "provider_event_id", name="uq_unmatched_event_provider_event"),
        Index("ix_unmatched_event_provider_message_id", "provider_message_id"),
        Index("ix_unmatched_event_recipient_email", "recipient_email"),  # stored lower-case
    )


class AuditEntry(Base):
    """Who did what: exports, delivery checks and authentication events (commlog.audit).
    Append-only from the app; pruned after commlog.audit_retention.RETENTION by `audit prune`."""

    __tablename__ = "audit_entry"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime]
    user_email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(32))
    lender_id: Mapped[int | None] = mapped_column(ForeignKey("lender.id"))  # scope; NULL = all lenders
    action: Mapped[str] = mapped_column(String(32))  # export | check | sign_in | ... (commlog.audit)
    filters: Mapped[str | None] = mapped_column(Text)  # JSON of the filters used
    row_count: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str | None] = mapped_column(Text)
    client_ip: Mapped[str | None] = mapped_column(String(45))  # authentication events: where from (migration 0009)

    __table_args__ = (Index("ix_audit_entry_at", "at"), Index("ix_audit_entry_lender_at", "lender_id", "at"))


class ExportToken(Base):
    """A page's download, minted on click and served once by the launcher's `GET /export/<token>`
    (commlog.export_tokens; migration 0008). Only the token's SHA-256 is stored, never the token;
    the browser is the SHA-256 of its `commlog_browser` cookie. No lender_id column: like
    login_attempt it is the platform's own bookkeeping, read and written unscoped; the lender scope
    the principal had when minting is `principal_lender_id`, checked again before serving."""

    __tablename__ = "export_token"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    browser_sha256: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(32))  # the principal's role when minted
    principal_lender_id: Mapped[int | None] = mapped_column(BigId)  # their lender then (None: ops)
    spec: Mapped[str] = mapped_column(Text)  # JSON: the export's query, span, options, file name
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_export_token_expires_at", "expires_at"),)


class SuppressionRemoval(Base):
    """A lender admin's (or ops') request to take an address off a provider suppression list, and
    what became of it (commlog.suppression_removals; migration 0011). Lender-owned: row-level
    security like every such table. At most one open request (requested, approved, failed) per
    lender, address and list."""

    __tablename__ = "suppression_removal"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    lender_id: Mapped[int] = mapped_column(ForeignKey("lender.id"))
    address: Mapped[str] = mapped_column(String(320))  # lower case
    provider: Mapped[str] = mapped_column(String(32))  # sendgrid | postmark | sandbox: whom to tell
    list_key: Mapped[str] = mapped_column(String(32))  # bounces | blocks | invalid_emails | HardBounce | ...
    list_label: Mapped[str] = mapped_column(String(120))  # for people, as the provider's lookup named it
    listed_since: Mapped[datetime | None]  # when the provider put it on the list, if it said
    message_id: Mapped[int | None] = mapped_column(ForeignKey("message.id"))  # the email it was asked from
    reason: Mapped[str] = mapped_column(String(32))  # corrected_mailbox | temporary_problem | reverified | other
    reason_text: Mapped[str | None] = mapped_column(String(500))  # "other": in the requester's words
    note: Mapped[str | None] = mapped_column(Text)
    requested_by_user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    requested_by: Mapped[str] = mapped_column(String(320))  # the requester's email
    requested_at: Mapped[datetime]
    # requested | approved (the provider is being told) | removed | failed (approved, not removed)
    # | rejected | cancelled
    state: Mapped[str] = mapped_column(String(16))
    decided_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    decided_by: Mapped[str | None] = mapped_column(String(320))
    decided_at: Mapped[datetime | None]
    reject_reason: Mapped[str | None] = mapped_column(String(500))
    provider_answer: Mapped[str | None] = mapped_column(String(1000))  # the provider's words, last call
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # calls to the provider so far
    removed_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_suppression_removal_lender_state", "lender_id", "state", "requested_at"),
        Index("ix_suppression_removal_state", "state", "requested_at"),
        Index(
            "uq_suppression_removal_open", "lender_id", "address", "list_key", unique=True,
            sqlite_where=text("state IN ('requested', 'approved', 'failed')"),
            postgresql_where=text("state IN ('requested', 'approved', 'failed')"),
        ),
    )


# --- deliverability rollups (commlog.rollups keeps them; migration 0002) ---------------------

class DailyRollup(Base):
    """Messages per lender × UTC send day × email type × audience × provider family × outcome bucket
    × deferred-at-least-once. Kept by commlog.rollups (incrementally from commlog.store's status
    refresh, and rebuilt set-based after bulk loads); the Deliverability page reads only this and DomainRollup."""

    __tablename__ = "daily_rollup"

    lender_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    email_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    audience: Mapped[str] = mapped_column(String(16), primary_key=True)
    provider_family: Mapped[str] = mapped_column(String(32), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(16), primary_key=True)  # rollups.OUTCOMES
    deferred: Mapped[int] = mapped_column(Integer, primary_key=True)  # 1: deferred at least once
    count: Mapped[int] = mapped_column(BigInteger, default=0)

    __table_args__ = (
        Index("ix_daily_rollup_day", "day"),
        # (migration 0015) The email types a lender has sent, by a skip scan (commlog.rollups.email_types)
        Index("ix_daily_rollup_lender_type", "lender_id", "email_type", text("day DESC")),
    )


class DomainRollup(Base):
    """Messages per lender × UTC send day × audience × recipient domain × family × outcome × SMTP
    code of the failure ('' for non-failures): top bouncing domains and SMTP reason classes."""

    __tablename__ = "domain_rollup"

    lender_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    audience: Mapped[str] = mapped_column(String(16), primary_key=True)
    recipient_domain: Mapped[str] = mapped_column(String(255), primary_key=True)
    provider_family: Mapped[str] = mapped_column(String(32), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(16), primary_key=True)
    smtp_code: Mapped[str] = mapped_column(String(16), primary_key=True)  # "550 5.7.1", "5.1.1", ""
    count: Mapped[int] = mapped_column(BigInteger, default=0)

    __table_args__ = (Index("ix_domain_rollup_day", "day"),)


class LenderDayRollup(Base):
    """daily_rollup without email type and audience: what the page reads when neither is filtered
    (a few rows per lender and day, whatever the message count). Kept with daily_rollup."""

    __tablename__ = "lender_day_rollup"

    lender_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    provider_family: Mapped[str] = mapped_column(String(32), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(16), primary_key=True)
    deferred: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)

    __table_args__ = (Index("ix_lender_day_rollup_day", "day"),)

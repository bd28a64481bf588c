"""Reads behind the Communication Log. Every function takes the Principal and scopes by lender in
SQL; an id outside the principal's scope reads as "not found", never as data.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import CompoundSelect, Connection, Integer, Select, and_, bindparam, case, func, or_, select, union_all

from commlog import rollups
from commlog.db import is_postgresql
from commlog.event_wording import Voice, event_voice, match_note
from commlog.log_filters import BY_PARAM
from commlog.log_view import LogQuery, LogView
from commlog.models import SUBJECT_TEXT, Account, DeliveryEvent, Lender, Message
from commlog.paging import Page, clamp
from commlog.principal import Principal, ScopeError
from commlog.vocabulary import Audience, explain_event

TYPEAHEAD_LIMIT = 20
MIN_TYPEAHEAD = 2  # characters before the borrower search runs

LOG_COLUMNS = (
    Message.id,
    Message.sent_at,
    Message.recipient_email,
    SUBJECT_TEXT.label("subject"),  # decoded (RFC 2047), as people read it
    Message.email_type,
    Message.audience,
    Message.send_status,
    Message.send_error,
    Message.delivery_status,
    Message.last_event_type,
    Message.last_event_at,
    Message.status_reason,
    Message.checked_at,
)


@dataclass(frozen=True)
class LenderRow:
    id: int
    slug: str
    name: str


@dataclass(frozen=True)
class AccountRow:
    id: int
    lender_id: int
    kind: str
    name: str
    email: str

    @property
    def label(self) -> str:
        return f"{self.name} <{self.email}>"


@dataclass(frozen=True)
class EventRow:
    occurred_at: datetime
    event_type: str
    raw_type: str | None
    meaning: str
    reason: str | None
    smtp_status: str | None
    attempt: int | None
    bounce_classification: str | None
    provider_event_id: str
    voice: Voice | None = None  # who said what (commlog.event_wording): the words the event is shown with
    match_note: str | None = None  # how it found this email when the provider did not name it


@dataclass(frozen=True)
class MessageDetail:
    message: dict
    lender: LenderRow
    log_account: AccountRow | None  # None: the lender's own log
    events: list[EventRow]


# --- lenders and accounts -------------------------------------------------------------------


def list_lenders(conn: Connection, principal: Principal) -> list[LenderRow]:
    stmt = select(Lender.id, Lender.slug, Lender.name).order_by(Lender.name)
    if not principal.is_ops:
        stmt = stmt.where(Lender.id == principal.require_lender(None))
    return [LenderRow(*r) for r in conn.execute(stmt)]


def get_lender(conn: Connection, principal: Principal, lender_id: int) -> LenderRow | None:
    try:
        lender_id = principal.require_lender(lender_id)
    except ScopeError:
        return None
    row = conn.execute(select(Lender.id, Lender.slug, Lender.name).where(Lender.id == lender_id)).first()
    return LenderRow(*row) if row else None


def lender_by_slug(conn: Connection, slug: str) -> LenderRow | None:
    """The lender a command line names by its slug (the command runs as the platform)."""
    row = conn.execute(select(Lender.id, Lender.slug, Lender.name).where(Lender.slug == slug)).first()
    return LenderRow(*row) if row else None


def get_borrower(conn: Connection, principal: Principal, lender_id: int, account_id: int) -> AccountRow | None:
    try:
        lender_id = principal.require_lender(lender_id)
    except ScopeError:
        return None
    row = conn.execute(
        select(Account.id, Account.lender_id, Account.kind, Account.name, Account.email).where(
            Account.id == account_id, Account.lender_id == lender_id, Account.kind == Audience.BORROWER.value
        )
    ).first()
    return AccountRow(*row) if row else None


def _like_pattern(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def prefix_range(expression, prefix: str, *, bytewise: bool = False) -> list:
    """`expression` starts with `prefix`, as an index range: `>= prefix` and `<` the prefix with its
    last character raised by one.

    A bytewise expression (commlog.models.Bytewise) compares in code point order, so there the range
    is exact. Otherwise the range alone is not exact under a linguistic collation, so the first
    characters are compared too, with `substr`, not `LIKE 'x%'`: PostgreSQL's trigram index on
    search_text (migration 0013) can also serve `LIKE 'x%'`, and the planner, taking the range and
    the LIKE for two independent conditions, expected one row and chose that index: it read every
    match of the lender (1,778 for 'jaco' at 10M messages, 9.8 ms) to sort them, instead of walking
    the range in order and stopping after the page (0.2 ms)."""
    return _starts_with(expression, prefix, prefix_end(prefix), len(prefix), bytewise=bytewise)


def _starts_with(expression, low, high, length, *, bytewise: bool = False) -> list:
    """prefix_range's conditions from its parts, each a value or a bound parameter (a statement built
    once): `expression` from `low` up to `high` (None: no upper end), and, unless bytewise, its first
    `length` characters equal to `low`."""
    in_range = [expression >= low] if high is None else [expression >= low, expression < high]
    return in_range if bytewise else [*in_range, func.substr(expression, 1, length) == low]


def prefix_end(prefix: str) -> str | None:
    """The first string after every string starting with `prefix` (code point order): the prefix
    with its last character raised by one. None when no character follows the last one (U+10FFFF):
    then the first characters alone decide."""
    nxt = ord(prefix[-1]) + 1
    if nxt > 0x10FFFF:
        return None
    if 0xD800 <= nxt <= 0xDFFF:  # skip the surrogates (never stored, not encodable): the next character is U+E000
        nxt = 0xE000
    return prefix[:-1] + chr(nxt)


# How well a borrower matches what was typed, best first: the whole email address, the start of
# the email, the start of the name, the start of a later word of the name, anywhere.
MATCH_EXACT_EMAIL, MATCH_EMAIL_PREFIX, MATCH_NAME_PREFIX, MATCH_NAME_WORD, MATCH_ANYWHERE = range(5)


def search_borrowers(
    conn: Connection, principal: Principal, lender_id: int, text: str, limit: int = TYPEAHEAD_LIMIT
) -> list[AccountRow]:
    """Type-ahead over one lender's borrowers by name or email (case-insensitive), best match first.

    The whole email address first, then emails starting with the text, then names starting with
    it (each found through an index range), then names with a later word starting with it, then
    the text anywhere (a scan of the lender's borrowers, only when the index ranges did not fill
    the list). Within each rank: by email for the email ranks, by name for the name ranks.
    """
    lender_id = principal.require_lender(lender_id)
    text = " ".join((text or "").replace("\x00", " ").split())[:100].lower()  # NUL: PostgreSQL refuses it
    if len(text) < MIN_TYPEAHEAD:
        return []
    limit = max(1, min(limit, 100))
    high = prefix_end(text)
    starting = _borrowers_starting_with(bounded=high is not None)
    found = {AccountRow(*r) for r in conn.execute(starting, {"lender_id": lender_id, "low": text, "high": high, "length": len(text), "limit": limit})}
    if len(found) < limit:
        anywhere = _like_pattern(text)
        params = {"lender_id": lender_id, "anywhere": anywhere, "word_start": "% " + anywhere[1:], "limit": limit + len(found)}
        found |= {AccountRow(*r) for r in conn.execute(_borrowers_containing(), params)}
    return sorted(found, key=lambda a: typeahead_order(a, text))[:limit]


_BORROWER_COLUMNS = (Account.id, Account.lender_id, Account.kind, Account.name, Account.email)
# One lender's borrowers, the lender given at each call (`lender_id`).
_LENDERS_BORROWERS = (Account.lender_id == bindparam("lender_id"), Account.kind == Audience.BORROWER.value)


@functools.cache
def _borrowers_starting_with(*, bounded: bool) -> CompoundSelect:
    """The type-ahead's two index ranges (emails, then names, starting with the text) as one
    statement, built once and given its values at each call. Building and hashing a fresh statement
    on every keystroke took SQLAlchemy longer than PostgreSQL took to answer it. `bounded`: the
    ranges have an upper end (see prefix_end); `low` is both the ranges' start and the first
    characters compared (see prefix_range)."""
    high = bindparam("high") if bounded else None
    by = [
        select(*_BORROWER_COLUMNS)
        .where(*_LENDERS_BORROWERS, *_starts_with(column, bindparam("low"), high, bindparam("length", type_=Integer)))
        .order_by(column)
        .limit(bindparam("limit", type_=Integer))
        .subquery()
        for column in (Account.email, Account.search_text)
    ]
    return union_all(*(select(b) for b in by))


@functools.cache
def _borrowers_containing() -> Select:
    """The type-ahead's scan for the text anywhere in the name or email (`anywhere`, a LIKE pattern),
    a later word of the name starting with it (`word_start`) first; built once like the ranges."""
    word_first = case((Account.search_text.like(bindparam("word_start"), escape="\\"), 0), else_=1)
    return (
        select(*_BORROWER_COLUMNS)
        .where(*_LENDERS_BORROWERS, Account.search_text.like(bindparam("anywhere"), escape="\\"))
        .order_by(word_first, Account.name, Account.id)
        .limit(bindparam("limit", type_=Integer))
    )


def typeahead_order(account: AccountRow, text: str) -> tuple:
    """Where a borrower sits in the type-ahead: by `match_rank`; within the email ranks by email
    (the order their index range is read in), within the name ranks by name."""
    rank = match_rank(account, text)
    return rank, account.email.lower() if rank <= MATCH_EMAIL_PREFIX else account.name.casefold(), account.id


def match_rank(account: AccountRow, text: str) -> int:
    """MATCH_EXACT_EMAIL … MATCH_ANYWHERE: how well `account` matches `text` (lower case, one space)."""
    email, name = account.email.lower(), " ".join(account.name.lower().split())
    if email == text:
        return MATCH_EXACT_EMAIL
    if email.startswith(text):
        return MATCH_EMAIL_PREFIX
    if name.startswith(text):
        return MATCH_NAME_PREFIX
    if any(word.startswith(text) for word in name.split()[1:]) or f" {text}" in name:
        return MATCH_NAME_WORD
    return MATCH_ANYWHERE


# --- the log -----------------------------------------------------------------------------------


# How much of the log a query spans: one log (the lender's own, or one borrower's: the default),
# every log of the filter's lender, or every lender (ops only; the filter's lender_id is not used).
SPAN_LOG = "log"
SPAN_LENDER = "lender"
SPAN_ALL = "all"


def _conditions(q: LogQuery, span: str = SPAN_LOG) -> list:
    v = q.view
    cond = []
    if span != SPAN_ALL:
        cond.append(Message.lender_id == q.lender_id)
    if span == SPAN_LOG and not v.all_logs:
        cond.append(Message.log_account_id.is_(None) if v.account_id is None else Message.log_account_id == v.account_id)
    if q.since is not None:
        cond.append(Message.sent_at >= q.since)
    if q.until is not None:
        cond.append(Message.sent_at < q.until)
    cond.extend(BY_PARAM[param].condition(value) for param, value in v.choices)
    if v.domain:
        cond.append(Message.recipient_domain == v.domain)
    if v.text:
        pattern = _like_pattern(v.text)
        cond.append(
            or_(
                func.lower(Message.recipient_email).like(pattern, escape="\\"),
                func.lower(SUBJECT_TEXT).like(pattern, escape="\\"),
            )
        )
    return cond


def _order(sort: str) -> list:
    if sort == "oldest":
        return [Message.sent_at.asc(), Message.id.asc()]
    if sort == "recipient":
        return [Message.recipient_email.asc(), Message.sent_at.desc(), Message.id.desc()]
    if sort == "status":
        rank = case(
            (Message.send_status == "failed", 0),
            (Message.delivery_status == "NOT_DELIVERED", 1),
            (Message.delivery_status == "PENDING", 2),
            (Message.delivery_status.is_(None), 3),
            else_=4,
        )
        return [rank, Message.sent_at.desc(), Message.id.desc()]
    return [Message.sent_at.desc(), Message.id.desc()]


def log_where(principal: Principal, q: LogQuery, *, span: str = SPAN_LOG, extra_conditions=()) -> list:
    """The scoped WHERE conditions of a log query, plus the caller's `extra_conditions` (the export
    adds "failures only"). span=SPAN_ALL is for ops only: anyone else gets ScopeError."""
    if span == SPAN_ALL:
        if not principal.is_ops:
            raise ScopeError("only platform ops can read every lender")
    elif span in (SPAN_LOG, SPAN_LENDER):
        principal.require_lender(q.lender_id)
    else:
        raise ValueError(f"unknown span {span!r}")
    return [*_conditions(q, span), *extra_conditions]


def log_select(principal: Principal, q: LogQuery, columns=LOG_COLUMNS, *, span: str = SPAN_LOG, extra_conditions=()) -> Select:
    """The filtered, scoped, ordered log query (no paging): the export streams this too."""
    where = log_where(principal, q, span=span, extra_conditions=extra_conditions)
    return select(*columns).where(and_(*where)).order_by(*_order(q.view.sort))


def count_log(conn: Connection, principal: Principal, q: LogQuery, *, span: str = SPAN_LOG, extra_conditions=()) -> int:
    where = log_where(principal, q, span=span, extra_conditions=extra_conditions)
    return conn.execute(select(func.count()).select_from(Message).where(and_(*where))).scalar_one()


# The log counts its emails exactly up to COUNT_LIMIT (reading at most that many index entries, a
# few milliseconds however big the log); above it the page says "about N", N being PostgreSQL's own
# estimate for the same query, and offers an exact count. A view that comes from a figure
# (Deliverability's links, exact UTC bounds) is always counted exactly: the figure and its log must
# agree. SQLite (the embedded demo) always counts exactly.
COUNT_LIMIT = 10_000


@dataclass(frozen=True)
class LogCount:
    n: int
    exact: bool


def count_log_bounded(conn: Connection, principal: Principal, q: LogQuery, limit: int | None = None) -> LogCount:
    """The log's size, exact up to `limit` (COUNT_LIMIT); above it PostgreSQL's estimate (never
    below limit + 1)."""
    limit = COUNT_LIMIT if limit is None else limit
    where = and_(*log_where(principal, q))
    if not is_postgresql(conn):
        return LogCount(conn.execute(select(func.count()).select_from(Message).where(where)).scalar_one(), True)
    upto = select(Message.id).where(where).limit(limit + 1).subquery()
    n = conn.execute(select(func.count()).select_from(upto)).scalar_one()
    if n <= limit:
        return LogCount(n, True)
    return LogCount(max(limit + 1, estimated_rows(conn, select(Message.id).where(where))), False)


def estimated_rows(conn: Connection, stmt: Select) -> int:
    """PostgreSQL's planner estimate of the rows `stmt` returns (EXPLAIN, nothing run)."""
    sql = stmt.compile(conn)
    processors = sql._bind_processors
    params = {k: processors[k](v) if k in processors else v for k, v in sql.params.items()}
    plan = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {sql}", params).scalar_one()
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def about(n: int) -> int:
    """An estimate rounded to what it can claim: two significant figures (414,837 -> 410,000)."""
    if n < 100:
        return n
    step = 10 ** (len(str(n)) - 2)
    return (n + step // 2) // step * step


def fetch_log_page(conn: Connection, principal: Principal, q: LogQuery, *, exact: bool = False) -> Page[dict]:
    """One page of the log and its size: exact when asked, when the view comes from a figure (exact
    UTC bounds), or when it holds at most COUNT_LIMIT emails; else an estimate (Page.exact False)."""
    size = q.view.page_size
    counted = _exact_count(conn, principal, q) if exact or q.view.sent_from is not None else count_log_bounded(conn, principal, q)
    page = clamp(q.view.page, counted.n, size)
    rows = _page_rows(conn, principal, q, page, size)
    if not rows and page > 1 and not counted.exact:  # past the real end of an estimated log: count it
        counted = _exact_count(conn, principal, q)
        page = clamp(page, counted.n, size)
        rows = _page_rows(conn, principal, q, page, size)
    return Page([dict(r) for r in rows], counted.n, page, size, counted.exact)


def _exact_count(conn: Connection, principal: Principal, q: LogQuery) -> LogCount:
    return LogCount(count_log(conn, principal, q), True)


def _index_order(q: LogQuery, order: list) -> list:
    """`order`, said so that PostgreSQL sees the log index's order in it. The lender's own log is
    `log_account_id IS NULL`, which the planner does not treat as one value: to it the index
    (lender_id, log_account_id, sent_at, id) is not in send-time order, so it sorted the lender's
    whole log for a deep page (47 ms for page 200 at 1M messages). Naming the column, constant
    here, first lets it read each month's index in order and stop after the page."""
    if q.view.all_logs or q.view.account_id is not None or q.view.sort not in ("newest", "oldest"):
        return order
    return [Message.log_account_id.asc() if q.view.sort == "oldest" else Message.log_account_id.desc(), *order]


def _page_rows(conn: Connection, principal: Principal, q: LogQuery, page: int, size: int):
    """One page, found first as (id, sent_at) pairs (what the log's indexes hold: the skipped rows
    of a deep page cost index entries, not table rows), then those rows read whole."""
    order = _order(q.view.sort)
    keys = (
        select(Message.id, Message.sent_at)
        .where(and_(*log_where(principal, q)))
        .order_by(*_index_order(q, order))
        .limit(size)
        .offset((page - 1) * size)
        .subquery("page_keys")
    )
    rows = (
        select(*LOG_COLUMNS)
        .join_from(Message, keys, and_(Message.id == keys.c.id, Message.sent_at == keys.c.sent_at))
        .where(Message.lender_id == q.lender_id)
        .order_by(*order)
    )
    return conn.execute(rows).mappings().all()


def email_types(conn: Connection, principal: Principal, lender_id: int) -> list[str]:
    """The email types this lender has sent (for the filter's choices), from the daily rollups
    (commlog.rollups: every message counted, failed sends included, lender first in their key),
    from the day of the lender's oldest email on: a type whose emails retention has dropped is not
    offered. A DISTINCT over the log itself read the lender's whole log: 0.28 s for 20,000 emails
    on SQLite, over a second at 10M on PostgreSQL, paid by the first page after sign-in."""
    lender_id = principal.require_lender(lender_id)
    first_sent = conn.execute(select(func.min(Message.sent_at)).where(Message.lender_id == lender_id)).scalar()
    if first_sent is None:
        return []
    return rollups.email_types(conn, lender_id, since=first_sent.date())


# --- one message -------------------------------------------------------------------------------


def get_message(conn: Connection, principal: Principal, message_id: int) -> MessageDetail | None:
    # "subject" is the decoded subject, as everywhere people read it; "subject_as_received" the stored one.
    stmt = select(
        *(c for c in Message.__table__.c if c.name not in ("subject", "subject_text")),
        SUBJECT_TEXT.label("subject"),
        Message.subject.label("subject_as_received"),
    ).where(Message.id == message_id)
    if not principal.is_ops:
        stmt = stmt.where(Message.lender_id == principal.require_lender(None))
    message = conn.execute(stmt).mappings().first()
    if message is None:
        return None
    message = dict(message)
    lender = LenderRow(*conn.execute(select(Lender.id, Lender.slug, Lender.name).where(Lender.id == message["lender_id"])).one())
    log_account = None
    if message["log_account_id"] is not None:
        row = conn.execute(
            select(Account.id, Account.lender_id, Account.kind, Account.name, Account.email).where(
                Account.id == message["log_account_id"], Account.lender_id == message["lender_id"]
            )
        ).first()
        log_account = AccountRow(*row) if row else None
    events = [
        EventRow(
            occurred_at=e.occurred_at,
            event_type=e.event_type,
            raw_type=e.raw_type,
            meaning=explain_event(e.event_type),
            reason=e.reason,
            smtp_status=e.smtp_status,
            attempt=e.attempt,
            bounce_classification=e.bounce_classification,
            provider_event_id=e.provider_event_id,
            voice=event_voice(e.event_type, provider=e.provider or message["provider"], reason=e.reason,
                              raw_type=e.raw_type, domain=message["recipient_domain"]),
            match_note=match_note(e.matched_by),
        )
        for e in conn.execute(
            select(DeliveryEvent.__table__)
            .where(DeliveryEvent.message_id == message["id"], DeliveryEvent.lender_id == message["lender_id"])
            .order_by(DeliveryEvent.occurred_at, DeliveryEvent.id)
        )
    ]
    return MessageDetail(message, lender, log_account, events)


# --- validating a view from the URL ----------------------------------------------------------


@dataclass
class ResolvedView:
    view: LogView
    lender: LenderRow | None
    account: AccountRow | None
    notices: list[str]


def resolve_view(conn: Connection, principal: Principal, view: LogView) -> ResolvedView:
    """Check the view's lender and account against the principal and the database.

    A lender admin's lender is always their own (a lender= in the URL for another lender is
    ignored with a notice); an account that is not one of the lender's borrowers falls back to the
    lender's log. Notices never say whether a foreign id exists.
    """
    notices: list[str] = []
    if principal.is_ops:
        lender = get_lender(conn, principal, view.lender_id) if view.lender_id is not None else None
        if view.lender_id is not None and lender is None:
            notices.append("That lender was not found: choose one from the list.")
    else:
        if view.lender_id is not None and view.lender_id != principal.lender_id:
            notices.append("That lender is not available to you: showing your own lender's log.")
        lender = get_lender(conn, principal, principal.lender_id)
    if view.search_all_lenders and not principal.is_ops:
        notices.append("Searching every lender is for platform ops only: searching your own lender's logs.")
        view = replace(view, search_all_lenders=False)
    account = None
    if view.account_id is not None:
        account = get_borrower(conn, principal, lender.id, view.account_id) if lender is not None else None
        if account is None:
            notices.append("That borrower account was not found for this lender: showing the lender's log.")
    view = replace(view, lender_id=lender.id if lender else None, account_id=account.id if account else None)
    return ResolvedView(view, lender, account, notices)


__all__ = [
    "AccountRow",
    "LenderRow",
    "MessageDetail",
    "count_log",
    "fetch_log_page",
    "get_message",
    "log_select",
    "prefix_range",
    "resolve_view",
    "search_borrowers",
]

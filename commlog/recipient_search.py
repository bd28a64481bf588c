"""Find emails to a person ("Find emails to…"), across every log of a lender.

A lender admin hears "my borrower never got the email". The emails to one person sit in several
logs: the lender's own log (the borrower's account confirmation) and the borrower's own log
(password resets). `find_emails_to` takes what the admin types (a whole address, part of one, a
domain, or part of a person's name), finds the matching recipients (the addresses emails were sent
to) and lists every email to them across all of the lender's logs, newest first, each row naming
the log it belongs to.

How the text matches (after `normalize_text`):

- A whole address (`local@domain.tld`): that address exactly (match "address"). When nothing was
  ever sent to it, it is searched as a fragment instead, so a half-typed `ana@gmail.co` still
  finds ana@gmail.com.
- A fragment of at least MIN_FRAGMENT characters, three ways, best first:
  "address_prefix": addresses that start with it (an index range, never `LIKE '%x%'` over
  messages); "name": the addresses of the lender's accounts (staff and borrowers) whose name or
  email contains every word of it ("nasser", "billy nasser", "nasser billy"; on PostgreSQL
  looked up in the lender's part of a trigram index, migration 0013, for words of three letters
  or more; otherwise a scan of the lender's accounts); "domain": addresses whose domain starts
  with it ("gmial", "gmial.com", "@gmial.com"; an index range; only for text without spaces and
  without an inner "@").
  Each way finds at most MAX_RECIPIENTS + 1 recipients in its own order (addresses
  alphabetically, lender by lender; accounts by name; domains then addresses alphabetically,
  lender by lender); the ways run best first and stop once the list is full, and beyond
  MAX_RECIPIENTS the list is cut (`more_recipients`): the admin types more.

Recipients are listed best match first, then by their newest email. A recipient is one address at
one lender: with all lenders (ops), the same address at two lenders is two recipients.

Case and collation: addresses are compared lower-cased (`lower()` in SQL, whatever case the sender
stored) and bytewise (commlog.models.Bytewise), so "starts with" is an exact index range on both
backends, whatever the database's collation. SQLite's lower() folds ASCII letters only.

Scope: a lender admin always searches their own lender (another lender, or all lenders, raises
ScopeError); ops name one lender, or ask for all lenders explicitly. Every query carries its lender
condition in SQL; PostgreSQL's row-level security (migration 0003) is a second guard.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, and_, exists, func, or_, select
from sqlalchemy.orm import aliased

from commlog.db import is_postgresql
from commlog.log_queries import LOG_COLUMNS, prefix_range
from commlog.models import (
    ACCOUNT_EMAIL,
    RECIPIENT_DOMAIN,
    RECIPIENT_EMAIL,
    Account,
    Bytewise,
    Lender,
    Message,
)
from commlog.paging import clamp, page_count
from commlog.principal import Principal, ScopeError
from commlog.vocabulary import Audience

MIN_FRAGMENT = 2  # characters before a fragment search runs (a whole address of any length always runs)
MAX_RECIPIENTS = 50  # recipients a search lists; more matches cut the list (more_recipients=True)
MAX_TEXT = 200  # longer text is cut: no address or name is longer, and LIKE cost grows with it
MAX_PAGE_SIZE = 500

MATCH_ADDRESS = "address"  # the whole address, exactly
MATCH_PREFIX = "address_prefix"  # the address starts with the text
MATCH_NAME = "name"  # the name or email of one of the lender's accounts with this address contains the text
MATCH_DOMAIN = "domain"  # the address's domain starts with the text
MATCH_RANK = {MATCH_ADDRESS: 0, MATCH_PREFIX: 1, MATCH_NAME: 2, MATCH_DOMAIN: 3}

ACCOUNT_KINDS = (Audience.BORROWER.value, Audience.STAFF.value)
KIND_ORDER = {kind: i for i, kind in enumerate(ACCOUNT_KINDS)}  # an address of a borrower and of staff reads as the borrower

_ADDRESS_RE = re.compile(r"^[^\s@]+@[^\s@]+\.[^\s@.]{2,}$")

ROW_COLUMNS = (
    *LOG_COLUMNS,
    Message.lender_id,
    Lender.name.label("lender_name"),
    Message.log_account_id,
)


@dataclass(frozen=True)
class Recipient:
    """One address emails were sent to, at one lender, and what is known about it."""

    email: str  # lower-case
    lender_id: int
    lender_name: str
    name: str | None  # the name of the lender's account (borrower or staff) with this email, if any
    account_id: int | None
    kind: str | None  # "borrower" | "staff" | None (no account of the lender has this address)
    emails: int  # emails sent to this address in scope, every log
    last_sent_at: datetime
    newest_message_id: int
    match: str  # MATCH_ADDRESS, MATCH_PREFIX, MATCH_NAME or MATCH_DOMAIN


@dataclass(frozen=True)
class RecipientSearch:
    """The answer to one search: the recipients found and one page of the emails to them."""

    text: str  # the normalized search text ("" when there was nothing to search)
    recipients: list[Recipient]  # best first: whole address, address prefix, name, domain; then most recent
    more_recipients: bool  # more recipients matched than MAX_RECIPIENTS: the list was cut
    rows: list[dict]  # one page of emails to the listed recipients, newest first (sent_at desc, id desc)
    total: int  # emails to all listed recipients
    page: int
    page_size: int

    @property
    def num_pages(self) -> int:
        return page_count(self.total, self.page_size)


@dataclass(frozen=True)
class _Candidate:
    lender_id: int
    email: str
    match: str


# --- the text ----------------------------------------------------------------------------------


def normalize_text(raw: str | None) -> str:
    """What is searched: NUL dropped (PostgreSQL refuses it), whitespace collapsed, lower-case, at
    most MAX_TEXT characters."""
    text = " ".join((raw or "").replace("\x00", "").split()).lower()
    return text[:MAX_TEXT].rstrip()


def looks_like_address(text: str) -> bool:
    """local@domain.tld: searched as that address exactly."""
    return bool(_ADDRESS_RE.match(text))


def searchable(text: str) -> bool:
    """Whether a normalized text runs a search: a whole address, or at least MIN_FRAGMENT characters."""
    return looks_like_address(text) or len(text) >= MIN_FRAGMENT


def domain_fragment(text: str) -> str | None:
    """The domain part a fragment can be the start of ("gmial", "@gmial.com" -> "gmial.com"), if any."""
    if " " in text:
        return None
    domain = text.removeprefix("@")
    if "@" in domain or len(domain) < MIN_FRAGMENT:
        return None
    return domain


# --- scope -------------------------------------------------------------------------------------


def _requested_lender(principal: Principal, lender_id: int | None, all_lenders: bool) -> int | None:
    """The one lender searched, or None for every lender (ops only, asked for explicitly)."""
    if all_lenders:
        if not principal.is_ops:
            raise ScopeError("only platform ops can search every lender")
        if lender_id is not None:
            raise ScopeError("choose one lender or all lenders, not both")
        return None
    return principal.require_lender(lender_id)


def _lender_ids(conn: Connection, lender: int | None) -> list[int]:
    if lender is not None:
        return [lender]
    return list(conn.execute(select(Lender.id).order_by(Lender.id)).scalars())


def _of_lenders(column: ColumnElement, lenders: Sequence[int]) -> ColumnElement[bool]:
    return column == lenders[0] if len(lenders) == 1 else column.in_(lenders)


def _sent_to(conn: Connection, pairs: Iterable[tuple[int, str]], lender_column: ColumnElement, email: ColumnElement) -> ColumnElement[bool]:
    """These (lender, address) pairs exactly, as each database reads them fastest.

    PostgreSQL: `lender = l AND address IN (...)`, one condition per lender. Spelt as one
    `lender = l AND address = a` per pair, 50 pairs took 7-10 ms to plan across the monthly
    partitions, longer than the query ran. SQLite: one `lender = l AND address = a` per pair, one
    index lookup each (SQLite without statistics plans `lender = l AND address IN (...)` as a walk of
    the lender's whole log, for the order ix_message_lender_sent gives)."""
    pairs = sorted(set(pairs))
    if is_postgresql(conn):
        by_lender: dict[int, list[str]] = {}
        for lender, address in pairs:
            by_lender.setdefault(lender, []).append(address)
        return or_(*(and_(lender_column == lender, email.in_(addresses)) for lender, addresses in by_lender.items()))
    return or_(*(and_(lender_column == lender, email == address) for lender, address in pairs))


# --- finding the recipients -----------------------------------------------------------------------


def _like_contains(word: str) -> str:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _whole_address(conn: Connection, lenders: Sequence[int], address: str) -> list[_Candidate]:
    stmt = (
        select(Message.lender_id)
        .where(_of_lenders(Message.lender_id, lenders), address == RECIPIENT_EMAIL)
        .group_by(Message.lender_id)
        .order_by(Message.lender_id)
    )
    return [_Candidate(lender, address, MATCH_ADDRESS) for lender in conn.execute(stmt).scalars()]


def _address_prefix(conn: Connection, lenders: Sequence[int], text: str, limit: int) -> list[_Candidate]:
    stmt = (
        select(Message.lender_id, RECIPIENT_EMAIL)
        .where(_of_lenders(Message.lender_id, lenders), *prefix_range(RECIPIENT_EMAIL, text, bytewise=True))
        .group_by(Message.lender_id, RECIPIENT_EMAIL)
        .order_by(Message.lender_id, RECIPIENT_EMAIL)  # the index's order: the limit ends the walk
        .limit(limit)
    )
    return [_Candidate(lender, email, MATCH_PREFIX) for lender, email in conn.execute(stmt)]


def _account_name(conn: Connection, lenders: Sequence[int], text: str, limit: int) -> list[_Candidate]:
    """Addresses of the lenders' accounts whose name or email contains every word of `text`, and
    that emails were sent to (at the account's lender); by account name.

    Several accounts can share an address: rows are read in name order until `limit` addresses
    are found (or the accounts run out). No GROUP BY in SQL: SQLite would then walk the lender's
    accounts by address (ix_account_lender_email) to group for free, instead of testing the text
    on ix_account_lender_kind_search before reading any account row."""
    words = [_like_contains(w) for w in dict.fromkeys(text.split(" "))]
    emailed = exists().where(Message.lender_id == Account.lender_id, RECIPIENT_EMAIL == ACCOUNT_EMAIL)
    stmt = (
        select(Account.lender_id, ACCOUNT_EMAIL)
        .where(
            _of_lenders(Account.lender_id, lenders),
            Account.kind.in_(ACCOUNT_KINDS),
            *(Account.search_text.like(w, escape="\\") for w in words),
            emailed,
        )
        .order_by(Bytewise(Account.name), Account.id)
    )
    rows_wanted = limit
    while True:
        rows = conn.execute(stmt.limit(rows_wanted)).all()
        found = list(dict.fromkeys((lender, email) for lender, email in rows))
        if len(found) >= limit or len(rows) < rows_wanted:
            return [_Candidate(lender, email, MATCH_NAME) for lender, email in found[:limit]]
        rows_wanted *= 2


def _domain_prefix(conn: Connection, lenders: Sequence[int], text: str, limit: int) -> list[_Candidate]:
    domain = domain_fragment(text)
    if domain is None:
        return []
    stmt = (
        select(Message.lender_id, RECIPIENT_EMAIL)
        .where(_of_lenders(Message.lender_id, lenders), *prefix_range(RECIPIENT_DOMAIN, domain, bytewise=True))
        .group_by(Message.lender_id, RECIPIENT_DOMAIN, RECIPIENT_EMAIL)
        .order_by(Message.lender_id, RECIPIENT_DOMAIN, RECIPIENT_EMAIL)  # the index's order
        .limit(limit)
    )
    return [_Candidate(lender, email, MATCH_DOMAIN) for lender, email in conn.execute(stmt)]


_WAYS = (_address_prefix, _account_name, _domain_prefix)  # best first


def _fragment(conn: Connection, lenders: Sequence[int], text: str) -> tuple[list[_Candidate], bool]:
    """The recipients a fragment matches, best way first, at most MAX_RECIPIENTS; and whether more matched.

    Each way finds at most MAX_RECIPIENTS + 1. Those it finds again (found a better way before)
    are at most as many as the list holds, so a way cut by its limit always overfills the list."""
    found: dict[tuple[int, str], _Candidate] = {}
    for way in _WAYS:
        for c in way(conn, lenders, text, MAX_RECIPIENTS + 1):
            found.setdefault((c.lender_id, c.email), c)
        if len(found) > MAX_RECIPIENTS:
            break
    candidates = list(found.values())
    return candidates[:MAX_RECIPIENTS], len(candidates) > MAX_RECIPIENTS


def _candidates(conn: Connection, lenders: Sequence[int], text: str) -> tuple[list[_Candidate], bool]:
    if looks_like_address(text):
        exact = _whole_address(conn, lenders, text)
        if exact:
            return exact, False
    if len(text) < MIN_FRAGMENT:
        return [], False
    return _fragment(conn, lenders, text)


# --- what is known about them ------------------------------------------------------------------


def _sent(conn: Connection, sent_to: ColumnElement[bool]) -> dict[tuple[int, str], tuple[int, datetime, int]]:
    """(lender, address) -> (emails, newest sent_at, newest id) of the emails `sent_to` selects."""
    key = (Message.lender_id, RECIPIENT_EMAIL)
    newest = func.row_number().over(partition_by=key, order_by=(Message.sent_at.desc(), Message.id.desc()))
    per = (
        select(
            Message.lender_id,
            RECIPIENT_EMAIL.label("email"),
            Message.id,
            Message.sent_at,
            func.count().over(partition_by=key).label("emails"),
            newest.label("newest"),
        )
        .where(sent_to)
        .subquery()
    )
    stmt = select(per.c.lender_id, per.c.email, per.c.emails, per.c.sent_at, per.c.id).where(per.c.newest == 1)
    return {(r.lender_id, r.email): (r.emails, r.sent_at, r.id) for r in conn.execute(stmt)}


def _accounts(conn: Connection, pairs: Sequence[tuple[int, str]]) -> dict[tuple[int, str], tuple[int, str, str]]:
    """(lender, address) -> (account id, name, kind) of the lender's account with that address
    (a borrower before staff, then the oldest account)."""
    stmt = select(Account.lender_id, ACCOUNT_EMAIL.label("email"), Account.id, Account.name, Account.kind).where(
        _sent_to(conn, pairs, Account.lender_id, ACCOUNT_EMAIL)
    )
    found: dict[tuple[int, str], tuple[int, str, str]] = {}
    for r in sorted(conn.execute(stmt), key=lambda r: (KIND_ORDER.get(r.kind, len(KIND_ORDER)), r.id)):
        found.setdefault((r.lender_id, r.email), (r.id, r.name, r.kind))
    return found


def _recipients(conn: Connection, candidates: Sequence[_Candidate], sent_to: ColumnElement[bool]) -> list[Recipient]:
    """The candidates as recipients, best match first, then the most recent."""
    pairs = [(c.lender_id, c.email) for c in candidates]
    sent = _sent(conn, sent_to)
    accounts = _accounts(conn, pairs)
    lender_names = dict(conn.execute(select(Lender.id, Lender.name).where(Lender.id.in_({c.lender_id for c in candidates}))).all())
    out = []
    for c, key in zip(candidates, pairs):
        if key not in sent:  # every email to it deleted since it was found
            continue
        emails, last_sent_at, newest_id = sent[key]
        account_id, name, kind = accounts.get(key, (None, None, None))
        out.append(Recipient(c.email, c.lender_id, lender_names[c.lender_id], name, account_id, kind, emails, last_sent_at, newest_id, c.match))
    out.sort(key=lambda r: (MATCH_RANK[r.match], -r.last_sent_at.timestamp(), -r.newest_message_id, r.lender_id))
    return out


# --- the emails --------------------------------------------------------------------------------


def _rows(conn: Connection, sent_to: ColumnElement[bool], lenders: Sequence[int], limit: int, offset: int) -> list[dict]:
    """One page of the emails `sent_to` selects, every log, newest first, each naming its log.

    The page is found first as (id, sent_at) pairs, then those rows are read whole (as the log's
    pages are, commlog.log_queries): asked for whole rows at once, PostgreSQL costed the sort of
    every email to the recipients by their full width and started parallel workers for a few
    hundred rows (about 20 ms of the 30 a page took at 1M messages)."""
    newest_first = (Message.sent_at.desc(), Message.id.desc())
    keys = select(Message.id, Message.sent_at).where(sent_to).order_by(*newest_first).limit(limit).offset(offset).subquery("page_keys")
    log_account = aliased(Account)
    stmt = (
        select(*ROW_COLUMNS, log_account.name.label("log_account_name"))
        .join_from(Message, keys, and_(Message.id == keys.c.id, Message.sent_at == keys.c.sent_at))
        .join(Lender, Lender.id == Message.lender_id)
        .outerjoin(log_account, and_(log_account.id == Message.log_account_id, log_account.lender_id == Message.lender_id))
        .where(_of_lenders(Message.lender_id, lenders))
        .order_by(*newest_first)
    )
    return [dict(r) for r in conn.execute(stmt).mappings()]


def find_emails_to(
    conn: Connection,
    principal: Principal,
    text: str | None,
    *,
    lender_id: int | None,
    all_lenders: bool = False,
    page: int = 1,
    page_size: int = 50,
) -> RecipientSearch:
    """Every email the lender sent to the recipients `text` matches, across all of its logs.

    `lender_id`: the lender searched (a lender admin's own; None reads as their own). Ops give a
    lender, or `all_lenders=True` (and no lender_id). Raises ScopeError otherwise. Text too short
    to search gives an empty answer without a query. `page` is clamped to the pages there are.
    """
    lender = _requested_lender(principal, lender_id, all_lenders)
    text = normalize_text(text)
    page_size = max(1, min(int(page_size), MAX_PAGE_SIZE))
    if not searchable(text):
        return RecipientSearch(text, [], False, [], 0, 1, page_size)
    lenders = _lender_ids(conn, lender)
    candidates, more = _candidates(conn, lenders, text) if lenders else ([], False)
    if not candidates:
        return RecipientSearch(text, [], False, [], 0, 1, page_size)
    sent_to = _sent_to(conn, ((c.lender_id, c.email) for c in candidates), Message.lender_id, RECIPIENT_EMAIL)
    recipients = _recipients(conn, candidates, sent_to)
    total = sum(r.emails for r in recipients)
    page = clamp(page, total, page_size)
    rows = _rows(conn, sent_to, lenders, page_size, (page - 1) * page_size)
    return RecipientSearch(text, recipients, more, rows, total, page, page_size)


__all__ = [
    "MATCH_ADDRESS",
    "MATCH_DOMAIN",
    "MATCH_NAME",
    "MATCH_PREFIX",
    "MAX_RECIPIENTS",
    "MIN_FRAGMENT",
    "Recipient",
    "RecipientSearch",
    "find_emails_to",
    "looks_like_address",
    "normalize_text",
]

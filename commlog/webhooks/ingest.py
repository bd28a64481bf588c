"""SendGrid Event Webhook ingestion: pure domain, no HTTP.

One batch (the JSON array of one POST) is written through commlog.store, which is idempotent on
(provider, sg_event_id): SendGrid retries for up to 24 h and duplicates are normal, so a replayed or
duplicated batch stores nothing twice and leaves statuses as they were. It takes at most two
transactions, and each stores some of the batch's emails whole (their events and their status): on
PostgreSQL, the first takes the emails no other post is writing at that moment, and the second, only
when some were held, waits its turn for those (`_store_where_free`). The post is answered after both
have committed; when the second fails the sender retries the post, the first one's events are then
repeats, and nothing is lost or stored twice.

Message matching, most precise first:
1. custom arg `commlog_message_id` (top level of the event) = message.id, same recipient;
2. message.provider_message_id = the event's full `sg_message_id`;
3. message.provider_message_id = the X-Message-Id (the part of `sg_message_id` before the first
   '.'), same recipient email: what the send API returns and what the portal usually stores;
4. message.provider_message_id starting with that X-Message-Id + '.', same recipient email.
   An event without `sg_message_id` but with `smtp-id` (`<X-Message-Id@host>`) is matched by that
   X-Message-Id and recipient the same way (3 and 4).
5. Address and time, only for an event that names no message at all (no `sg_message_id`, no
   `smtp-id`, no custom arg): SendGrid's delayed and asynchronous bounces can come with nothing but
   `email`, `timestamp`, `event`, `status` and `reason`. It goes to the newest SendGrid email to that
   address (compared lower-cased, as the log compares addresses; any lender's log) sent at or before
   the event's time and at most ADDRESS_MATCH_WINDOW (7 days) before it; when several were sent in
   that window the newest wins, and an email sent after the event is never chosen. The stored event
   says so (`delivery_event.matched_by` = store.MATCHED_BY_ADDRESS_AND_TIME), and the message page
   words it. An event that does carry an id is never matched by address: the id names another email.

Why 7 days: SendGrid retries a deferred email for up to 72 h before it gives up with a bounce, and
retries a webhook POST we did not accept for up to 24 h, so its own timeline ends within 4 days of
the send; an asynchronous bounce (the receiving server accepted, then sent a bounce report) mostly
comes within hours, sometimes days. 7 days covers both with room, and is short enough that a bounce
is not pinned on an email from weeks ago. An older event stays unmatched, and "Why didn't they get
it?" shows it for its address.

Events whose message is not known (yet) go to `unmatched_event` (idempotent on the event id) and are
moved onto their message by `match_unmatched` once it exists (by id, or, for events without one, by
address and time as above). Malformed events (missing event, email or timestamp) are counted as
rejected; they never fail the batch.

Providers whose events name their message by id and recipient (Postmark, `commlog.webhooks.postmark`)
use `ingest_events` and `match_kept_events`: the same transaction, locks, idempotence and write path.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple, TypeVar

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    bindparam,
    case,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError

from commlog.db import any_of, is_postgresql, is_sqlite, one_of, per_backend, values_per_query
from commlog.models import RECIPIENT_EMAIL, Message, UnmatchedEvent
from commlog.providers.normalize import (
    ParsedEvent,
    parse_sendgrid_webhook_event,
    sendgrid_message_prefix,
)
from commlog.store import (
    MATCHED_BY_ADDRESS_AND_TIME,
    NewEvent,
    UnmatchedEventRow,
    keep_unmatched,
    read_for_refresh,
    store_events,
)
from commlog.unit_of_work import platform_writing

log = logging.getLogger("commlog.webhooks")

PROVIDER = "sendgrid"
COMMLOG_MESSAGE_ID_ARG = "commlog_message_id"
# How long before an event without a message id the email it is about may have been sent (see above).
ADDRESS_MATCH_WINDOW = timedelta(days=7)
_IN_CHUNK = 500

T = TypeVar("T")


@dataclass(frozen=True)
class IngestResult:
    stored: int = 0  # new delivery events written onto known messages
    duplicates: int = 0  # already stored or kept (or repeated within the batch): nothing written
    unmatched: int = 0  # newly kept in unmatched_event, message not known yet
    rejected: int = 0  # malformed events (no event / email / timestamp), skipped

    @property
    def total(self) -> int:
        return self.stored + self.duplicates + self.unmatched + self.rejected

    def __add__(self, other: IngestResult) -> IngestResult:
        return IngestResult(
            self.stored + other.stored,
            self.duplicates + other.duplicates,
            self.unmatched + other.unmatched,
            self.rejected + other.rejected,
        )

    def as_dict(self) -> dict[str, int]:
        return {"stored": self.stored, "duplicates": self.duplicates, "unmatched": self.unmatched, "rejected": self.rejected}


class WebhookEvent(NamedTuple):
    """One SendGrid webhook event, parsed by commlog.providers.normalize; enough to match and store it.
    A named tuple: a post makes hundreds."""

    parsed: ParsedEvent
    email: str  # lower-cased, stripped
    sg_message_id: str | None
    commlog_message_id: int | None
    payload: dict
    smtp_x_message_id: str | None = None  # the X-Message-Id inside `smtp-id` (`<X-Message-Id@host>`)

    @property
    def provider_event_id(self) -> str:
        return self.parsed.provider_event_id

    @property
    def x_message_id(self) -> str | None:
        """The X-Message-Id the send API returned: `sg_message_id` up to its first '.', else the one
        in `smtp-id`."""
        return sendgrid_message_prefix(self.sg_message_id) or self.smtp_x_message_id

    @property
    def names_a_message(self) -> bool:
        """Whether the provider said which email this is about (an id or our custom arg)."""
        return bool(self.sg_message_id or self.smtp_x_message_id or self.commlog_message_id is not None)

    def to_new_event(self, message_id: int, lender_id: int, matched_by: str | None = None) -> NewEvent:
        return self.parsed.to_new_event(message_id, lender_id, matched_by)


class MalformedEvent(ValueError):
    """An event the webhook cannot use (counted as rejected)."""


# --------------------------------------------------------------------------------------------------
# Parsing: field reading, the synthetic id for events without `sg_event_id`, and the one SendGrid
# event name -> EventType mapping all live in commlog.providers.normalize.


def _commlog_message_id(event: dict) -> int | None:
    value = event.get(COMMLOG_MESSAGE_ID_ARG)
    if value is None or isinstance(value, bool):
        return None
    try:
        n = int(str(value).strip())
    except ValueError:
        return None
    return n if 0 < n < 2**63 else None


def _smtp_x_message_id(event: dict) -> str | None:
    """`<evEK_IhZSlKus235aGfxIQ@ismtpd0001p1lon1.sendgrid.net>` -> `evEK_IhZSlKus235aGfxIQ`."""
    value = event.get("smtp-id")
    if not isinstance(value, str):
        return None
    local = value.strip().strip("<>").strip().split("@", 1)[0]
    x = sendgrid_message_prefix(local)
    return x[:255] if x else None


def parse_event(event: object) -> WebhookEvent:
    """One webhook event dict -> WebhookEvent. Raises MalformedEvent (no event, email or timestamp)."""
    if not isinstance(event, dict):
        raise MalformedEvent("event is not a JSON object")
    try:
        parsed = parse_sendgrid_webhook_event(event)
    except (ValueError, TypeError, OverflowError, OSError) as exc:  # EventParseError is a ValueError
        raise MalformedEvent(type(exc).__name__) from None
    email = parsed.recipient_email.strip().lower() if isinstance(parsed.recipient_email, str) else ""
    if not email:
        raise MalformedEvent("event without an email")
    sg_message_id = parsed.provider_message_id
    return WebhookEvent(
        parsed=parsed,
        email=email[:320],
        sg_message_id=sg_message_id[:255] if sg_message_id else None,
        commlog_message_id=_commlog_message_id(event),
        payload=event,
        smtp_x_message_id=_smtp_x_message_id(event),
    )


def parse_batch(events: Iterable[object]) -> tuple[list[WebhookEvent], int]:
    """Parse every event; returns (parsed, number rejected)."""
    parsed: list[WebhookEvent] = []
    rejected = 0
    for ev in events:
        try:
            parsed.append(parse_event(ev))
        except MalformedEvent:
            rejected += 1
    return parsed, rejected


# --------------------------------------------------------------------------------------------------
# Matching events to messages


class _Candidate(NamedTuple):  # a tuple: a batch makes one per stored message it reads
    id: int
    lender_id: int
    email: str
    provider_message_id: str | None
    matched_by: str | None = None  # None: by an id; MATCHED_BY_ADDRESS_AND_TIME


def _chunks(items: Sequence[T], size: int = _IN_CHUNK) -> Iterable[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


_CANDIDATE_COLUMNS = (Message.id, Message.lender_id, Message.recipient_email, Message.provider_message_id)


def _candidates(conn: Connection, statement, params: Mapping | None = None) -> list[_Candidate]:
    """The messages a statement over _CANDIDATE_COLUMNS reads, as candidates for events."""
    rows = conn.execute(statement, params).all()
    return [_Candidate(id_, lender_id, (email or "").strip().lower(), pmid) for id_, lender_id, email, pmid in rows]


@per_backend
def _by_id(dialect):
    """A provider's messages with these ids (`ids`, `provider`): built once, run for every batch."""
    return select(*_CANDIDATE_COLUMNS).where(any_of(dialect, Message.id, "ids"), Message.provider == bindparam("provider"))


@per_backend
def _by_provider_message_id(dialect):
    """A provider's messages with these provider message ids (`pmids`, `provider`)."""
    return select(*_CANDIDATE_COLUMNS).where(
        Message.provider == bindparam("provider"), any_of(dialect, Message.provider_message_id, "pmids")
    )


def resolve_messages(conn: Connection, events: Sequence[WebhookEvent]) -> list[_Candidate | None]:
    """The stored message of each event, or None: a few indexed queries per batch, not one per event."""
    found: list[_Candidate | None] = [None] * len(events)

    # 1. custom arg commlog_message_id = message.id (same provider, same recipient).
    by_id: dict[int, _Candidate] = {}
    wanted_ids = sorted({e.commlog_message_id for e in events if e.commlog_message_id is not None})
    for chunk in _chunks(wanted_ids, values_per_query(conn)):
        for c in _candidates(conn, _by_id(conn), {"ids": list(chunk), "provider": PROVIDER}):
            by_id[c.id] = c
    for i, e in enumerate(events):
        c = by_id.get(e.commlog_message_id) if e.commlog_message_id is not None else None
        if c is not None and c.email == e.email:
            found[i] = c

    # 2 + 3. provider_message_id = full sg_message_id, or = its X-Message-Id prefix.
    keys = sorted(
        {k for i, e in enumerate(events) if found[i] is None for k in (e.sg_message_id, e.x_message_id) if k}
    )
    by_pmid: dict[str, list[_Candidate]] = defaultdict(list)
    for chunk in _chunks(keys, values_per_query(conn)):
        for c in _candidates(conn, _by_provider_message_id(conn), {"pmids": list(chunk), "provider": PROVIDER}):
            by_pmid[c.provider_message_id].append(c)
    for i, e in enumerate(events):
        if found[i] is not None or not e.x_message_id:
            continue
        if not e.sg_message_id:  # only smtp-id: its X-Message-Id and the recipient
            found[i] = next((c for c in by_pmid.get(e.x_message_id, []) if c.email == e.email), None)
            continue
        exact = by_pmid.get(e.sg_message_id, [])
        same_rcpt = [c for c in exact if c.email == e.email]
        if same_rcpt:
            found[i] = same_rcpt[0]
        elif len(exact) == 1:
            found[i] = exact[0]  # a full sg_message_id names one recipient's message
        else:
            found[i] = next((c for c in by_pmid.get(e.x_message_id or "", []) if c.email == e.email), None)

    # 4. stored ids that extend the X-Message-Id (`<x>.<suffix>`, suffix differing from the event's).
    prefixes = sorted({e.x_message_id for i, e in enumerate(events) if found[i] is None and e.x_message_id})
    by_prefix: dict[str, list[_Candidate]] = defaultdict(list)
    for chunk in _chunks(prefixes, 100):
        # '/' sorts right after '.', so [p + '.', p + '/') is exactly "starts with p." and uses the index.
        ranges = [
            and_(Message.provider_message_id >= p + ".", Message.provider_message_id < p + "/") for p in chunk
        ]
        for c in _candidates(conn, select(*_CANDIDATE_COLUMNS).where(Message.provider == PROVIDER, or_(*ranges))):
            by_prefix[c.provider_message_id.split(".", 1)[0]].append(c)
    for i, e in enumerate(events):
        if found[i] is None and e.x_message_id:
            found[i] = next((c for c in by_prefix.get(e.x_message_id, []) if c.email == e.email), None)

    # 5. no id at all: the newest email to the address sent at or before the event, in the window.
    nameless = [i for i, e in enumerate(events) if found[i] is None and not e.names_a_message]
    if nameless:
        for i, c in _newest_sent_before(conn, [events[i] for i in nameless]).items():
            found[nameless[i]] = c
    return found


def _newest_sent_before(conn: Connection, events: Sequence[WebhookEvent]) -> dict[int, _Candidate]:
    """For each event (by position), the newest SendGrid email to its address sent at or before it
    and at most ADDRESS_MATCH_WINDOW before it; ties on the send time go to the later id."""
    times = [e.parsed.occurred_at for e in events]
    earliest, latest = min(times) - ADDRESS_MATCH_WINDOW, max(times)
    sent: dict[str, list[tuple[datetime, _Candidate]]] = defaultdict(list)
    for chunk in _chunks(sorted({e.email for e in events})):
        rows = conn.execute(
            select(RECIPIENT_EMAIL.label("address"), Message.id, Message.lender_id, Message.provider_message_id,
                   Message.sent_at)
            .where(
                one_of(conn, RECIPIENT_EMAIL, chunk),  # ix_message_recipient_sent
                Message.sent_at >= earliest,
                Message.sent_at <= latest,
                Message.provider == PROVIDER,
                Message.send_status != "failed",  # never reached the provider: nothing to report on
            )
        ).all()
        for r in rows:
            candidate = _Candidate(r.id, r.lender_id, r.address, r.provider_message_id, MATCHED_BY_ADDRESS_AND_TIME)
            sent[r.address].append((r.sent_at, candidate))
    found: dict[int, _Candidate] = {}
    for i, e in enumerate(events):
        at = e.parsed.occurred_at
        in_window = [(t, c.id, c) for t, c in sent.get(e.email, []) if at - ADDRESS_MATCH_WINDOW <= t <= at]
        if in_window:
            found[i] = max(in_window, key=lambda x: (x[0], x[1]))[2]
    return found


# --------------------------------------------------------------------------------------------------
# Writing


def _insert_unmatched(conn: Connection, events: Sequence[WebhookEvent], now: datetime) -> int:
    """Keep events whose message is unknown; returns how many were new."""
    rows = [UnmatchedEventRow(PROVIDER, e.provider_event_id, e.sg_message_id, e.email, e.payload) for e in events]
    return keep_unmatched(conn, rows, now)


def _begin_write(conn: Connection) -> None:
    """SQLite: take the write lock now (BEGIN IMMEDIATE), so the reads below see every committed
    batch and no other writer can slip in between them and our writes (no SQLITE_BUSY_SNAPSHOT)."""
    if is_sqlite(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _lock_messages(conn: Connection, message_ids: Iterable[int], *, skip_held: bool = False) -> list[Mapping] | None:
    """PostgreSQL: lock the batch's messages in id order, reading them as the status refresh needs
    them (commlog.store.store_events): one statement for both. A duplicate event always targets the
    same message, so concurrent batches carrying it serialize here and the store's duplicate check
    (among the message's own events) is exact; the status updates that follow can no longer
    deadlock either. `skip_held`: only the messages no other transaction holds now (SKIP LOCKED),
    without waiting for any. SQLite: None, every message free (BEGIN IMMEDIATE already keeps every
    other writer out), and the store reads them only when it has something to store."""
    if not is_postgresql(conn):
        return None
    return read_for_refresh(conn, set(message_ids), skip_held=skip_held)


def _new_event(e: WebhookEvent | ParsedEvent, c: _Candidate) -> NewEvent:
    return e.to_new_event(c.id, c.lender_id, c.matched_by)


def _store_on_messages(conn: Connection, events: Sequence[NewEvent], now: datetime) -> int:
    """Write events whose message is known through commlog.store and bring those messages' status
    up to date; returns how many were new. Which ones are already stored, the store reads from the
    messages' own events (an event always names the same message), under the locks taken here; a
    batch of nothing but repeats writes nothing and leaves the statuses alone."""
    if not events:
        return 0
    return _store_locked(conn, events, _lock_messages(conn, (e.message_id for e in events)), now)


def _store_where_free(conn: Connection, events: Sequence[NewEvent], now: datetime) -> tuple[int, list[NewEvent]]:
    """As _store_on_messages, for the events of the messages no other transaction is writing now;
    returns how many were new, and the events left for their own transaction (_store_in_turn).

    Posts that share emails take turns on them from their first write to their commit. Waiting for
    the shared ones before writing any would make each post wait for the whole of the one before it
    (and that one for the one before it): with events arriving shuffled, most posts share a few
    emails with the posts in flight, and the posts would go one at a time. So a post first stores
    what is free, commits, and only then waits, for the few it shares."""
    if not events:
        return 0, []
    free = _lock_messages(conn, (e.message_id for e in events), skip_held=True)
    if free is None:
        return _store_locked(conn, events, None, now), []
    ids = {m["id"] for m in free}
    mine = [e for e in events if e.message_id in ids]
    return _store_locked(conn, mine, free, now), [e for e in events if e.message_id not in ids]


def _store_locked(conn: Connection, events: Sequence[NewEvent], messages: Sequence[Mapping] | None, now: datetime) -> int:
    if not events:
        return 0
    # Sorted by event id: concurrent writers of overlapping events take index locks in one order.
    ordered = sorted(events, key=lambda n: n.provider_event_id)
    return store_events(conn, ordered, now, messages=messages, refresh_when_nothing_new=False).stored


def _store_in_turn(engine: Engine, events: Sequence[NewEvent], now: datetime) -> int:
    """The events _store_where_free left: one transaction of their own, waiting for their emails."""
    if not events:
        return 0

    def run() -> int:
        with platform_writing(engine) as conn:
            return _store_on_messages(conn, events, now)

    return with_retries(run)


def _store_matched(conn: Connection, matched: Sequence[tuple[WebhookEvent, _Candidate]], now: datetime) -> int:
    return _store_on_messages(conn, [_new_event(e, c) for e, c in matched], now)


def _write_batch(conn: Connection, parsed: Sequence[WebhookEvent], now: datetime) -> tuple[IngestResult, list[NewEvent]]:
    """The batch's first transaction: returns what it stored and kept, and the events left for the
    second (_store_where_free)."""
    _begin_write(conn)
    # Repeats inside one batch: keep the first.
    unique: dict[str, WebhookEvent] = {}
    for e in parsed:
        unique.setdefault(e.provider_event_id, e)
    events = list(unique.values())

    targets = resolve_messages(conn, events)
    matched = [_new_event(e, c) for e, c in zip(events, targets, strict=True) if c is not None]
    orphans = [e for e, c in zip(events, targets, strict=True) if c is None]
    stored, later = _store_where_free(conn, matched, now)
    kept = _insert_unmatched(conn, orphans, now)
    return IngestResult(stored=stored, unmatched=kept), later


def _is_transient(exc: DBAPIError) -> bool:
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    if code in {"40P01", "40001"}:  # deadlock detected, serialization failure
        return True
    text = str(exc.orig).lower()
    return "database is locked" in text or "database table is locked" in text


def with_retries(fn: Callable[[], T], attempts: int = 6) -> T:
    """Run a whole transaction again on deadlock / serialization failure / SQLite busy."""
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except DBAPIError as exc:
            if attempt == attempts or exc.connection_invalidated or not _is_transient(exc):
                raise
            log.info("webhook batch retried after a transient database error (%s)", type(exc.orig).__name__)
            time.sleep(min(0.5, 0.01 * 2**attempt) * (0.5 + random.random()))
    raise AssertionError("unreachable")


def ingest_sendgrid_batch(engine: Engine, events: list[dict], now: datetime) -> IngestResult:
    """Store one SendGrid webhook batch, in at most two transactions; see the module docstring.

    Raises sqlalchemy errors when the database is unavailable: the transaction that failed stored
    nothing, and the HTTP layer answers 503 so that SendGrid retries the batch (what an earlier
    transaction stored then counts as duplicates).
    """
    parsed, rejected = parse_batch(events)
    if not parsed:
        return IngestResult(rejected=rejected)

    def run() -> tuple[IngestResult, list[NewEvent]]:
        with platform_writing(engine) as conn:  # a batch names its messages, not a lender: the platform's work
            return _write_batch(conn, parsed, now)

    first, later = with_retries(run)
    stored = first.stored + _store_in_turn(engine, later, now)
    return IngestResult(stored, len(parsed) - stored - first.unmatched, first.unmatched, rejected)


# --------------------------------------------------------------------------------------------------
# Later matching


def _prefix_expr(conn: Connection, column):
    """SQL for "column up to its first '.'" (the X-Message-Id of a full sg_message_id)."""
    if is_postgresql(conn):
        return func.split_part(column, ".", 1)
    pos = func.instr(column, ".")
    return case((pos > 0, func.substr(column, 1, pos - 1)), else_=column)


def _emailed(address_column):
    """EXISTS a SendGrid email to this (lower-cased) address, in any lender's log (indexed)."""
    return select(Message.id).where(address_column == RECIPIENT_EMAIL, Message.provider == PROVIDER).exists()


def match_unmatched(engine: Engine, now: datetime, batch_size: int = 500) -> int:
    """Move kept events onto messages that now exist; returns how many events were matched.

    One SQL join finds the candidates (message.provider_message_id equal to the kept full
    sg_message_id or to its X-Message-Id prefix, both indexed on the message side; for a kept event
    without sg_message_id, any SendGrid email to its address), so a pass costs little when nothing
    new can match; `resolve_messages` then decides, by id, or by address and time for an event that
    names no message. Each chunk is one transaction; safe to run concurrently.
    """
    matched_total = 0
    last_id = 0
    while True:
        def run_chunk(after: int = last_id) -> tuple[int, int | None]:
            with platform_writing(engine) as conn:
                _begin_write(conn)
                u = UnmatchedEvent.__table__
                pmid = u.c.provider_message_id
                m = Message.__table__
                cand = (
                    select(u.c.id, u.c.provider_event_id, u.c.payload)
                    .where(
                        u.c.provider == PROVIDER,
                        u.c.matched_at.is_(None),
                        u.c.id > after,
                        or_(
                            and_(
                                pmid.is_not(None),
                                select(m.c.id)
                                .where(
                                    m.c.provider == PROVIDER,
                                    or_(m.c.provider_message_id == pmid, m.c.provider_message_id == _prefix_expr(conn, pmid)),
                                )
                                .exists(),
                            ),
                            # no sg_message_id (smtp-id, custom arg, or nothing): an email to the address
                            and_(pmid.is_(None), _emailed(u.c.recipient_email)),
                        ),
                    )
                    .order_by(u.c.id)
                    .limit(batch_size)
                )
                rows = conn.execute(cand).all()
                if not rows:
                    return 0, None
                parsed: list[tuple[int, WebhookEvent]] = []
                for r in rows:
                    try:
                        parsed.append((r.id, parse_event(json.loads(r.payload))))
                    except (MalformedEvent, ValueError):
                        continue
                targets = resolve_messages(conn, [p for _, p in parsed])
                done_ids = [uid for (uid, _), c in zip(parsed, targets, strict=True) if c is not None]
                _store_matched(conn, [(p, c) for (_, p), c in zip(parsed, targets, strict=True) if c is not None], now)
                for chunk in _chunks(done_ids):
                    conn.execute(update(UnmatchedEvent).where(one_of(conn, UnmatchedEvent.id, chunk)).values(matched_at=now))
                return len(done_ids), rows[-1].id

        n, last = with_retries(run_chunk)
        matched_total += n
        if last is None:
            return matched_total
        last_id = last


def pending_unmatched(conn: Connection, provider: str = PROVIDER) -> int:
    """How many kept events (of `provider`, SendGrid unless named) still wait for their message."""
    return conn.execute(
        select(func.count()).select_from(UnmatchedEvent).where(
            UnmatchedEvent.provider == provider, UnmatchedEvent.matched_at.is_(None)
        )
    ).scalar_one()


# --------------------------------------------------------------------------------------------------
# Providers whose events name their message by id and recipient (Postmark's `MessageID`): the same
# transaction, locks, idempotence and write path as the SendGrid batches above.


def _targets_by_message_id(conn: Connection, provider: str, events: Sequence[ParsedEvent]) -> list[_Candidate | None]:
    """Each event's message: same provider, provider_message_id = the event's, same recipient."""
    by_pmid: dict[str, list[_Candidate]] = defaultdict(list)
    for chunk in _chunks(sorted({e.provider_message_id for e in events if e.provider_message_id})):
        for c in _candidates(conn, _by_provider_message_id(conn), {"pmids": list(chunk), "provider": provider}):
            by_pmid[c.provider_message_id].append(c)
    return [
        next((c for c in by_pmid.get(e.provider_message_id or "", []) if c.email == (e.recipient_email or "").strip().lower()), None)
        for e in events
    ]


def _store_parsed(conn: Connection, provider: str, matched: Sequence[tuple[ParsedEvent, _Candidate]], now: datetime) -> int:
    """Write events whose message is known through commlog.store; returns how many were new."""
    return _store_on_messages(conn, [_new_event(e, c) for e, c in matched], now)


def ingest_events(engine: Engine, events: Sequence[ParsedEvent], now: datetime) -> IngestResult:
    """Store one provider's parsed events in ONE transaction: onto their messages (provider message
    id and recipient) when known, else kept in `unmatched_event` (with `ParsedEvent.payload`, the
    provider's own record) until `match_kept_events` finds them. Idempotent on the events' ids.

    Raises sqlalchemy errors when the database is unavailable: nothing is then stored."""
    if not events:
        return IngestResult()
    provider = events[0].provider
    if any(e.provider != provider for e in events):
        raise ValueError("ingest_events takes one provider's events")
    first: dict[str, ParsedEvent] = {}
    for e in events:  # repeats: keep the first
        first.setdefault(e.provider_event_id, e)
    unique = list(first.values())

    def run() -> IngestResult:
        with platform_writing(engine) as conn:  # names its messages, not a lender: the platform's work
            _begin_write(conn)
            targets = _targets_by_message_id(conn, provider, unique)
            stored = _store_parsed(conn, provider, [(e, c) for e, c in zip(unique, targets, strict=True) if c], now)
            orphans = [
                UnmatchedEventRow(provider, e.provider_event_id, e.provider_message_id, e.recipient_email, e.payload)
                for e, c in zip(unique, targets, strict=True)
                if c is None
            ]
            kept = keep_unmatched(conn, orphans, now)
            return IngestResult(stored=stored, duplicates=len(events) - stored - kept, unmatched=kept)

    return with_retries(run)


def match_kept_events(
    engine: Engine,
    provider: str,
    parse: Callable[[dict], ParsedEvent | None],
    now: datetime,
    batch_size: int = 500,
) -> int:
    """Move `provider`'s kept events onto messages that now exist (provider message id and
    recipient, as `ingest_events` matches); `parse` reads a kept payload again (None: unusable).
    Returns how many were matched. Each chunk is one transaction; safe to run concurrently."""
    matched_total = 0
    last_id = 0
    u = UnmatchedEvent.__table__
    m = Message.__table__
    while True:

        def run_chunk(after: int = last_id) -> tuple[int, int | None]:
            with platform_writing(engine) as conn:
                _begin_write(conn)
                rows = conn.execute(
                    select(u.c.id, u.c.payload)
                    .where(
                        u.c.provider == provider,
                        u.c.matched_at.is_(None),
                        u.c.provider_message_id.is_not(None),
                        u.c.id > after,
                        select(m.c.id)
                        .where(m.c.provider == provider, m.c.provider_message_id == u.c.provider_message_id)
                        .exists(),
                    )
                    .order_by(u.c.id)
                    .limit(batch_size)
                ).all()
                if not rows:
                    return 0, None
                parsed: list[tuple[int, ParsedEvent]] = []
                for r in rows:
                    try:
                        event = parse(json.loads(r.payload))
                    except ValueError:
                        event = None
                    if event is not None:
                        parsed.append((r.id, event))
                targets = _targets_by_message_id(conn, provider, [e for _, e in parsed])
                found = [(uid, e, c) for (uid, e), c in zip(parsed, targets, strict=True) if c is not None]
                _store_parsed(conn, provider, [(e, c) for _, e, c in found], now)
                for chunk in _chunks([uid for uid, _, _ in found]):
                    conn.execute(update(UnmatchedEvent).where(one_of(conn, UnmatchedEvent.id, chunk)).values(matched_at=now))
                return len(found), rows[-1].id

        n, last = with_retries(run_chunk)
        matched_total += n
        if last is None:
            return matched_total
        last_id = last

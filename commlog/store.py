"""The one write path for delivery information: store normalized events, keep each message's
delivery status current. Checks, webhooks, sync and the demo seeder all come through here, so the
status rule and anything derived from it (rollups) stay in one place.
"""

from __future__ import annotations

import json
import operator
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Connection, and_, bindparam, select, update
from sqlalchemy.engine import Dialect

from commlog import rollups
from commlog.db import any_of, column_arrays, insert_for, is_postgresql, per_backend, row_arrays, rows_of, values_per_query
from commlog.models import DeliveryEvent, Message, UnmatchedEvent
from commlog.status import RETRY_WINDOW, StatusEvent, overall_status
from commlog.vocabulary import DeliveryStatus, mask_of

# NewEvent.matched_by / delivery_event.matched_by: the provider sent no message id, and the event was
# matched to the newest email to its address sent at or before it (commlog.webhooks.ingest).
MATCHED_BY_ADDRESS_AND_TIME = "address_and_time"


class NewEvent(NamedTuple):
    """An event to store. A named tuple, as StatusEvent: a webhook post makes one for each of its
    events (hundreds), and one takes about a third of a frozen dataclass's time to make."""

    message_id: int
    lender_id: int
    event_type: str
    occurred_at: datetime
    provider: str
    provider_event_id: str
    raw_type: str | None = None
    reason: str | None = None
    smtp_status: str | None = None
    attempt: int | None = None
    bounce_classification: str | None = None
    matched_by: str | None = None  # None: the provider named the message; else MATCHED_BY_ADDRESS_AND_TIME


def _chunks(items: Sequence, size: int):
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _events_by_message(conn: Connection, message_ids: Sequence[int]) -> dict[int, list[StatusEvent]]:
    """What the status rule needs of the messages' stored events."""
    return _as_status_events(_stored_events(conn, message_ids))


def _stored_events(conn: Connection, message_ids: Sequence[int]) -> list:
    """The messages' stored events: (message id, provider, provider event id, type, time, reason),
    what both the duplicate check and the status rule read, in one read."""
    rows: list = []
    for chunk in _chunks(message_ids, values_per_query(conn)):
        rows += conn.execute(_read_events(conn), {"ids": list(chunk)}).all()
    return rows


@per_backend
def _read_events(dialect):
    """_stored_events' statement, built once: the events of the messages `ids`."""
    return select(
        DeliveryEvent.message_id,
        DeliveryEvent.provider,
        DeliveryEvent.provider_event_id,
        DeliveryEvent.event_type,
        DeliveryEvent.occurred_at,
        DeliveryEvent.reason,
    ).where(any_of(dialect, DeliveryEvent.message_id, "ids"))


def _as_status_events(rows: Iterable) -> dict[int, list[StatusEvent]]:
    out: dict[int, list[StatusEvent]] = defaultdict(list)
    for message_id, _provider, provider_event_id, event_type, occurred_at, reason in rows:
        out[message_id].append(StatusEvent(event_type, occurred_at, reason, provider_event_id))
    return out


def _insert_new(conn: Connection, events: Sequence[NewEvent], stored: set[tuple[str, str]], now: datetime) -> list[NewEvent]:
    """Insert the events not among `stored` (their messages' event keys, read under the turns
    taken); returns the ones the database took (a row its key refuses is not among them). An event is
    the same event when its provider and provider event id are, whatever time each report gives it
    (an API may round it to the second where the webhook did not). The database's own key,
    EVENT_KEY, holds the time too (monthly partitions, commlog.partitions) and catches the rest."""
    fresh: dict[tuple[str, str], NewEvent] = {}
    for e in events:
        key = (e.provider, e.provider_event_id)
        if key not in stored:
            fresh.setdefault(key, e)
    if not fresh:
        return []
    if is_postgresql(conn):
        # Column by column, as the INSERT takes them: NewEvent is a tuple, so zip(*) turns the batch.
        arrays = dict(zip(NewEvent._fields, map(list, zip(*fresh.values())), strict=True))
        arrays["event_type"] = [str(t) for t in arrays["event_type"]]
        arrays["ingested_at"] = [now] * len(fresh)
        params = column_arrays("new_event", _EVENT_COLUMNS, arrays)
    else:
        params = [{**e._asdict(), "event_type": str(e.event_type), "ingested_at": now} for e in fresh.values()]
    taken = conn.execute(_insert_events(conn), params).all()
    return [fresh[(provider, event_id)] for provider, event_id in taken]


# The columns _insert_new writes: NewEvent's fields and the time it was taken.
_EVENT_COLUMNS = tuple(DeliveryEvent.__table__.c[k] for k in (*NewEvent._fields, "ingested_at"))


@per_backend
def _insert_events(dialect):
    """INSERT of new events, skipping the ones EVENT_KEY already holds, returning the ones taken;
    on PostgreSQL from one array per column (commlog.db.rows_of)."""
    stmt = _insert_once(dialect, DeliveryEvent, EVENT_KEY)
    if is_postgresql(dialect):
        batch = rows_of("new_event", _EVENT_COLUMNS)
        stmt = stmt.from_select([c.key for c in _EVENT_COLUMNS], select(*batch.c))
    return stmt.returning(DeliveryEvent.provider, DeliveryEvent.provider_event_id)


# What makes a provider event the same event: stored once by it (models.DeliveryEvent's unique key;
# the time is part of it because PostgreSQL partitions events by it, commlog.partitions).
EVENT_KEY = ("provider", "provider_event_id", "occurred_at")
UNMATCHED_EVENT_KEY = ("provider", "provider_event_id")


def _insert_once(bind: Connection | Dialect, model, key: tuple[str, ...]):
    """INSERT that skips rows whose `key` is already stored."""
    return insert_for(bind, model).on_conflict_do_nothing(index_elements=list(key))


@dataclass(frozen=True)
class UnmatchedEventRow:
    """A provider event whose message is not known (yet): kept to be matched later."""

    provider: str
    provider_event_id: str
    provider_message_id: str | None
    recipient_email: str | None
    payload: dict


def keep_unmatched(conn: Connection, events: Sequence[UnmatchedEventRow], now: datetime) -> int:
    """Store unmatched events once each; returns how many were new (RETURNING: exact even when
    concurrent writers carry the same events). Sorted by event id so concurrent batches lock alike."""
    if not events:
        return 0
    rows = [
        {
            "provider": e.provider,
            "provider_event_id": e.provider_event_id,
            "provider_message_id": e.provider_message_id,
            "recipient_email": (e.recipient_email or "").lower() or None,
            "payload": json.dumps(e.payload, separators=(",", ":"), default=str),
            "received_at": now,
            "matched_at": None,
        }
        for e in sorted(events, key=lambda e: e.provider_event_id)
    ]
    return len(conn.execute(_insert_once(conn, UnmatchedEvent, UNMATCHED_EVENT_KEY).returning(UnmatchedEvent.id), rows).all())


def read_for_refresh(conn: Connection, message_ids: Iterable[int], *, skip_held: bool = False) -> list[Mapping]:
    """The messages as the status refresh and the rollups need them, in id order, locked on
    PostgreSQL (FOR NO KEY UPDATE) until the transaction ends. `skip_held`: only the messages no
    other transaction holds now (SKIP LOCKED), without waiting for any."""
    return rollups.read_for_change(conn, message_ids, Message.last_event_at, Message.checked_at, skip_held=skip_held)


@dataclass(frozen=True)
class Recorded:
    stored: int  # events the database took
    statuses: dict[int, DeliveryStatus]  # the refreshed messages' status


def store_events(
    conn: Connection,
    events: Sequence[NewEvent],
    now: datetime,
    checked_ids: Iterable[int] = (),
    *,
    messages: Sequence[Mapping] | None = None,
    refresh_when_nothing_new: bool = True,
) -> Recorded:
    """Store events (idempotently) and bring their messages' status up to date.

    The messages are locked first (PostgreSQL: FOR NO KEY UPDATE, in id order), so writers of the
    same message take turns on its row, and two reports of one event arriving at once are stored
    once. Then the messages' stored events are read, once: their keys are the duplicate check, and
    with the events the database takes they are what the status rule reads. `messages`: the
    messages as `read_for_refresh` read and locked them in this transaction, when the caller
    already did (a webhook post, with its row locks); read here otherwise. With
    `refresh_when_nothing_new` False, a batch of nothing but repeats writes nothing."""
    ids = sorted({e.message_id for e in events} | set(checked_ids))
    if messages is None and (refresh_when_nothing_new or is_postgresql(conn)):
        # PostgreSQL: locked, in id order, before their events are read or written, as a webhook
        # post locks them: writers of one message take turns on its row.
        messages = read_for_refresh(conn, ids)
    stored = _stored_events(conn, ids)
    taken = _insert_new(conn, events, {(provider, event_id) for _m, provider, event_id, *_ in stored}, now)
    if not taken and not refresh_when_nothing_new:
        return Recorded(0, {})  # nothing but repeats (a replayed post): the rows are not even made into events
    # The status rule reads what was stored before and what was just taken: no second read.
    events_of = _as_status_events(stored)
    for e in taken:
        events_of[e.message_id].append(StatusEvent.of(e))
    if messages is None:
        messages = read_for_refresh(conn, ids)
    return Recorded(len(taken), _refresh(conn, messages, events_of, now, set(checked_ids)))


def record_events(
    conn: Connection,
    events: Sequence[NewEvent],
    now: datetime,
    checked_ids: Iterable[int] = (),
) -> dict[int, DeliveryStatus]:
    """Store events (idempotently) and bring the affected messages' status up to date."""
    return store_events(conn, events, now, checked_ids).statuses


def refresh_status(
    conn: Connection,
    message_ids: Iterable[int],
    now: datetime,
    checked_ids: Iterable[int] = (),
    *,
    messages: Sequence[Mapping] | None = None,
) -> dict[int, DeliveryStatus]:
    """Recompute delivery status of the given messages from all their stored events.

    `checked_ids` were just asked of the provider: they get `checked_at = now`, and become PENDING
    (not "not checked") even when the provider knew nothing yet. Only messages whose stored status
    changes are written (and move the rollups); each message is read once, locked on PostgreSQL
    (`messages`: as `read_for_refresh` already read them in this transaction).
    """
    ids = sorted(set(message_ids) | set(checked_ids))
    if messages is None:
        messages = read_for_refresh(conn, ids)
    return _refresh(conn, messages, _events_by_message(conn, ids), now, set(checked_ids))


def _refresh(
    conn: Connection,
    messages: Sequence[Mapping],
    events_of: Mapping[int, list[StatusEvent]],
    now: datetime,
    checked: set[int],
) -> dict[int, DeliveryStatus]:
    """The status rule over each message's events; writes the messages whose status changes."""
    results: dict[int, DeliveryStatus] = {}
    updates: list[dict] = []
    before: list = []
    for m in messages:
        events = events_of.get(m["id"], [])
        if not events and m["id"] not in checked and m["checked_at"] is None:
            continue  # still "not checked yet": nothing is known about it
        result = overall_status(events, m["sent_at"], now, RETRY_WINDOW)
        results[m["id"]] = result.status
        status = (  # in _STATUS_COLUMNS' order
            str(result.status),
            result.last_event_type,
            result.last_event_at,
            result.reason,
            mask_of(e.event_type for e in events),
            now if m["id"] in checked else m["checked_at"],
        )
        if _status_of(m) != status:
            updates.append({"b_id": m["id"], "sent_at": m["sent_at"], **dict(zip(_STATUS_COLUMNS, status, strict=True))})
            before.append(m)
    if updates:
        _write_status(conn, updates)
        # Deliverability's counts move in this transaction, from the rows as read above, and last:
        # every writer of a lender's day updates the same rollup rows and holds them until it
        # commits, so they are held for the shortest time.
        rollups.apply_status_changes(conn, updates, before)
    return results


_STATUS_COLUMNS = ("delivery_status", "last_event_type", "last_event_at", "status_reason", "event_mask", "checked_at")
_status_of = operator.itemgetter(*_STATUS_COLUMNS)  # a message's status columns, in that order


def _write_status(conn: Connection, updates: Sequence[Mapping]) -> None:
    """UPDATE the messages' status columns; on PostgreSQL one statement for the batch (its rows as
    arrays, joined on the primary key, id and sent_at, so each row finds its month's partition)."""
    if is_postgresql(conn):
        conn.execute(_update_status(conn), row_arrays("status", _STATUS_ROW, updates, renamed={"id": "b_id"}))
        return
    conn.execute(_update_status(conn), [{k: u[k] for k in ("b_id", *_STATUS_COLUMNS)} for u in updates])


_STATUS_ROW = tuple(Message.__table__.c[k] for k in ("id", "sent_at", *_STATUS_COLUMNS))


@per_backend
def _update_status(dialect):
    """UPDATE of the status columns: on PostgreSQL of every message of a batch at once, from one
    array per column (commlog.db.rows_of), each row finding its month's partition by id and sent_at;
    on SQLite one message per parameter set."""
    if is_postgresql(dialect):
        batch = rows_of("status", _STATUS_ROW)
        stmt = (
            update(Message)
            .where(Message.id == batch.c.id, Message.sent_at == batch.c.sent_at)
            .values({k: batch.c[k] for k in _STATUS_COLUMNS})
        )
    else:
        stmt = update(Message).where(Message.id == bindparam("b_id")).values({k: bindparam(k) for k in _STATUS_COLUMNS})
    return stmt.execution_options(synchronize_session=False)


def expire_pending(conn: Connection, now: datetime, lender_id: int | None = None) -> int:
    """PENDING messages whose retry window has ended become NOT_DELIVERED (expired)."""
    cond = [Message.delivery_status == DeliveryStatus.PENDING.value, Message.sent_at < now - RETRY_WINDOW]
    if lender_id is not None:
        cond.append(Message.lender_id == lender_id)
    ids = list(conn.execute(select(Message.id).where(and_(*cond))).scalars())
    if ids:
        refresh_status(conn, ids, now)
    return len(ids)

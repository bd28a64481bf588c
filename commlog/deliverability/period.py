"""How time is cut. The rollups count messages per UTC send day (cohort: a late event changes the
day the message was sent); charts group days into periods (day, week from Monday, calendar month),
the same in Python (`period_start`) and in SQL (`period_sql`); health judges the last RECENT_DAYS
send days against the BASELINE_DAYS before them."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Date,
    Integer,
    String,
    cast,
    func,
    literal,
)
from sqlalchemy import DateTime as SADateTime

from commlog.db import is_postgresql

GRANULARITIES = ("day", "week", "month")
DEFAULT_GRANULARITY = "week"
RECENT_DAYS = 7  # the window health and findings judge
BASELINE_DAYS = 28  # what that window is compared with: the days just before it
PROVISIONAL_DAYS = 3  # the last 72 h: pending messages may still resolve

DEFAULT_RANGE_DAYS = 60  # the page opens on the last 60 days with data
DAILY_UP_TO_DAYS = 45  # a range up to this long is drawn per day, a longer one per week
PICKABLE_BEFORE_DAYS = 365  # how far before the first data the date picker reaches


def period_start(day: date, granularity: str) -> date:
    if granularity == "week":
        return day - timedelta(days=day.weekday())
    if granularity == "month":
        return day.replace(day=1)
    return day


def _next_start(p: date, granularity: str) -> date:
    if granularity == "day":
        return p + timedelta(days=1)
    if granularity == "week":
        return p + timedelta(days=7)
    return (p.replace(day=28) + timedelta(days=4)).replace(day=1)


def periods(start: date, end: date, granularity: str) -> list[date]:
    """The start of every period that overlaps [start, end]."""
    out, p = [], period_start(start, granularity)
    while p <= end:
        out.append(p)
        p = _next_start(p, granularity)
    return out


def period_end(p: date, granularity: str) -> date:
    """The last day of the period starting `p`."""
    return _next_start(p, granularity) - timedelta(days=1)


def period_sql(conn: Connection, granularity: str, day: ColumnElement[Any]) -> ColumnElement[Any]:
    """`period_start` of a date column, in the connection's SQL dialect."""
    if granularity == "day":
        return day
    if is_postgresql(conn):
        return cast(func.date_trunc(granularity, cast(day, SADateTime())), Date)
    if granularity == "week":  # Monday
        back = (cast(func.strftime("%w", day), Integer) + 6) % 7
        return func.date(day, literal("-") + cast(back, String) + literal(" days"))
    return func.strftime("%Y-%m-01", day)


def as_date(value: date | str) -> date:
    """A day as the database returns it (PostgreSQL: a date; SQLite: text)."""
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def window_start(end: date, days: int = RECENT_DAYS) -> date:
    """The first day of the `days` days ending `end` (both inclusive)."""
    return end - timedelta(days=days - 1)


def default_range(first: date, last: date, today: date) -> tuple[date, date]:
    """What the page shows first: the last DEFAULT_RANGE_DAYS with data, up to today."""
    end = min(last, today)
    return max(first, window_start(end, DEFAULT_RANGE_DAYS)), end


def default_granularity(start: date, end: date) -> str:
    return "day" if (end - start).days <= DAILY_UP_TO_DAYS else "week"


def earliest_pickable(first: date) -> date:
    return first - timedelta(days=PICKABLE_BEFORE_DAYS)

"""The lender a piece of work runs for, handed to PostgreSQL's row-level security per transaction.

Queries scope by lender in SQL themselves (every read takes a Principal); on PostgreSQL the database
enforces the same boundary as well, so a query that forgets its WHERE still cannot see or write
another lender's rows (migration 0003's policies). The flow:

1. `commlog.ui.guard` sets the scope for each script run: the lender admin's lender, None for ops
   (and None at the start of every run, logged in or not: Streamlit reuses threads).
2. `commlog.db` listens to every PostgreSQL engine's "begin" event and runs
   `SELECT set_config('commlog.lender_id', <scope or ''>, true)` (SET LOCAL: this transaction only)
   as the transaction's first statement.
3. The policies let a transaction see and write rows whose lender is the setting's, or every row
   when the setting is empty (unscoped: ops, the CLI, migrations, webhooks).

The scope is read when a transaction begins: change it between transactions, not inside one.
SQLite has no row-level security; there the scope changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token

from sqlalchemy import Connection, text

from commlog.db import is_postgresql

SETTING = "commlog.lender_id"
SCOPE_INFO = "commlog_lender_scope"  # Connection.info key: the scope the current transaction began with

_current: ContextVar[int | None] = ContextVar("commlog_lender_scope", default=None)


def current_lender() -> int | None:
    """The lender this context is limited to; None: unscoped (every lender)."""
    return _current.get()


def set_current_lender(lender_id: int | None) -> Token:
    """Limit this context (a Streamlit script run, a thread) to one lender, or None for unscoped."""
    return _current.set(None if lender_id is None else int(lender_id))


@contextmanager
def lender_scope(lender_id: int | None) -> Iterator[None]:
    """Transactions begun inside the block are limited to `lender_id` (None: unscoped)."""
    token = set_current_lender(lender_id)
    try:
        yield
    finally:
        _current.reset(token)


def setting_value(lender_id: int | None) -> str:
    """What `commlog.lender_id` holds for a scope: the id, or '' for unscoped."""
    return "" if lender_id is None else str(int(lender_id))


@contextmanager
def unscoped(conn: Connection) -> Iterator[None]:
    """Read across lenders inside a lender-scoped transaction, for aggregates whose result names no
    lender (the Deliverability page's anonymous platform median). Restores the scope afterwards.

    Use sparingly and only where the code's output is anonymous: this lifts the database's guard."""
    if not is_postgresql(conn):
        yield
        return
    if not conn.in_transaction():
        conn.begin()  # the transaction the caller's next statement would begin: its scope is set now
    scope = conn.info.get(SCOPE_INFO)
    if scope is None:
        yield
        return
    conn.execute(text("SELECT set_config(:name, '', true)"), {"name": SETTING})
    ok = False
    try:
        yield
        ok = True
    finally:
        try:
            conn.execute(text("SELECT set_config(:name, :value, true)"), {"name": SETTING, "value": setting_value(scope)})
        except Exception:
            if ok:
                raise


NO_LENDER = 0  # no lender has this id: a lender admin without a lender sees nothing, not everything


def principal_scope(principal) -> int | None:
    """The scope a logged-in principal's work runs in: None (unscoped) for ops, else their lender."""
    if principal.is_ops:
        return None
    return principal.lender_id if principal.lender_id is not None else NO_LENDER

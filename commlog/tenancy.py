"""The lender a piece of work runs for, handed to PostgreSQL's row-level security per transaction.

Queries scope by lender in SQL themselves (every read takes a Principal); on PostgreSQL the database
enforces the same boundary as well, so a query that forgets its WHERE still cannot see or write
another lender's rows (the policies of migration 0010). A scope is one of three things:

- a lender's id: that lender's rows only (a lender admin's work);
- `ALL_LENDERS`: every lender, declared explicitly, by ops principals' units of work and by the
  platform's own work (`unit_of_work.platform_reading` / `platform_writing`, `unscoped`, the
  command line, migrations, seeding, the webhooks);
- None, the default: **nothing**. A transaction that begins without a declared scope (a new thread,
  a forgotten unit of work) sees no lender-owned row and can write none: it fails closed.

The flow:

1. `commlog.ui.guard` sets the scope for each script run: None at the start of every run (logged in
   or not: Streamlit reuses threads), then the principal's (`principal_scope`) once logged in.
   Units of work (`commlog.unit_of_work`) set theirs for the transaction they begin, on whichever
   thread runs them.
2. `commlog.db` listens to every PostgreSQL engine's "begin" event and, as the transaction's first
   statement, sets two settings with `set_config(…, true)` (SET LOCAL: this transaction only):
   `commlog.lender_id` (the lender's id, else '') and `commlog.scope` ('all' for every lender,
   else ''). Every lender is a setting of its own, never an empty lender: migration 0003's
   policies, which read an empty `commlog.lender_id` as every lender, still see every lender for
   ALL_LENDERS and run the migrations before 0010 unchanged.
3. The policies (migration 0010) let a transaction see and write rows whose lender is
   `commlog.lender_id`, every row when `commlog.scope` is 'all', and none otherwise.

A new lender-owned table gets, in its migration, ENABLE and FORCE ROW LEVEL SECURITY and the policy
`commlog_lender_scope` with migration 0010's condition (tests/db/test_rls.py fails without them).

The scope is read when a transaction begins: change it between transactions, not inside one
(`unscoped` is the one exception, and restores it). SQLite has no row-level security; there the
scope changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar, Token
from typing import Final, Literal

from sqlalchemy import Connection, text

from commlog.db import is_postgresql

SETTING = "commlog.lender_id"  # the lender's id, or ''
ALL_SETTING = "commlog.scope"  # 'all': every lender, declared; anything else: not
SCOPE_INFO = "commlog_lender_scope"  # Connection.info key: the scope the current transaction began with

ALL_LENDERS: Final = "all"  # every lender, declared (ALL_SETTING's value); no scope at all is nobody
Scope = int | Literal["all"] | None  # a lender's id, every lender, or None: no lender (nothing visible)

_current: ContextVar[Scope] = ContextVar("commlog_lender_scope", default=None)


def current_lender() -> Scope:
    """The scope this context's transactions begin with: a lender's id, ALL_LENDERS, or None (no
    scope declared: on PostgreSQL they see and write no lender-owned row)."""
    return _current.get()


def _checked(scope: Scope) -> Scope:
    if scope is None or scope == ALL_LENDERS:
        return scope
    if isinstance(scope, (str, bool)):
        raise ValueError(f"a lender scope is a lender's id, {ALL_LENDERS!r} or None, not {scope!r}")
    return int(scope)


def set_current_lender(scope: Scope) -> Token:
    """Limit this context (a Streamlit script run, a thread) to one lender, every lender
    (ALL_LENDERS), or none (None)."""
    return _current.set(_checked(scope))


@contextmanager
def lender_scope(scope: Scope) -> Iterator[None]:
    """Transactions begun inside the block run in `scope` (a lender's id, ALL_LENDERS, or None)."""
    token = set_current_lender(scope)
    try:
        yield
    finally:
        _current.reset(token)


def all_lenders() -> AbstractContextManager[None]:
    """Transactions begun inside the block see every lender: for the platform's own work that opens
    its connections itself (migrations, seeding, the benches). Prefer `unit_of_work.platform_*`."""
    return lender_scope(ALL_LENDERS)


def setting_values(scope: Scope) -> dict[str, str]:
    """What the two settings hold for a scope: {SETTING: the lender's id or '', ALL_SETTING: 'all' or ''}."""
    scope = _checked(scope)
    if scope == ALL_LENDERS:
        return {SETTING: "", ALL_SETTING: ALL_LENDERS}
    return {SETTING: "" if scope is None else str(scope), ALL_SETTING: ""}


SET_SQL = "SELECT set_config(%s, %s, %s), set_config(%s, %s, %s)"  # the driver's paramstyle (commlog.db)


def _set(conn: Connection, scope: Scope) -> None:
    values = setting_values(scope)
    conn.execute(text("SELECT set_config(:n1, :v1, true), set_config(:n2, :v2, true)"),
                 {"n1": SETTING, "v1": values[SETTING], "n2": ALL_SETTING, "v2": values[ALL_SETTING]})


@contextmanager
def unscoped(conn: Connection) -> Iterator[None]:
    """Read across lenders inside a lender-scoped transaction, for aggregates whose result names no
    lender (the Deliverability page's anonymous platform median): declares ALL_LENDERS for the
    block, then restores the transaction's scope.

    Use sparingly and only where the code's output is anonymous: this lifts the database's guard."""
    if not is_postgresql(conn):
        yield
        return
    if not conn.in_transaction():
        conn.begin()  # the transaction the caller's next statement would begin: its scope is set now
    scope = conn.info.get(SCOPE_INFO)
    if scope == ALL_LENDERS:
        yield
        return
    _set(conn, ALL_LENDERS)
    ok = False
    try:
        yield
        ok = True
    finally:
        try:
            _set(conn, scope)
        except Exception:
            if ok:
                raise


NO_LENDER = 0  # no lender has this id: a lender admin without a lender sees nothing, not everything


def principal_scope(principal) -> Scope:
    """The scope a logged-in principal's work runs in: every lender (declared) for ops, else their
    lender (NO_LENDER for a lender admin without one: nothing, never everything)."""
    if principal.is_ops:
        return ALL_LENDERS
    return principal.lender_id if principal.lender_id is not None else NO_LENDER

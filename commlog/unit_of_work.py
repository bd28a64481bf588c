"""A unit of work: one connection for one principal's piece of work, scoped to its lender.

    with reading(engine, principal) as conn:      # reads (no transaction is committed)
        page = fetch_log_page(conn, principal, f)
    with writing(engine, principal) as conn:      # one transaction: committed at the end, or rolled back
        record_events(conn, events, now)
    with platform_writing(engine) as conn:        # the platform itself (webhooks, the command line, seeding)
        ...

The block is one transaction, begun on entry, whose first statement hands the principal's scope
to PostgreSQL's row-level security (`commlog.tenancy`, migration 0010): a lender admin's lender, or
every lender, declared, for ops. On PostgreSQL a query that forgets its lender condition still sees
only that lender's rows, and a transaction begun outside any unit of work sees none at all. Queries scope by lender in SQL as
well; this is the second guard. The scope is applied only while the transaction begins, so it never
outlives the block nor leaks into its caller, on whichever thread runs it (a download's thread, a
check's workers), even when the block holds a `yield` (a streamed export). Do not commit inside a
block: the next transaction would begin without the scope.

`platform_reading` / `platform_writing` declare every lender (`tenancy.ALL_LENDERS`): for work that
belongs to no lender (an event webhook, `sync`, the command line, the demo seed, login's reads).
Use them only there.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, RootTransaction

from commlog import tenancy
from commlog.principal import Principal


@contextmanager
def reading(engine: Engine, principal: Principal) -> Iterator[Connection]:
    """A connection for the principal's reads (its transaction is rolled back at the end)."""
    with engine.connect() as conn:
        _begin(conn, tenancy.principal_scope(principal))
        yield conn


@contextmanager
def writing(engine: Engine, principal: Principal) -> Iterator[Connection]:
    """A connection in one transaction for the principal's writes: committed at the end, rolled
    back on an exception."""
    with engine.connect() as conn:
        transaction = _begin(conn, tenancy.principal_scope(principal))
        with transaction:
            yield conn


@contextmanager
def platform_reading(engine: Engine) -> Iterator[Connection]:
    """Reads across every lender (declared), for the platform's own work."""
    with engine.connect() as conn:
        _begin(conn, tenancy.ALL_LENDERS)
        yield conn


@contextmanager
def platform_writing(engine: Engine) -> Iterator[Connection]:
    """One transaction across every lender (declared), for the platform's own work."""
    with engine.connect() as conn:
        transaction = _begin(conn, tenancy.ALL_LENDERS)
        with transaction:
            yield conn


def _begin(conn: Connection, scope: tenancy.Scope) -> RootTransaction:
    with tenancy.lender_scope(scope):  # read by the "begin" hook (commlog.db) as the transaction starts
        return conn.begin()

"""A unit of work: one connection for one principal's piece of work, scoped to its lender.

    with reading(engine, principal) as conn:      # reads (no transaction is committed)
        page = fetch_log_page(conn, principal, f)
    with writing(engine, principal) as conn:      # one transaction: committed at the end, or rolled back
        record_events(conn, events, now)
    with platform_writing(engine) as conn:        # the platform itself (webhooks, the command line, seeding)
        ...

Every transaction such a connection begins carries the principal's lender to PostgreSQL's
row-level security (`commlog.tenancy`, migration 0003): on PostgreSQL a query that forgets its
lender condition still sees only that lender's rows. Queries scope by lender in SQL as well; this
is the second guard. The scope is set for the block and restored after it, on whichever thread runs
it (a download's thread, a check's workers), so nothing is left behind for the next piece of work.

`platform_reading` / `platform_writing` are unscoped: for work that belongs to no lender (an event
webhook, `sync`, migrations, the demo seed, the anonymous platform median). Use them only there.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine

from commlog import tenancy
from commlog.principal import Principal


@contextmanager
def reading(engine: Engine, principal: Principal) -> Iterator[Connection]:
    """A connection for the principal's reads."""
    with tenancy.lender_scope(tenancy.principal_scope(principal)), engine.connect() as conn:
        yield conn


@contextmanager
def writing(engine: Engine, principal: Principal) -> Iterator[Connection]:
    """A connection in one transaction for the principal's writes (and the reads among them)."""
    with tenancy.lender_scope(tenancy.principal_scope(principal)), engine.begin() as conn:
        yield conn


@contextmanager
def platform_reading(engine: Engine) -> Iterator[Connection]:
    """Unscoped reads, for the platform's own work."""
    with tenancy.lender_scope(None), engine.connect() as conn:
        yield conn


@contextmanager
def platform_writing(engine: Engine) -> Iterator[Connection]:
    """One unscoped transaction, for the platform's own work."""
    with tenancy.lender_scope(None), engine.begin() as conn:
        yield conn

"""Engine construction, and which database this is. One engine per process and URL; no Streamlit here.

The one place that asks which database a bind is: `is_sqlite` / `is_postgresql` (an engine, a
connection, a dialect or a URL), `insert_for` (the INSERT with this database's ON CONFLICT),
`one_of` (a batch's values as one array parameter on PostgreSQL; `values_per_query` of them) and `rows_of` (a batch of rows as
one unnest of arrays, PostgreSQL only).
Everything else asks them; SQLAlchemy's own per-dialect hooks (`@compiles(..., "postgresql")`) stay
where they are.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import BigInteger, Column, Connection, Engine, Integer, String, Table, any_, bindparam, create_engine, event, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.exc import ArgumentError

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql, sqlite

Bind = Engine | Connection | Dialect | URL | str
T = TypeVar("T")


def make_engine(url: str, **kwargs) -> Engine:
    # Bound values (addresses, names) stay out of error messages and so out of every log line.
    kwargs.setdefault("hide_parameters", True)
    sa_url = make_url(url)
    if is_sqlite(sa_url):
        if sa_url.database and sa_url.database != ":memory:":
            from pathlib import Path

            Path(sa_url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            # WAL: readers (the page) never wait for writers (checks, webhooks).
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    if is_postgresql(sa_url):
        kwargs["connect_args"] = _in_utc(sa_url, kwargs.get("connect_args") or {})
    engine = create_engine(url, **kwargs)
    if is_postgresql(engine):
        event.listen(engine, "begin", _set_lender_scope)
        event.listen(engine, "connect", _lists_in_binary)
    return engine


def _in_utc(url: URL, connect_args: dict) -> dict:
    """Sessions in UTC whatever the server's own time zone: psycopg then hands back times with
    datetime.UTC itself, which models.UTCDateTime passes on as they are. Added to the options the
    caller gave (`connect_args`, else the URL's `?options=`, such as a search path), never in
    their place."""
    given = connect_args.get("options", url.query.get("options", ""))
    if not isinstance(given, str) or "timezone" in given.lower():
        return connect_args
    return {**connect_args, "options": f"{given} -c TimeZone=UTC".strip()}


def _lists_in_binary(dbapi_conn, _record) -> None:
    """psycopg sends Python lists (the batch arrays of `one_of` and `rows_of`) in its binary format:
    the text format quotes each string after a regular expression's test, a sixth of the client's
    time for a webhook batch (commlog.bench.webhooks)."""
    from psycopg.types.array import ListBinaryDumper

    adapters = getattr(dbapi_conn, "adapters", None)  # psycopg 3's connection; other drivers keep their way
    if adapters is not None:
        adapters.register_dumper(list, ListBinaryDumper)


def _set_lender_scope(conn) -> None:
    """Row-level security (migrations 0003, 0010): the transaction's first statement names its scope
    (commlog.tenancy's two settings: a lender's id, or every lender, or neither, which sees nothing),
    local to the transaction, on the same DBAPI connection and therefore inside the transaction its
    queries run in. In autocommit mode there is no
    transaction to be local to: the setting is made for the session instead, and since every begin
    sets it again, it never leaks into the connection's next use."""
    from commlog.tenancy import ALL_SETTING, SCOPE_INFO, SET_SQL, SETTING, current_lender, setting_values

    dbapi_conn = conn.connection.dbapi_connection
    local = not getattr(dbapi_conn, "autocommit", False)
    scope = current_lender()
    values = setting_values(scope)
    cur = dbapi_conn.cursor()
    try:
        cur.execute(SET_SQL, (SETTING, values[SETTING], local, ALL_SETTING, values[ALL_SETTING], local))
    finally:
        cur.close()
    conn.info[SCOPE_INFO] = scope  # the transaction's scope, for tenancy.unscoped to restore


def backend(bind: Bind) -> str:
    """The database's name ("sqlite", "postgresql"): of an engine, a connection, a dialect (as a
    type's bind processor gets it) or a URL (text; "" when it is not one)."""
    if isinstance(bind, (Engine, Connection)):
        return bind.dialect.name
    if isinstance(bind, Dialect):
        return bind.name
    try:
        return make_url(bind).get_backend_name()
    except (ArgumentError, ValueError):
        return ""


def is_sqlite(bind: Bind) -> bool:
    """SQLite (the embedded default)?"""
    return backend(bind) == "sqlite"


def is_postgresql(bind: Bind) -> bool:
    return backend(bind) == "postgresql"


def insert_for(bind: Engine | Connection | Dialect, table: Table | type) -> postgresql.Insert | sqlite.Insert:
    """INSERT into `table` (a Table or a mapped class) with this database's `on_conflict_do_nothing`
    / `on_conflict_do_update` (PostgreSQL's and SQLite's take the same arguments)."""
    from sqlalchemy.dialects import postgresql, sqlite

    return (postgresql if is_postgresql(bind) else sqlite).insert(table)


_SQLITE_VALUES_PER_QUERY = 500  # SQLite binds each value of a list; its variable limit bounds the list
_PG_VALUES_PER_QUERY = 10_000  # PostgreSQL: the values are one array parameter


def values_per_query(bind: Bind) -> int:
    """How many values one `one_of` takes: on PostgreSQL a batch's values go in one query."""
    return _PG_VALUES_PER_QUERY if is_postgresql(bind) else _SQLITE_VALUES_PER_QUERY


def one_of(bind: Bind, column, values: Sequence):
    """`column IN (values)`; on PostgreSQL `column = ANY(:array)`: one parameter instead of hundreds,
    which psycopg and the planner handle some 50 times faster for batch-sized lists, and one
    statement text whatever the number of values, which psycopg prepares once per connection."""
    if is_postgresql(bind):
        return column == any_(bindparam(None, list(values), type_=_array_of(column)))
    return column.in_(values)


def per_backend(build: Callable[..., T]) -> Callable[..., T]:
    """`build(dialect, *args)` once for each kind of database (SQLite, PostgreSQL) and `args`, then
    the same one: for statements built once and given their values at each run. Building a statement
    and hashing it to find it in SQLAlchemy's compiled cache takes longer than a small batch's query
    takes to run. `args` say which statement (names, tables, flags): hashable, never SQL expressions,
    whose `==` makes SQL."""
    made: dict[tuple, T] = {}

    @functools.wraps(build)
    def get(bind: Engine | Connection, *args) -> T:
        dialect = bind.dialect
        key = (dialect.name, *args)
        if key not in made:
            made[key] = build(dialect, *args)
        return made[key]

    return get


def any_of(bind: Bind, column, name: str):
    """As `one_of`, with the values given when the statement runs, as the list parameter `name`:
    a statement made with it holds no values, so it can be built once and run for every batch."""
    if is_postgresql(bind):
        return column == any_(bindparam(name, type_=_array_of(column)))
    return column.in_(bindparam(name, expanding=True))


def _array_of(column) -> ARRAY:
    return ARRAY(BigInteger() if isinstance(column.type, (Integer, BigInteger)) else String())


def rows_of(name: str, columns: Sequence[Column]):
    """PostgreSQL: a batch of rows as a table `name`, made by one `unnest` of one array per column,
    the arrays given when the statement runs (`row_arrays`). A batch's INSERT ... SELECT or UPDATE
    ... FROM then takes a few array parameters instead of a parameter set per row, and keeps one
    text (prepared once) whatever the batch's size, so the statement can be built once. Each array
    has its column's type, so its values are bound as the column's are."""
    arrays = [bindparam(f"{name}_{c.key}", type_=ARRAY(c.type)) for c in columns]
    return func.unnest(*arrays).table_valued(*(c.key for c in columns)).render_derived(name=name)


def row_arrays(
    name: str, columns: Sequence[Column], rows: Sequence[Mapping], renamed: Mapping[str, str] | None = None
) -> dict[str, list]:
    """The parameters of `rows_of(name, columns)` for `rows` (dicts keyed by the columns' keys, or by
    `renamed[key]` where the rows spell a column's key otherwise)."""
    renamed = renamed or {}
    return column_arrays(name, columns, {c.key: [r[renamed.get(c.key, c.key)] for r in rows] for c in columns})


def column_arrays(name: str, columns: Sequence[Column], arrays: Mapping[str, Sequence]) -> dict[str, Sequence]:
    """The parameters of `rows_of(name, columns)` from one sequence of values per column's key, for a
    batch already held column by column."""
    return {f"{name}_{c.key}": arrays[c.key] for c in columns}

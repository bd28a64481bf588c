"""Engine construction. One engine per process and URL; no Streamlit here."""

from __future__ import annotations

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url


def make_engine(url: str, **kwargs) -> Engine:
    # Bound values (addresses, names) stay out of error messages and so out of every log line.
    kwargs.setdefault("hide_parameters", True)
    sa_url = make_url(url)
    if sa_url.get_backend_name() == "sqlite":
        if sa_url.database and sa_url.database != ":memory:":
            from pathlib import Path

            Path(sa_url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # noqa: ANN001
            cur = dbapi_conn.cursor()
            # WAL: readers (the page) never wait for writers (checks, webhooks).
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "postgresql":
        event.listen(engine, "begin", _set_lender_scope)
    return engine


def _set_lender_scope(conn) -> None:  # noqa: ANN001 - a Connection, at the start of each transaction
    """Row-level security (migration 0003): the transaction's first statement names its lender
    (commlog.tenancy's scope; '' = unscoped), local to the transaction, on the same DBAPI connection
    and therefore inside the transaction its queries run in. In autocommit mode there is no
    transaction to be local to: the setting is made for the session instead, and since every begin
    sets it again, it never leaks into the connection's next use."""
    from commlog.tenancy import SCOPE_INFO, SETTING, current_lender, setting_value

    dbapi_conn = conn.connection.dbapi_connection
    local = not getattr(dbapi_conn, "autocommit", False)
    scope = current_lender()
    cur = dbapi_conn.cursor()
    try:
        cur.execute("SELECT set_config(%s, %s, %s)", (SETTING, setting_value(scope), local))
    finally:
        cur.close()
    conn.info[SCOPE_INFO] = scope  # the transaction's scope, for tenancy.unscoped to restore


def is_sqlite(bind: Engine | Connection) -> bool:
    """SQLite (the embedded default)? The one place that asks which database this is."""
    return bind.dialect.name == "sqlite"


def is_postgresql(bind: Engine | Connection) -> bool:
    return bind.dialect.name == "postgresql"

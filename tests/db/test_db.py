"""commlog.db: the one place that asks which database a bind is."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import StatementError

from commlog.db import backend, insert_for, is_postgresql, is_sqlite, make_engine
from commlog.models import Lender
from tests.support import factories as f

ROOT = Path(__file__).resolve().parents[2]


def test_backend_of_an_engine_a_connection_a_dialect_and_a_url(engine):
    name = "postgresql" if engine.url.get_backend_name() == "postgresql" else "sqlite"
    with engine.connect() as conn:
        binds = (engine, conn, engine.dialect, engine.url, engine.url.render_as_string(hide_password=False))
        assert [backend(b) for b in binds] == [name] * 5
    assert is_postgresql(engine) == (name == "postgresql") and is_sqlite(engine) == (name == "sqlite")


def test_backend_of_urls():
    assert is_postgresql("postgresql+psycopg://u:pw@h:5432/d") and not is_sqlite("postgresql://h/d")
    assert is_sqlite("sqlite:///data/commlog.sqlite3") and is_sqlite(make_url("sqlite://"))
    assert backend("not a url") == "" and not is_postgresql("postgresql://u:pw@h:port/d")  # a port that is no number


def test_insert_for_upserts_on_both_databases(engine, now):
    with engine.begin() as conn:
        f.lender(conn, "lender-a", "Alpha Lending")
        row = {"slug": "lender-a", "name": "Renamed", "created_at": now}
        conn.execute(insert_for(conn, Lender).on_conflict_do_nothing(index_elements=["slug"]), [row])
        assert conn.execute(select(Lender.name).where(Lender.slug == "lender-a")).scalar_one() == "Alpha Lending"
        stmt = insert_for(conn, Lender.__table__)
        conn.execute(stmt.on_conflict_do_update(index_elements=["slug"], set_={"name": stmt.excluded.name}), [row])
        assert conn.execute(select(Lender.name).where(Lender.slug == "lender-a")).scalar_one() == "Renamed"


def test_no_module_asks_the_dialect_itself():
    """Dialect checks go through commlog.db (SQLAlchemy's @compiles hooks are its own mechanism)."""
    asks = re.compile(r"dialect\.name|get_backend_name\(|\.startswith\(\s*[\"']postgres|\.startswith\(\s*[\"']sqlite")
    offenders = []
    for path in sorted([*ROOT.glob("commlog/**/*.py"), *ROOT.glob("pages/*.py"), *ROOT.glob("tests/**/*.py"),
                        ROOT / "app.py", ROOT / "launcher.py"]):
        rel = path.relative_to(ROOT).as_posix()
        if rel in ("commlog/db.py", "tests/db/test_db.py"):
            continue
        offenders += [f"{rel}:{n}" for n, line in enumerate(path.read_text().splitlines(), 1) if asks.search(line)]
    assert offenders == []


def test_a_postgresql_session_is_in_utc_and_keeps_the_options_it_was_given(pg_database_url):
    """The session's time zone is UTC whatever the server's, added to the options of the URL or of
    connect_args (a search path, as the tests' own schemas and the CLI given their URL use), never
    in their place; times come back as datetime.UTC."""
    in_url = make_url(pg_database_url).update_query_dict({"options": "-csearch_path=commlog_from_url"})
    for eng, path in ((make_engine(in_url.render_as_string(hide_password=False)), "commlog_from_url"),
                      (make_engine(pg_database_url, connect_args={"options": "-csearch_path=commlog_from_args"}), "commlog_from_args")):
        with eng.connect() as conn:
            assert conn.execute(text("SHOW search_path")).scalar_one() == path
            assert conn.execute(text("SHOW TimeZone")).scalar_one() == "UTC"
            assert conn.execute(text("SELECT now()")).scalar_one().tzinfo is UTC
        eng.dispose()


def test_a_statement_built_once_takes_each_batchs_values(engine, now):
    """`per_backend` builds a statement once for each kind of database; `any_of` leaves its list
    to each run: every run finds the rows of its own list, also of one value or of none."""
    from commlog.db import any_of, per_backend

    with engine.begin() as conn:
        ids = {slug: f.lender(conn, slug, slug.title()) for slug in ("alpha", "beta", "gamma")}
    built: list[str] = []

    @per_backend
    def by_ids(dialect):
        built.append(backend(dialect))
        return select(Lender.slug).where(any_of(dialect, Lender.id, "ids")).order_by(Lender.slug)

    with engine.connect() as conn:
        found = [list(conn.execute(by_ids(conn), {"ids": batch}).scalars())
                 for batch in ([ids["alpha"], ids["gamma"]], [ids["beta"]], [], [ids["beta"], 10**12])]
    assert found == [["alpha", "gamma"], ["beta"], [], ["beta"]]
    assert built == [backend(engine)]  # once, for every batch


def test_times_are_stored_and_read_as_utc_whatever_zone_they_are_given_in(engine):
    """models.UTCDateTime, on both databases: an aware time in any zone is stored as its UTC instant,
    read back aware in UTC, and found by a comparison in another zone; a naive time is refused and
    nothing is stored."""
    new_york = datetime(2026, 11, 30, 19, 30, tzinfo=ZoneInfo("America/New_York"))
    with engine.begin() as c:
        c.execute(insert(Lender).values(slug="ny", name="New York Lending", created_at=new_york))
    with engine.connect() as c:
        stored = c.execute(select(Lender.created_at).where(Lender.slug == "ny")).scalar_one()
        found = c.execute(select(Lender.slug).where(Lender.created_at == new_york.astimezone(ZoneInfo("Asia/Tokyo")))).all()
    assert stored == datetime(2026, 12, 1, 0, 30, tzinfo=UTC) and stored.tzinfo is UTC
    assert found == [("ny",)]

    with pytest.raises(StatementError, match="naive datetime"):
        with engine.begin() as c:
            c.execute(insert(Lender).values(slug="naive", name="Naive Lending", created_at=datetime(2026, 11, 30, 19, 30)))
    with engine.connect() as c:
        assert c.execute(select(Lender.slug).where(Lender.slug == "naive")).all() == []

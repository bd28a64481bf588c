"""Tenancy enforced by PostgreSQL too (migrations 0003 and 0010, commlog.tenancy, commlog.db).

PostgreSQL only: SQLite has no row-level security, so every test here uses the PostgreSQL fixtures
and skips with the server's reason when none answers. The app's role is created per test: a login
that is neither superuser nor owner nor BYPASSRLS, with SELECT/INSERT/UPDATE/DELETE on the test's
schema only, exactly what the README tells operators to create.

A transaction sees a lender's rows when it declares that lender, every lender's when it declares
'all' (ops, the platform's own work), and none when it declares nothing: it fails closed.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import streamlit as st
from sqlalchemy import Engine, create_engine, delete, func, insert, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from commlog import audit, partitions, rollups
from commlog import deliverability as D
from commlog import log_queries as Q
from commlog.db import make_engine
from commlog.models import AuditEntry, Base, Message, SuppressionRemoval, UnmatchedEvent
from commlog.principal import Principal, Role
from commlog.tenancy import (
    ALL_LENDERS,
    NO_LENDER,
    all_lenders,
    current_lender,
    lender_scope,
    principal_scope,
    unscoped,
)
from commlog.troubleshoot import evidence as troubleshoot_evidence
from tests.support import factories as f
from tests.support.app import build_two_lenders, buttons
from tests.support.factories import log_query

SETTING_SQL = "SELECT current_setting('commlog.lender_id', true)"
BOTH_SQL = "SELECT current_setting('commlog.lender_id', true), current_setting('commlog.scope', true)"

# Every table the app reads or writes lender data in; the coverage test below finds new ones itself.
LENDER_TABLES = ("lender", "account", "app_user", "message", "delivery_event", "audit_entry",
                 "daily_rollup", "lender_day_rollup", "domain_rollup")


def _schema(engine: Engine) -> str:
    with engine.connect() as conn:
        return conn.execute(text("SELECT current_schema()")).scalar_one()


@pytest.fixture
def app_url(pg_database_url, pg_engine):
    """The URL of a fresh non-owner role for the test's (already migrated) schema."""
    role = f"commlog_app_{uuid.uuid4().hex[:10]}"
    schema = _schema(pg_engine)
    db = make_url(pg_database_url).database
    admin = create_engine(pg_database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE ROLE "{role}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS'))
        c.execute(text(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"'))
        c.execute(text(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"'))
        c.execute(text(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA "{schema}" TO "{role}"'))
        c.execute(text(f'ALTER ROLE "{role}" IN DATABASE "{db}" SET search_path = "{schema}"'))
    try:
        yield make_url(pg_database_url).set(username=role).render_as_string(hide_password=False)
    finally:
        st.cache_resource.clear()  # engines the app cached for this URL
        with admin.connect() as c:
            c.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :r"), {"r": role})
            c.execute(text(f'DROP OWNED BY "{role}"'))
            c.execute(text(f'ALTER ROLE "{role}" IN DATABASE "{db}" RESET ALL'))
            c.execute(text(f'DROP ROLE "{role}"'))
        admin.dispose()


@pytest.fixture
def app_engine(app_url):
    eng = make_engine(app_url)
    with eng.connect() as conn:  # it really is a role the policies apply to
        row = conn.execute(text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")).one()
        assert tuple(row) == (False, False)
        assert conn.execute(text("SELECT tableowner FROM pg_tables WHERE tablename = 'message' AND schemaname = current_schema()")).scalar() != conn.execute(text("SELECT current_user")).scalar()
    yield eng
    eng.dispose()


@pytest.fixture
def world(pg_engine):
    """Lenders A and B with accounts, messages, events, users, audit entries, rollups, suppression
    removal requests and an unmatched event; written by the owner (migrations' role), unscoped."""
    w = build_two_lenders(pg_engine)
    now = datetime.now(UTC)
    ops = Principal(w["users"]["ops"], "ops@commlog.example", Role.OPS, None)
    with pg_engine.begin() as c:
        audit.record(c, ops, "export", at=now, lender_id=w["a"], row_count=1)
        audit.record(c, ops, "export", at=now, lender_id=w["b"], row_count=2)
        audit.record(c, ops, "export", at=now, lender_id=None, row_count=3)
        rollups.rebuild_rollups(c)
        c.execute(insert(UnmatchedEvent).values(provider="sendgrid", provider_event_id="ev-unknown-1",
                                                provider_message_id="nobody-knows", recipient_email="x@bravo.example",
                                                payload="{}", received_at=now))
        for lender, address, user in ((w["a"], "bob.ng@outlook.com", "admin_a"), (w["b"], "zed.zulu@bravo-borrower.example", "admin_b")):
            c.execute(insert(SuppressionRemoval).values(
                lender_id=lender, address=address, provider="sendgrid", list_key="bounces", list_label="bounces",
                reason="corrected_mailbox", requested_by_user_id=w["users"][user], requested_by=f"{user}@x.example",
                requested_at=now, state="requested", attempts=0))
    w["admin_a"] = Principal(w["users"]["admin_a"], "admin@alpha.example", Role.LENDER_ADMIN, w["a"])
    w["ops"] = ops
    return w


def _lenders_seen(conn, table: str) -> set:
    col = "id" if table == "lender" else "lender_id"
    return set(conn.execute(text(f"SELECT DISTINCT {col} FROM {table}")).scalars())  # no WHERE, on purpose


# --- the setting reaches the transaction ----------------------------------------------------------


def test_scope_is_set_local_in_the_transaction_its_queries_run_in(pg_engine):
    assert current_lender() is None
    with lender_scope(42):
        assert current_lender() == 42
        with pg_engine.connect() as conn:  # autobegin
            assert conn.execute(text(SETTING_SQL)).scalar() == "42"
            conn.commit()
            assert conn.execute(text(SETTING_SQL)).scalar() == "42"  # the next transaction: set again
            conn.rollback()
        with pg_engine.begin() as conn:
            assert conn.execute(text(SETTING_SQL)).scalar() == "42"
    assert current_lender() is None
    with pg_engine.connect() as conn:  # the same pooled connection, now without a scope
        assert conn.execute(text(SETTING_SQL)).scalar() == ""
    with all_lenders(), pg_engine.connect() as conn:
        assert tuple(conn.execute(text(BOTH_SQL)).one()) == ("", "all")
    with pg_engine.connect() as conn:
        assert tuple(conn.execute(text(BOTH_SQL)).one()) == ("", "")
    with lender_scope(7):
        with pg_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            assert conn.execute(text(SETTING_SQL)).scalar() == "7"  # autocommit: set for the session
    with all_lenders():
        with pg_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            assert tuple(conn.execute(text(BOTH_SQL)).one()) == ("", "all")
    with pg_engine.connect() as conn:
        assert tuple(conn.execute(text(BOTH_SQL)).one()) == ("", "")  # and never leaks into the next use


def test_scope_of_a_principal():
    assert principal_scope(Principal(1, "o@x", Role.OPS, None)) == ALL_LENDERS  # declared, never by omission
    assert principal_scope(Principal(2, "a@x", Role.LENDER_ADMIN, 5)) == 5
    assert principal_scope(Principal(3, "a@x", Role.LENDER_ADMIN, None)) == NO_LENDER  # nothing, not everything


# --- the policies -----------------------------------------------------------------------------------


def test_every_lender_owned_table_has_row_level_security(pg_engine):
    """Fails for a new table with a lender_id column (or the lender table) without a policy."""
    owned = {t.name for t in Base.metadata.sorted_tables if "lender_id" in t.c} | {"lender"}
    assert set(LENDER_TABLES) <= owned
    with pg_engine.connect() as conn:
        flags = {r.relname: (r.relrowsecurity, r.relforcerowsecurity) for r in conn.execute(text(
            "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')"))}
        policies = {r.tablename: r for r in conn.execute(text(
            "SELECT tablename, cmd, qual, with_check FROM pg_policies WHERE schemaname = current_schema() "
            "AND policyname = 'commlog_lender_scope'"))}
        # PostgreSQL's monthly partitions (commlog.partitions): each is a table of its own for RLS
        parts = set(conn.execute(text("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                                      "WHERE n.nspname = current_schema() AND c.relispartition AND c.relkind = 'r'")).scalars())
    assert {"message_default", "delivery_event_default"} <= parts
    for table in sorted(owned | {"unmatched_event"} | parts):
        assert flags.get(table) == (True, True), f"{table}: row-level security not enabled and forced"
        assert table in policies, f"{table}: no row-level security policy (add one in a migration)"
        p = policies[table]
        assert p.cmd == "ALL" and p.with_check == p.qual, f"{table}: {p}"
        assert "commlog.scope" in p.qual and ("commlog.lender_id" in p.qual or table == "unmatched_event"), f"{table}: {p}"


def test_a_lender_scoped_query_without_where_sees_only_its_lender(app_engine, world):
    a = world["a"]
    with lender_scope(a), app_engine.connect() as conn:
        for table in LENDER_TABLES:
            assert _lenders_seen(conn, table) == {a}, table
        assert conn.execute(select(func.count()).select_from(Message)).scalar_one() == 4  # of 5
        assert not conn.execute(text("SELECT 1 FROM app_user WHERE role = 'ops'")).first()  # ops users: nobody's
        assert conn.execute(text("SELECT count(*) FROM audit_entry WHERE lender_id IS NULL")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM unmatched_event")).scalar() == 0  # no lender: unscoped only
        # a join that forgets the lender on one side still cannot reach the other's rows
        assert "Bravo secret subject" not in conn.execute(text(
            "SELECT string_agg(m.subject, '|') FROM delivery_event e JOIN message m ON m.id = e.message_id")).scalar()
        # the transaction cannot widen its own scope by accident: the setting is the transaction's
        assert conn.execute(text(SETTING_SQL)).scalar() == str(a)


def test_a_months_partition_read_by_name_shows_only_the_scoped_lenders_rows(app_engine, world, pg_engine):
    """Row-level security applies to the table a query names: each partition has the policies too."""
    a, b = world["a"], world["b"]
    # The month of lender B's email (3 hours ago), which always holds A's of 1 and 5 hours ago too;
    # early on the 1st that is last month, which a database migrated today has not made: made here
    # as the app makes a month. The app reads through the table; this test reads the partition by name.
    with pg_engine.begin() as conn:
        sent = conn.execute(text("SELECT max(sent_at) FROM message WHERE lender_id = :b"), {"b": b}).scalar_one()
        for made in partitions.ensure_months(conn, sent, sent):
            conn.execute(text(f'GRANT SELECT ON {made} TO "{app_engine.url.username}"'))
    month = partitions.partition_name("message", partitions.month_of(sent))
    events = partitions.partition_name("delivery_event", partitions.month_of(sent))
    with all_lenders(), app_engine.connect() as conn:
        assert _lenders_seen(conn, month) == {a, b}  # both lenders sent emails that month
    with lender_scope(a), app_engine.connect() as conn:
        assert _lenders_seen(conn, month) == {a}
        assert _lenders_seen(conn, events) <= {a}
        assert "Bravo secret subject" not in (conn.execute(text(f"SELECT string_agg(subject, '|') FROM {month}")).scalar() or "")
    with app_engine.connect() as conn:  # no scope: nothing, through the partition as through the table
        assert conn.execute(text(f"SELECT count(*) FROM {month}")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM message_default")).scalar() == 0


def test_the_declared_all_lenders_scope_sees_every_lender(app_engine, world):
    a, b = world["a"], world["b"]
    with all_lenders(), app_engine.connect() as conn:
        for table in LENDER_TABLES:
            assert _lenders_seen(conn, table) - {None} == {a, b}, table
        assert conn.execute(select(func.count()).select_from(Message)).scalar_one() == 5
        assert conn.execute(text("SELECT count(*) FROM audit_entry WHERE lender_id IS NULL")).scalar() == 1
        assert conn.execute(text("SELECT count(*) FROM unmatched_event")).scalar() == 1


# The lender-owned tables as the models say (a lender_id column, the lender table, unmatched_event).
_LENDER_OWNED = {t.name for t in Base.metadata.sorted_tables if "lender_id" in t.c} | {"lender", "unmatched_event"}


def _secured_tables(conn) -> list[str]:
    """Every table under row-level security: from the models (a lender_id column, the lender table,
    unmatched_event) and from the catalog, so a table added by a later migration is covered too."""
    modelled = _LENDER_OWNED
    in_catalog = set(conn.execute(text(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND c.relrowsecurity AND NOT c.relispartition"
    )).scalars())
    # PostgreSQL's monthly partitions (commlog.partitions) are read through their table here; one
    # read by name: test_a_months_partition_read_by_name_shows_only_the_scoped_lenders_rows
    return sorted(modelled | in_catalog)


def test_a_transaction_without_a_scope_reads_no_row_of_any_lender_owned_table(app_engine, pg_engine, world):
    """Fails closed: a code path that forgets to declare its scope (a new thread, a connection opened
    by hand) sees nothing through the app's role, not every lender."""
    with pg_engine.connect() as owner:  # the test's superuser: outside row-level security
        tables = _secured_tables(owner)
        rows = {t: owner.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in tables}
    assert {"lender", "message", "delivery_event", "audit_entry", "unmatched_event"} <= set(tables)
    assert all(rows.values()), f"the world must hold rows in every table, or 0 proves nothing: {rows}"
    assert current_lender() is None
    with app_engine.connect() as conn:
        assert tuple(conn.execute(text(BOTH_SQL)).one()) == ("", "")
        seen = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in tables}  # no WHERE
    assert seen == dict.fromkeys(tables, 0)
    with all_lenders(), app_engine.connect() as conn:  # the same role, declaring every lender
        assert {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in tables} == rows


@pytest.mark.parametrize(("setting", "value"), [
    *(("commlog.lender_id", v) for v in ("", "all", "ALL", "*", "-1", "1 OR true", "1.0", " 1", "99999999999999999999")),
    *(("commlog.scope", v) for v in ("", "ALL", "All", " all", "true", "on", "1", "platform")),
])
def test_a_setting_that_is_not_a_lender_id_or_all_sees_nothing(app_engine, world, setting, value):
    with app_engine.connect() as conn:
        conn.execute(text("SELECT set_config(:s, :v, true)"), {"s": setting, "v": value})
        assert conn.execute(text("SELECT count(*) FROM message")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM unmatched_event")).scalar() == 0


def test_a_transaction_without_a_scope_cannot_insert_update_or_delete_any_lender_owned_row(app_engine, pg_engine, world):
    with pg_engine.connect() as owner:
        tables = _secured_tables(owner)
        samples = {}
        for name in tables:
            table = Base.metadata.tables[name]
            row = dict(owner.execute(select(table).limit(1)).mappings().one())
            if "id" in table.c and table.c.id.autoincrement is not False and table.c.id.primary_key:
                row.pop("id")  # a new row, numbered by the sequence (the role may use it)
            samples[name] = (table, row)
    for table, row in samples.values():
        with pytest.raises(DBAPIError, match="row-level security"), app_engine.begin() as conn:
            conn.execute(insert(table).values(**row))
    with app_engine.begin() as conn:
        for name, (table, _row) in samples.items():
            first = next(c for c in table.c if not c.primary_key)
            assert conn.execute(update(table).values({first.name: first})).rowcount == 0, name  # no WHERE
            assert conn.execute(delete(table)).rowcount == 0, name
    with pg_engine.connect() as owner:
        assert {t: owner.execute(text(f"SELECT count(*) FROM {t}")).scalar() > 0 for t in tables} == dict.fromkeys(tables, True)


def test_the_migration_back_restores_the_old_policies_and_forward_closes_them_again(app_engine, pg_engine, world):
    from alembic.script import ScriptDirectory

    from commlog.migrate import alembic_config, current_revision, downgrade, upgrade

    before = ScriptDirectory.from_config(alembic_config(None)).get_revision("0010").down_revision
    downgrade(pg_engine, before)
    assert current_revision(pg_engine) == before
    with app_engine.connect() as conn:  # migration 0003's policies: an empty scope saw every lender
        assert _lenders_seen(conn, "message") == {world["a"], world["b"]}
    upgrade(pg_engine)
    with app_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM message")).scalar() == 0
    with lender_scope(world["a"]), app_engine.connect() as conn:
        assert _lenders_seen(conn, "message") == {world["a"]}


def test_a_lender_scoped_transaction_cannot_write_another_lenders_rows(app_engine, world):
    a, b, foreign = world["a"], world["b"], world["ids"]["foreign"]
    now = datetime.now(UTC)
    with lender_scope(a):
        with pytest.raises(DBAPIError, match="row-level security"), app_engine.begin() as conn:
            f.message(conn, b, "someone@bravo.example")
        with pytest.raises(DBAPIError, match="row-level security"), app_engine.begin() as conn:
            conn.execute(insert(AuditEntry).values(at=now, user_email="x", role="ops", lender_id=None, action="export"))
        with pytest.raises(DBAPIError, match="row-level security"), app_engine.begin() as conn:
            conn.execute(update(Message).where(Message.id == world["ids"]["confirm_ana"]).values(lender_id=b))  # move out
        with pytest.raises(DBAPIError, match="row-level security"), app_engine.begin() as conn:
            conn.execute(insert(UnmatchedEvent).values(provider="sendgrid", provider_event_id="ev-x", payload="{}", received_at=now))
        with app_engine.begin() as conn:  # the other lender's rows are not there to change
            assert conn.execute(update(Message).where(Message.id == foreign).values(subject="pwned")).rowcount == 0
            assert conn.execute(update(Message).values(status_reason="touched")).rowcount == 4  # no WHERE: own rows only
            assert conn.execute(delete(AuditEntry)).rowcount == 1
            assert conn.execute(text("UPDATE lender SET name = 'x' WHERE id = :b"), {"b": b}).rowcount == 0
            f.message(conn, a, "new@alpha.example")  # its own lender: allowed
    with all_lenders(), app_engine.connect() as conn:
        assert conn.execute(select(Message.subject, Message.status_reason).where(Message.id == foreign)).one() == ("Bravo secret subject", "550 5.1.1 bravo user unknown")
        assert conn.execute(select(func.count()).select_from(AuditEntry)).scalar_one() == 2


def test_a_lender_reads_kept_events_only_for_its_own_recipients_and_writes_none(app_engine, pg_engine, world):
    """unmatched_event has no lender: a lender-scoped transaction reads the still unmatched events
    for addresses its own emails went to (migration 0006), nothing else, and writes none."""
    a, b = world["a"], world["b"]
    now = datetime.now(UTC)
    kept = {"k-ana": ("ana.souza@gmail.com", None), "k-ana-matched": ("ana.souza@gmail.com", now),
            "k-zed": ("zed.zulu@bravo-borrower.example", None)}
    with pg_engine.begin() as c:
        for event_id, (email, matched_at) in kept.items():
            c.execute(insert(UnmatchedEvent).values(provider="sendgrid", provider_event_id=event_id, recipient_email=email,
                                                    payload="{}", received_at=now, matched_at=matched_at))
    seen_sql = text("SELECT provider_event_id FROM unmatched_event")  # no WHERE, on purpose
    with lender_scope(a), app_engine.connect() as conn:
        assert set(conn.execute(seen_sql).scalars()) == {"k-ana"}
        assert troubleshoot_evidence.unmatched_reports(conn, b, "zed.zulu@bravo-borrower.example") == ()  # B's, named
        assert len(troubleshoot_evidence.unmatched_reports(conn, a, "ana.souza@gmail.com")) == 1
        assert conn.execute(update(UnmatchedEvent).values(matched_at=now)).rowcount == 0
        assert conn.execute(delete(UnmatchedEvent)).rowcount == 0
    with lender_scope(b), app_engine.connect() as conn:
        assert set(conn.execute(seen_sql).scalars()) == {"k-zed"}
    with all_lenders(), app_engine.connect() as conn:  # every lender: every kept event, none changed
        assert set(conn.execute(seen_sql).scalars()) == {*kept, "ev-unknown-1"}
        assert conn.execute(select(func.count()).select_from(UnmatchedEvent).where(UnmatchedEvent.matched_at.is_(None))).scalar_one() == 3


def test_unscoped_helper_reads_across_lenders_then_restores_the_scope(app_engine, world):
    a = world["a"]
    with lender_scope(a), app_engine.connect() as conn:
        with unscoped(conn):
            assert _lenders_seen(conn, "message") == {a, world["b"]}
        assert _lenders_seen(conn, "message") == {a}
        assert conn.execute(text(SETTING_SQL)).scalar() == str(a)


def test_a_unit_of_work_carries_the_principals_lender_and_leaves_nothing_behind(app_engine, world):
    from commlog.unit_of_work import platform_reading, reading, writing

    a, b = world["a"], world["b"]
    admin = Principal(1, "admin@alpha.example", Role.LENDER_ADMIN, a)
    ops = Principal(2, "ops@commlog.example", Role.OPS, None)
    with reading(app_engine, admin) as conn:  # no lender condition anywhere: the database keeps to Alpha
        assert _lenders_seen(conn, "message") == {a}
    with writing(app_engine, admin) as conn:
        assert conn.execute(update(Message).values(status_reason="touched")).rowcount == 4  # own rows only
    assert current_lender() is None  # restored after the block
    with reading(app_engine, ops) as conn, platform_reading(app_engine) as platform:
        assert _lenders_seen(conn, "message") == _lenders_seen(platform, "message") == {a, b}
    nowhere = Principal(3, "admin@nowhere.example", Role.LENDER_ADMIN, None)  # a lender admin without a lender
    with reading(app_engine, nowhere) as conn:
        assert _lenders_seen(conn, "message") == set()  # nothing, never everything


# --- the app's own reads, as the non-owner role -----------------------------------------------------


def test_log_queries_return_the_right_rows_under_rls(app_engine, world):
    a, b, admin_a, ops = world["a"], world["b"], world["admin_a"], world["ops"]
    month = dict(since=datetime.now(UTC) - timedelta(days=30), until=datetime.now(UTC) + timedelta(days=1))
    with lender_scope(principal_scope(admin_a)), app_engine.connect() as conn:
        page = Q.fetch_log_page(conn, admin_a, log_query(lender_id=a, **month))
        assert {r["subject"] for r in page.rows} == {"Confirm your new account with Alpha Lending", "Your statement is ready"}
        assert page.total == 3
        assert Q.count_log(conn, admin_a, log_query(lender_id=a, all_logs=True, **month)) == 4
        borrower = Q.fetch_log_page(conn, admin_a, log_query(lender_id=a, account_id=world["ana"], **month))
        assert [r["subject"] for r in borrower.rows] == ["Reset your Alpha Lending password"]
        detail = Q.get_message(conn, admin_a, world["ids"]["bounce_bob"])
        assert detail is not None and detail.lender.name == "Alpha Lending" and [e.event_type for e in detail.events] == ["PROCESSED", "BOUNCE"]
        assert Q.get_message(conn, admin_a, world["ids"]["foreign"]) is None
        assert [x.name for x in Q.search_borrowers(conn, admin_a, a, "ana")] == ["Ana Souza"]
        assert [x.name for x in Q.list_lenders(conn, admin_a)] == ["Alpha Lending"]
        # even an ops principal's query, inside a lender admin's transaction, gets that lender only
        assert [x.name for x in Q.list_lenders(conn, ops)] == ["Alpha Lending"]
        assert Q.count_log(conn, ops, log_query(lender_id=a, **month), span=Q.SPAN_ALL) == 4
    with lender_scope(principal_scope(ops)), app_engine.connect() as conn:  # ops: every lender, declared
        assert [x.name for x in Q.list_lenders(conn, ops)] == ["Alpha Lending", "Bravo Credit"]
        assert Q.count_log(conn, ops, log_query(lender_id=a, **month), span=Q.SPAN_ALL) == 5
        assert Q.fetch_log_page(conn, ops, log_query(lender_id=b, **month)).total == 1


def test_an_export_off_the_script_thread_runs_under_the_principals_lender(app_engine, world, monkeypatch):
    """The download button builds the file on a thread where no script run set the scope; the export
    sets it from the principal. Proof: with the query's own lender WHERE removed (a bug we simulate),
    a lender admin's file still holds only their lender's rows, and the audit entry is written."""
    import threading

    from commlog import export as E

    def forgetful_select(principal, spec, cells=E._CELLS):
        return select(*cells).select_from(E._FROM).where(E.failure_condition(spec.include_deferred))

    def forgetful_copy_select(principal, spec):  # the same bug in the COPY export (PostgreSQL's default)
        return forgetful_select(principal, spec, tuple(func.nullif(c, "") for c in E._CELLS))

    monkeypatch.setattr(E, "export_select", forgetful_select)
    monkeypatch.setattr(E, "export_copy_select", forgetful_copy_select)
    spec = E.FailureExport(log_query(lender_id=world["a"]), span=Q.SPAN_LENDER)
    out: dict = {}

    def download() -> None:  # a fresh thread: a fresh context, no scope set
        out["scope"] = current_lender()
        out["admin"] = E.build_csv(app_engine, world["admin_a"], spec, source="page", file_name="f.csv")
        out["ops"] = E.build_csv(app_engine, world["ops"], spec, source="page", file_name="g.csv")

    t = threading.Thread(target=download)
    t.start()
    t.join()
    assert out["scope"] is None
    assert b"Alpha Lending" in out["admin"] and b"Bravo" not in out["admin"]
    assert b"Bravo Credit" in out["ops"]  # ops: every lender, so the simulated bug shows there
    with all_lenders(), app_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "export")).scalar_one() == 5
    assert current_lender() is None


def test_a_lender_admins_check_against_the_sandbox_works_from_the_checks_worker_threads(app_engine, pg_engine, world):
    """A check asks the provider on worker threads, where no scope is set. The sandbox provider
    answers from the database (one account for every lender, as SendGrid's would be): its reads
    declare every lender, so the bounce and the bounce list are found; the check's own reads and
    writes stay the lender admin's."""
    from commlog import checks
    from commlog.providers.sandbox import SandboxProvider
    from commlog.vocabulary import DeliveryStatus

    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    with pg_engine.begin() as c:
        mid = f.message(c, world["a"], "sam.taylor@gmial.com", sent_at=now - timedelta(hours=3),
                        provider_message_id="SandboxBounce1.recvd-x-1.0")
    sandbox = SandboxProvider(app_engine, now=now, latency=(0, 0), rate_429=0, per_minute=60_000)
    out = checks.check_message(app_engine, world["admin_a"], mid, now=now, client=sandbox)
    assert out.ok and out.status == DeliveryStatus.NOT_DELIVERED and "5.1.10" in out.reason, out.error
    assert out.suppression is not None and out.suppression.suppressed and out.suppression.list_name == "bounces"
    with pg_engine.connect() as owner:
        assert owner.execute(select(Message.delivery_status).where(Message.id == mid)).scalar() == "NOT_DELIVERED"
    assert current_lender() is None


def test_recipient_search_without_its_lender_conditions_still_sees_only_the_lenders_emails(app_engine, pg_engine, world, monkeypatch):
    """"Find emails to…" scopes every query by lender itself. Proof that the database guards it as
    well: with the search's lender conditions removed (a bug we simulate), a lender admin still
    finds only their lender's emails to an address another lender also wrote to."""
    from sqlalchemy import true

    from commlog import recipient_search as RS

    with pg_engine.begin() as c:
        bravo_ana = f.message(c, world["b"], "ana.souza@gmail.com", subject="Bravo secret subject")
    monkeypatch.setattr(RS, "_of_lenders", lambda column, lenders: true())
    monkeypatch.setattr(RS, "_sent_to", lambda conn, pairs, lender_column, email: email.in_({address for _, address in pairs}))
    admin_a = world["admin_a"]
    with lender_scope(principal_scope(admin_a)), app_engine.connect() as conn:
        for typed in ("ana.souza@gmail.com", "souza", "ana.s", "gmail.com"):
            res = RS.find_emails_to(conn, admin_a, typed, lender_id=None)
            assert {r.lender_id for r in res.recipients} == {world["a"]}, typed
            assert {r["lender_id"] for r in res.rows} == {world["a"]} and bravo_ana not in {r["id"] for r in res.rows}, typed
    with lender_scope(principal_scope(world["ops"])), app_engine.connect() as conn:  # ops: every lender, so the simulated bug shows there
        res = RS.find_emails_to(conn, world["ops"], "ana.souza@gmail.com", lender_id=world["a"])
        assert bravo_ana in {r["id"] for r in res.rows}


def test_platform_median_still_reaches_every_lender_for_a_lender_admin(pg_engine, app_url):
    from tests.support.deliverability_world import RECENT, build_health

    with pg_engine.begin() as conn:
        ids = build_health(conn)
    admin = Principal(1, "admin@alpha.example", Role.LENDER_ADMIN, ids["alpha"])
    q = D.MetricsQuery(start=RECENT, end=RECENT, granularity="day")
    eng = make_engine(app_url)
    try:
        with lender_scope(ids["alpha"]), eng.connect() as conn:
            bench = D.platform_median(conn, admin, q, "bounce")
            assert bench.lenders[RECENT] == 6 and bench.values[RECENT] is not None  # an anonymous median
            med, n = D.window_median(conn, admin, q, "bounce")
            assert n == 5 and med is not None
            # and the lender's own figures stay its own
            assert _lenders_seen(conn, "daily_rollup") == {ids["alpha"]}
            assert {k[0] for k in D.family_matrix(conn, admin, D.MetricsQuery(start=RECENT, end=RECENT, lender_id=ids["alpha"]))} == {ids["alpha"]}
    finally:
        eng.dispose()


def test_the_app_runs_as_the_non_owner_role(app_url, world, monkeypatch):
    """Bootstrap (a migrated schema: no DDL needed) and the log page as a lender admin, through the
    login gate that sets the scope."""
    from commlog.bootstrap import ensure_database
    from tests.support.app import app, page_text

    monkeypatch.setenv("COMMLOG_DATABASE_URL", app_url)  # before anything reads the settings (once)
    monkeypatch.setenv("COMMLOG_PROVIDER", "sandbox")
    result = ensure_database(app_url)
    assert result.migrated and not result.seeded
    st.cache_data.clear()
    st.cache_resource.clear()
    try:
        at = app("pages/log.py", user_id=world["users"]["admin_a"]).run()
        assert not at.exception, [e.value for e in at.exception]
        assert set(at.dataframe[0].value["Subject"]) == {"Confirm your new account with Alpha Lending", "Your statement is ready"}
        assert "Bravo" not in page_text(at)
        at = app("pages/log.py", user_id=world["users"]["ops"], params={"lender": str(world["b"])}).run()
        assert not at.exception, [e.value for e in at.exception]
        assert "Bravo secret subject" in set(at.dataframe[0].value["Subject"])
    finally:
        st.cache_data.clear()
        st.cache_resource.clear()
    assert current_lender() is None  # the script's scope stayed in the script's run


@pytest.mark.parametrize("role", ["admin_a", "ops"])
def test_every_page_works_as_the_non_owner_role_under_policies_that_fail_closed(app_url, world, monkeypatch, role):
    """Each page, as a lender admin and as ops, through the real login gate (its user reads declare
    every lender; the run then takes the principal's scope) and the pages' units of work: each shows
    its own lender's rows (ops: every lender's) and no incident. A read that declared nothing (the
    login's, before any scope) would now see no user and leave the sign-in form."""
    from commlog.ui.boundary import MESSAGE as INCIDENT
    from tests.support.app import app, page_text

    monkeypatch.setenv("COMMLOG_DATABASE_URL", app_url)
    monkeypatch.setenv("COMMLOG_PROVIDER", "sandbox")
    bounce = str(world["ids"]["bounce_bob"])
    pages = {"pages/log.py": {}, "pages/message.py": {"id": bounce}, "pages/why.py": {"message": bounce},
             "pages/deliverability.py": {}, "pages/suppressions.py": {}}
    if role == "ops":
        pages["pages/audit.py"] = {}
        pages["pages/log.py"] = {"lender": str(world["b"])}
    user = world["users"][role]
    try:
        for page, params in pages.items():
            at = app(page, user_id=user, params=params).run()
            assert not at.exception, (page, [e.value for e in at.exception])
            shown = page_text(at)
            assert INCIDENT not in shown and "could not" not in shown.lower(), (page, shown[:500])
            if page == "pages/message.py" or page == "pages/why.py":
                assert "bob.ng@outlook.com" in shown, page  # the email was read, not "not found"
            if page == "pages/log.py":
                expected = "Bravo secret subject" if role == "ops" else "Your statement is ready"
                assert expected in set(at.dataframe[0].value["Subject"]), page
            if role == "admin_a":
                assert "Bravo" not in shown, page
    finally:
        st.cache_data.clear()
        st.cache_resource.clear()
    assert current_lender() is None


def test_a_pending_migration_as_the_non_owner_role_says_what_to_do(app_url, pg_engine, world, monkeypatch):
    """The app's login may not change tables: a page after a deploy with a pending migration says
    the database answers and the owner must run init-db (not "not reachable"), and changes nothing."""
    from tests.support.app import app, page_text

    with pg_engine.begin() as c:  # as if 0003 were new in this deploy
        c.execute(text("UPDATE alembic_version SET version_num = '0002'"))
    monkeypatch.setenv("COMMLOG_DATABASE_URL", app_url)
    st.cache_data.clear()
    st.cache_resource.clear()
    try:
        at = app("pages/log.py", user_id=world["users"]["admin_a"]).run()
        assert not at.exception, [e.value for e in at.exception]
        text_ = page_text(at)
        assert "The database answers, but commlog could not prepare it" in text_ and "init-db" in text_
        assert "not reachable" not in text_ and not at.dataframe
    finally:
        st.cache_data.clear()
        st.cache_resource.clear()
    with pg_engine.connect() as c:
        assert c.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0002"


def _scope_probe() -> None:  # an AppTest script: what the login gate leaves for the page's queries
    import streamlit as st
    from sqlalchemy import text

    from commlog.tenancy import current_lender
    from commlog.ui.guard import require_login
    from commlog.ui.resources import ensure_ready

    require_login()
    with ensure_ready().connect() as conn:
        lender, scope = conn.execute(text("SELECT current_setting('commlog.lender_id', true), "
                                          "current_setting('commlog.scope', true)")).one()
    st.text(f"scope={current_lender()} lender_id={lender!r} all={scope!r}")


def test_the_login_gate_sets_the_scope_for_the_run(app_url, world, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("COMMLOG_DATABASE_URL", app_url)
    st.cache_data.clear()
    st.cache_resource.clear()
    try:
        for user, expected in ((world["users"]["admin_a"], f"scope={world['a']} lender_id='{world['a']}' all=''"),
                               (world["users"]["ops"], "scope=all lender_id='' all='all'")):
            at = AppTest.from_function(_scope_probe, default_timeout=30)
            at.session_state["commlog_user_id"] = user
            at.run()
            assert not at.exception, [e.value for e in at.exception]
            assert [t.value for t in at.text] == [expected]
        at = AppTest.from_function(_scope_probe, default_timeout=30).run()  # logged out: the form, nothing read
        assert not at.exception and not at.text and buttons(at) == ["Sign in"]
    finally:
        st.cache_data.clear()
        st.cache_resource.clear()


def test_forced_for_the_owner_too_and_the_owner_can_still_seed(pg_database_url):
    """FORCE ROW LEVEL SECURITY: a (non-superuser) owner is under the policies as well; seed-demo's
    COPY, which row-level security refuses, lifts FORCE for its own transaction only."""
    from commlog.demo.seed import SeedConfig, seed_demo
    from commlog.migrate import upgrade

    owner, schema = f"commlog_own_{uuid.uuid4().hex[:10]}", f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE ROLE "{owner}" LOGIN NOSUPERUSER NOBYPASSRLS'))
        c.execute(text(f'CREATE SCHEMA "{schema}" AUTHORIZATION "{owner}"'))
    url = make_url(pg_database_url).set(username=owner).render_as_string(hide_password=False)
    eng = make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    try:
        upgrade(eng)
        seed_demo(eng, SeedConfig(lenders=2, borrowers=20, messages=200, days=3, seed=3, users=False))
        with eng.connect() as conn:  # no scope declared: the owner, under FORCE, sees nothing
            assert conn.execute(text("SELECT count(*) FROM message")).scalar() == 0
        with all_lenders(), eng.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                                     "WHERE n.nspname = current_schema() AND c.relforcerowsecurity AND NOT c.relispartition")).scalar() == len(_LENDER_OWNED)
            lenders = sorted(conn.execute(text("SELECT id FROM lender")).scalars())
            assert len(lenders) == 2 and conn.execute(text("SELECT count(*) FROM message")).scalar() == 200
        with lender_scope(lenders[0]), eng.connect() as conn:
            assert _lenders_seen(conn, "message") == {lenders[0]}
            assert _lenders_seen(conn, "lender") == {lenders[0]}
    finally:
        eng.dispose()
        with admin.connect() as c:
            c.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            c.execute(text(f'DROP OWNED BY "{owner}"'))
            c.execute(text(f'DROP ROLE "{owner}"'))
        admin.dispose()


def test_the_webhook_of_a_running_server_as_the_app_role_stores_every_lenders_events(app_url, pg_engine, world):
    """From outside, like curl: `streamlit run launcher.py` connected as the non-owner role, a signed
    SendGrid batch naming one email of each lender and one unknown. The webhook declares every
    lender, so under policies that fail closed it still stores both lenders' events and keeps the
    unknown one (a forgotten scope would store nothing and answer 503)."""
    import json
    import os
    import socket
    import subprocess
    import sys
    from pathlib import Path

    import httpx
    from cryptography.hazmat.primitives.asymmetric import ec

    from commlog.models import DeliveryEvent
    from commlog.webhooks.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, public_key_b64, sign_for_tests

    with pg_engine.begin() as c:
        ids = {lender: f.message(c, world[lender], f"hook-{lender}@example.com", provider_message_id=f"Hook{lender}.recvd-1")
               for lender in ("a", "b")}
    key = ec.generate_private_key(ec.SECP256R1())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "COMMLOG_DATABASE_URL": app_url, "SENDGRID_WEBHOOK_PUBLIC_KEY": public_key_b64(key)}
    env.pop("COMMLOG_WEBHOOK_INSECURE_NO_SIGNATURE", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "launcher.py", "--server.port", str(port), "--server.address",
         "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=Path(__file__).resolve().parents[2], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=10, transport=httpx.HTTPTransport(retries=60)) as client:
            _wait_healthy(client, proc)
            now = int(datetime.now(UTC).timestamp())
            body = json.dumps([
                {"email": f"hook-{lender}@example.com", "timestamp": now, "event": "bounce", "type": "bounce",
                 "sg_event_id": f"hook-ev-{lender}", "sg_message_id": f"Hook{lender}.recvd-1.0", "reason": "550 5.1.1 unknown"}
                for lender in ("a", "b")
            ] + [{"email": "nobody@example.com", "timestamp": now, "event": "delivered", "sg_event_id": "hook-ev-x",
                  "sg_message_id": "NoSuchMessage.recvd-1.0"}]).encode()
            ts = str(now)
            answer = client.post("/webhooks/sendgrid", content=body,
                                 headers={SIGNATURE_HEADER: sign_for_tests(key, ts, body), TIMESTAMP_HEADER: ts})
        assert answer.status_code == 200, answer.text
        assert (answer.json()["stored"], answer.json()["unmatched"]) == (2, 1)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    with pg_engine.connect() as owner:
        stored = dict(owner.execute(select(DeliveryEvent.message_id, DeliveryEvent.lender_id)
                                    .where(DeliveryEvent.provider_event_id.like("hook-ev-%"))).all())
        assert stored == {ids["a"]: world["a"], ids["b"]: world["b"]}
        assert owner.execute(select(Message.delivery_status).where(Message.id.in_(ids.values()))).scalars().all() == ["NOT_DELIVERED"] * 2
        assert owner.execute(select(func.count()).select_from(UnmatchedEvent).where(UnmatchedEvent.provider_event_id == "hook-ev-x")).scalar_one() == 1


def _wait_healthy(client, proc) -> None:
    """Until the server answers its health check (the transport retries refused connections)."""
    import httpx

    for _ in range(120):
        assert proc.poll() is None, "the server exited"
        try:
            if client.get("/_stcore/health").text == "ok":
                return
        except httpx.TransportError:
            continue
    pytest.fail("the server never became healthy")


def test_the_app_role_that_may_not_create_a_month_still_starts_and_says_who_should(app_url, pg_engine, world, caplog):
    """A new month needs CREATE TABLE, which the app's role lacks: the app starts anyway, the log says
    to run `partitions` as the owner, and that month's emails wait in the default partition."""
    from commlog.bootstrap import ensure_database

    ahead = partitions.partition_name("message", partitions.add_months(partitions.month_of(datetime.now(UTC)), 3))
    with pg_engine.begin() as owner:
        owner.exec_driver_sql(f"DROP TABLE {ahead}")
    with caplog.at_level("WARNING", logger="commlog.bootstrap"):
        result = ensure_database(app_url)
    assert result.migrated and result.partitions is None
    assert "run `python -m commlog partitions` as the tables' owner" in caplog.text
    with all_lenders(), pg_engine.begin() as owner:
        done = partitions.maintain(owner, datetime.now(UTC))
        assert ahead in done.created

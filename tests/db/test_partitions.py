"""Monthly partitions of message and delivery_event on PostgreSQL (commlog.partitions, migration 0012).

PostgreSQL unless a test says otherwise (SQLite stays one table per kind): months ahead, a row
dated where no month exists yet, retention that drops whole months and keeps Deliverability's
history, every index on every partition, and the migration of a seeded database.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from commlog import partitions, rollups
from commlog.demo.seed import SeedConfig, seed_demo
from commlog.log_queries import fetch_log_page
from commlog.migrate import downgrade, upgrade
from commlog.models import DailyRollup, DeliveryEvent, Message, SuppressionRemoval
from commlog.partitions import add_months, month_of, partition_name
from commlog.principal import Principal, Role
from commlog.store import NewEvent, record_events
from commlog.tempdb import TempDatabase
from commlog.unit_of_work import platform_reading, platform_writing
from tests.support import factories as f
from tests.support.factories import log_query

NOW = datetime.now(UTC).replace(microsecond=0)
THIS = month_of(NOW)


@pytest.fixture(autouse=True)
def _now_when_the_test_starts():
    """NOW and THIS are read when each test starts, before its database is made: a run that crosses
    into a new month (CI at midnight UTC on the last day) sees the months its migration made then."""
    global NOW, THIS
    NOW = datetime.now(UTC).replace(microsecond=0)
    THIS = month_of(NOW)


def _where(conn, table: str, row_id: int) -> str:
    """The partition holding a row."""
    return conn.execute(text(f"SELECT tableoid::regclass::text FROM {table} WHERE id = :i"), {"i": row_id}).scalar_one()


def _lender_with_user(conn):
    lender = f.lender(conn, "part-lender")
    user = f.user(conn, "admin@part.example", "lender_admin", "part-lender")
    return lender, user


def test_message_and_events_are_partitioned_by_month_with_three_months_ahead(pg_engine):
    with platform_reading(pg_engine) as conn:
        for table in ("message", "delivery_event"):
            assert partitions.is_partitioned(conn, table)
            names = set(partitions.partition_names(conn, table))
            assert {partition_name(table, add_months(THIS, k)) for k in range(4)} | {f"{table}_default"} <= names


def test_sqlite_stays_one_table_and_maintenance_does_nothing(sqlite_engine):
    with platform_writing(sqlite_engine) as conn:
        assert not partitions.is_partitioned(conn, "message")
        assert partitions.maintain(conn, NOW, retain_months=1) == partitions.Maintenance()
        assert partitions.describe(conn) == []


def test_every_partition_has_every_index_of_its_table(pg_engine):
    with platform_reading(pg_engine) as conn:
        for table in ("message", "delivery_event"):
            wanted = conn.execute(text(
                "SELECT count(*) FROM pg_index i WHERE i.indrelid = to_regclass(:t)"), {"t": table}).scalar_one()
            assert wanted >= 5 if table == "message" else wanted >= 3
            for name in partitions.partition_names(conn, table):
                have = conn.execute(text(
                    "SELECT count(*) FROM pg_index i WHERE i.indrelid = to_regclass(:t)"), {"t": name}).scalar_one()
                assert have == wanted, name


def test_rows_land_in_their_month_and_a_new_month_takes_its_rows_out_of_the_default(pg_engine):
    far = NOW + timedelta(days=31 * 8)  # no partition that far ahead yet
    with platform_writing(pg_engine) as conn:
        lender, _ = _lender_with_user(conn)
        now_id = f.message(conn, lender, "ana@example.com", sent_at=NOW)
        far_id = f.message(conn, lender, "far@example.com", sent_at=far)
        record_events(conn, [NewEvent(message_id=far_id, lender_id=lender, event_type="DELIVERED", occurred_at=far,
                                      provider="sendgrid", provider_event_id="ev-far", raw_type="delivered")], far)
        assert _where(conn, "message", now_id) == partition_name("message", THIS)
        assert _where(conn, "message", far_id) == "message_default"
        created = partitions.ensure_months(conn, far, far)
        assert created == [partition_name("message", month_of(far)), partition_name("delivery_event", month_of(far))]
        assert _where(conn, "message", far_id) == partition_name("message", month_of(far))
        assert conn.execute(text("SELECT count(*) FROM message_default")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM delivery_event_default")).scalar_one() == 0
        assert conn.execute(select(Message.delivery_status).where(Message.id == far_id)).scalar_one() == "DELIVERED"


def test_the_same_provider_event_is_stored_once(pg_engine):
    with platform_writing(pg_engine) as conn:
        lender, _ = _lender_with_user(conn)
        mid = f.message(conn, lender, "ana@example.com", sent_at=NOW)
        ev = NewEvent(message_id=mid, lender_id=lender, event_type="DELIVERED", occurred_at=NOW + timedelta(minutes=1),
                      provider="sendgrid", provider_event_id="ev-once", raw_type="delivered")
        record_events(conn, [ev, ev], NOW)
        record_events(conn, [ev], NOW)
        assert conn.execute(select(func.count()).select_from(DeliveryEvent)).scalar_one() == 1


def test_retention_drops_whole_old_months_and_keeps_deliverability_history(pg_engine):
    old, older = add_months(THIS, -2), add_months(THIS, -3)
    with platform_writing(pg_engine) as conn:
        lender, user = _lender_with_user(conn)
        partitions.ensure_months(conn, older, THIS)
        at = {m: datetime(m.year, m.month, 28, 23, 0, tzinfo=UTC) for m in (older, old, add_months(THIS, -1))}
        ids = {m: f.message(conn, lender, f"m{m.month}@example.com", sent_at=t) for m, t in at.items()}
        kept_now = f.message(conn, lender, "now@example.com", sent_at=NOW)
        for m, t in at.items():  # each bounces five days later: in the next month's event partition
            record_events(conn, [NewEvent(message_id=ids[m], lender_id=lender, event_type="BOUNCE", occurred_at=t + timedelta(days=5),
                                          provider="sendgrid", provider_event_id=f"ev-{m}", raw_type="bounce")], t + timedelta(days=5))
        conn.execute(SuppressionRemoval.__table__.insert().values(
            lender_id=lender, address="m@example.com", provider="sendgrid", list_key="bounces", list_label="Bounces",
            message_id=ids[older], reason="corrected_mailbox", requested_by_user_id=user, requested_by="admin@part.example",
            requested_at=NOW, state="requested", attempts=0))
        rollups.rebuild_rollups(conn)
        history = conn.execute(select(func.sum(DailyRollup.count))).scalar_one()

        done = partitions.maintain(conn, NOW, retain_months=2)  # keeps last month and this one

        cutoff = add_months(THIS, -1)
        assert partition_name("message", older) in done.dropped and partition_name("delivery_event", old) in done.dropped
        assert not any(n.endswith((f"{old:%Y_%m}", f"{older:%Y_%m}")) for t in ("message", "delivery_event")
                       for n in partitions.partition_names(conn, t))
        left = set(conn.execute(select(Message.id)).scalars())
        assert left == {ids[cutoff], kept_now}
        # The old month's bounce landed in a kept month's partition: deleted with its message.
        assert set(conn.execute(select(DeliveryEvent.message_id)).scalars()) == {ids[cutoff]}
        assert done.events_deleted == 1
        assert conn.execute(select(SuppressionRemoval.message_id)).scalar_one() is None
        assert conn.execute(select(func.sum(DailyRollup.count))).scalar_one() == history  # Deliverability's history
        principal = Principal(user, "admin@part.example", Role.LENDER_ADMIN, lender)
        page = fetch_log_page(conn, principal, log_query(lender))
        assert page.total == 2


def test_maintenance_puts_a_partition_back_in_line_with_its_tables_policies(pg_engine):
    name = partition_name("message", THIS)
    with platform_writing(pg_engine) as conn:
        conn.exec_driver_sql(f"DROP POLICY commlog_lender_scope ON {name}")
        conn.exec_driver_sql(f"ALTER TABLE {name} NO FORCE ROW LEVEL SECURITY")
        partitions.maintain(conn, NOW)
        assert conn.execute(text("SELECT relforcerowsecurity FROM pg_class WHERE oid = to_regclass(:n)"), {"n": name}).scalar()
        assert conn.execute(text("SELECT count(*) FROM pg_policies WHERE schemaname = current_schema() AND tablename = :n"), {"n": name}).scalar() == 1


def test_the_daily_run_creates_a_missing_month(pg_engine):
    ahead = partition_name("message", add_months(THIS, 3))
    with platform_writing(pg_engine) as conn:
        conn.exec_driver_sql(f"DROP TABLE {ahead}")
    ran = threading.Event()
    calls = []

    def sleep(_seconds):  # the first wait returns at once; the second waits for the test to end
        calls.append(_seconds)
        if len(calls) > 1:
            ran.set()
            threading.Event().wait(3600)

    assert partitions.start_daily(lambda: pg_engine, f"test-{id(pg_engine)}", sleep=sleep)
    assert ran.wait(30)
    with platform_reading(pg_engine) as conn:
        assert ahead in partitions.partition_names(conn, "message")
    assert calls[0] == 86400


def test_a_seeded_database_migrates_to_partitions_with_every_row_and_back(pg_database_url):
    with TempDatabase.create(pg_database_url.rsplit("/", 1)[0] + "/postgres", prefix="commlog_part") as db:
        engine = db.engine
        upgrade(engine, "0011")
        seed_demo(engine, SeedConfig(lenders=2, borrowers=60, messages=3000, days=75, personas=False), progress=False)

        def snapshot():
            with platform_reading(engine) as conn:
                lender = conn.execute(text("SELECT min(id) FROM lender")).scalar_one()
                principal = Principal(0, "ops@x", Role.OPS, None)
                page = fetch_log_page(conn, principal, log_query(lender))
                return (
                    conn.execute(text("SELECT count(*), sum(id), max(id) FROM message")).one(),
                    conn.execute(text("SELECT count(*), sum(message_id) FROM delivery_event")).one(),
                    [r["id"] for r in page.rows], page.total,
                )

        before = snapshot()
        upgrade(engine)
        assert snapshot() == before
        with platform_writing(engine) as conn:
            assert partitions.is_partitioned(conn, "message") and partitions.is_partitioned(conn, "delivery_event")
            first = month_of(NOW - timedelta(days=75))
            names = set(partitions.partition_names(conn, "message"))
            assert {partition_name("message", m) for m in partitions.months(first, THIS)} <= names
            assert conn.execute(text("SELECT count(*) FROM message_default")).scalar_one() == 0
            lender = conn.execute(text("SELECT min(id) FROM lender")).scalar_one()
            new_id = f.message(conn, lender, "after@example.com", sent_at=NOW)  # the id sequence carried on
            assert new_id > before[0][2]
        downgrade(engine, "0011")
        with platform_reading(engine) as conn:
            assert not partitions.is_partitioned(conn, "message")
            assert conn.execute(text("SELECT count(*) FROM message")).scalar_one() == before[0][0] + 1


@pytest.fixture
def engine(pg_engine):
    return pg_engine

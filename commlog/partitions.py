"""Monthly partitions of the two big tables on PostgreSQL (migration 0012); SQLite stays one table.

`message` is range-partitioned by `sent_at`, `delivery_event` by `occurred_at`, one partition per
UTC month (`message_p2026_11` holds [2026-11-01 00:00 UTC, 2026-12-01 00:00 UTC)), plus a DEFAULT
partition (`message_default`) for a row no month holds yet (a send dated far ahead, a provider
event with an odd timestamp): an insert never fails for want of a partition.

- **Ahead of time.** `maintain` creates this month's partition and the MONTHS_AHEAD next ones: at
  app start (commlog.bootstrap), once a day in every app process (`start_daily`), and by
  `python -m commlog partitions`. Loading history (the demo seed, the migration) creates the months
  it needs first (`ensure_months`). A month whose rows already sit in the default partition is
  created by moving them out of it, in the same transaction.
- **Retention.** With COMMLOG_RETAIN_MONTHS = N, months before the N-th last are dropped whole
  (`DROP TABLE`, no row-by-row DELETE): first their messages' later events (a bounce of the 31st
  lands in the next month's event partition), and the suppression requests' link to them. The daily
  rollups are kept, so Deliverability keeps its history; the log, the export and checks no longer
  see those messages.
- **Same rules on every partition.** PostgreSQL builds the parent's indexes on each partition
  itself. Row-level security applies to the table a query names, so each partition also gets
  ENABLE + FORCE ROW LEVEL SECURITY and the parent's own policies, copied from the catalog
  (`pg_policies`): the same expression whether a query names `message` or `message_p2026_11`.
- **Several app servers.** A transaction-level advisory lock serializes `maintain`: two replicas
  starting at once create each partition once.

Primary keys include the partition key ((id, sent_at), (id, occurred_at)) and events are stored
once by (provider, provider_event_id, occurred_at): PostgreSQL requires a partitioned table's
unique keys to include its partition key, and a provider's event always carries the same time.
For the same reason no foreign key can point at `message` any more: commlog.store (the one write
path) only ever stores an event for a message it found.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Connection, Engine, text

from commlog.db import is_postgresql

log = logging.getLogger(__name__)

# table -> the column its months are cut by
PARTITIONED: dict[str, str] = {"message": "sent_at", "delivery_event": "occurred_at"}
MONTHS_AHEAD = 3
_LOCK_KEY = 0x636F6D6D6C6F67  # "commlog": pg_advisory_xact_lock's key for partition maintenance


def month_of(moment: datetime | date) -> date:
    """The first day of the UTC month holding `moment`."""
    if isinstance(moment, datetime):
        moment = moment.astimezone(UTC).date()
    return moment.replace(day=1)


def add_months(month: date, n: int) -> date:
    y, m = divmod(month.year * 12 + month.month - 1 + n, 12)
    return date(y, m + 1, 1)


def months(first: date, last: date) -> list[date]:
    """Every month from `first`'s to `last`'s, both included."""
    out, m = [], month_of(first)
    while m <= month_of(last):
        out.append(m)
        m = add_months(m, 1)
    return out


def partition_name(table: str, month: date) -> str:
    return f"{table}_p{month.year:04d}_{month.month:02d}"


def default_name(table: str) -> str:
    return f"{table}_default"


def _bound(month: date) -> str:
    return f"'{month.isoformat()} 00:00:00+00'"


def _exists(conn: Connection, name: str) -> bool:
    return conn.execute(text("SELECT to_regclass(:n) IS NOT NULL"), {"n": name}).scalar_one()


def is_partitioned(conn: Connection, table: str) -> bool:
    if not is_postgresql(conn):
        return False
    return bool(conn.execute(
        text("SELECT c.relkind = 'p' FROM pg_class c WHERE c.oid = to_regclass(:t)"), {"t": table}
    ).scalar())


def policies(conn: Connection, table: str) -> list[tuple]:
    """`table`'s row-level security policies as the catalog holds them (name, permissive, command,
    USING, WITH CHECK), by name."""
    return [tuple(r) for r in conn.execute(text(
        "SELECT policyname, permissive, cmd, qual, with_check FROM pg_policies "
        "WHERE schemaname = current_schema() AND tablename = :t ORDER BY policyname"
    ), {"t": table})]


def _same_security(conn: Connection, parent: str, partition: str) -> None:
    """ENABLE + FORCE row-level security on `partition` and the parent's policies, as the catalog
    holds them: the parent's policies are the one source, and a partition whose policies differ
    (a later migration changed the parent's) is brought back in line. Nothing is touched (no lock
    taken) when it already matches."""
    enabled, forced = conn.execute(text(
        "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = to_regclass(:n)"), {"n": partition}).one()
    if not enabled:
        conn.exec_driver_sql(f"ALTER TABLE {partition} ENABLE ROW LEVEL SECURITY")
    if not forced:
        conn.exec_driver_sql(f"ALTER TABLE {partition} FORCE ROW LEVEL SECURITY")
    wanted, present = policies(conn, parent), policies(conn, partition)
    if wanted == present:
        return
    for name, *_ in present:
        conn.exec_driver_sql(f"DROP POLICY {name} ON {partition}")
    for policy in wanted:
        create_policy(conn, partition, *policy)


def create_policy(conn: Connection, table: str, name: str, permissive: str, cmd: str, qual, with_check) -> None:
    """One policy as `policies` reads it, on `table`."""
    sql = f"CREATE POLICY {name} ON {table} AS {permissive} FOR {cmd}"
    if qual is not None:
        sql += f" USING ({qual})"
    if with_check is not None:
        sql += f" WITH CHECK ({with_check})"
    conn.exec_driver_sql(sql)


def partition_names(conn: Connection, table: str) -> list[str]:
    return list(conn.execute(text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = to_regclass(:t) ORDER BY c.relname"
    ), {"t": table}).scalars())


def ensure_default(conn: Connection, table: str) -> bool:
    name = default_name(table)
    if _exists(conn, name):
        return False
    conn.exec_driver_sql(f"CREATE TABLE {name} PARTITION OF {table} DEFAULT")
    _same_security(conn, table, name)
    return True


def create_month(conn: Connection, table: str, month: date) -> bool:
    """Create `table`'s partition for `month` (False: it exists). Rows of that month already in the
    default partition move into it: the default is detached, the month created, its rows moved,
    the default attached again (PostgreSQL checks it holds none of the month any more)."""
    name, key = partition_name(table, month), PARTITIONED[table]
    if _exists(conn, name):
        return False
    lo, hi = _bound(month), _bound(add_months(month, 1))
    default = default_name(table)
    strays = _exists(conn, default) and conn.exec_driver_sql(
        f"SELECT 1 FROM {default} WHERE {key} >= {lo} AND {key} < {hi} LIMIT 1").first() is not None
    if strays:
        conn.exec_driver_sql(f"ALTER TABLE {table} DETACH PARTITION {default}")
    conn.exec_driver_sql(f"CREATE TABLE {name} PARTITION OF {table} FOR VALUES FROM ({lo}) TO ({hi})")
    _same_security(conn, table, name)
    if strays:
        conn.exec_driver_sql(f"INSERT INTO {table} SELECT * FROM {default} WHERE {key} >= {lo} AND {key} < {hi}")
        conn.exec_driver_sql(f"DELETE FROM {default} WHERE {key} >= {lo} AND {key} < {hi}")
        conn.exec_driver_sql(f"ALTER TABLE {table} ATTACH PARTITION {default} DEFAULT")
        log.info("partition %s created; its rows moved out of %s", name, default)
    return True


def ensure_months(conn: Connection, first: datetime | date, last: datetime | date) -> list[str]:
    """Every month from `first` to `last` for both tables, and their default partitions; returns
    the partitions created. Nothing on SQLite or on an unpartitioned database."""
    created: list[str] = []
    for table in PARTITIONED:
        if not is_partitioned(conn, table):
            continue
        if ensure_default(conn, table):
            created.append(default_name(table))
        created += [partition_name(table, m) for m in months(month_of(first), month_of(last)) if create_month(conn, table, m)]
    return created


@dataclass
class Maintenance:
    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    events_deleted: int = 0  # later events of the dropped months' messages
    rows_deleted: int = 0  # rows before the cut-off found in the default partitions


def _month_of_name(table: str, name: str) -> date | None:
    m = re.fullmatch(rf"{table}_p(\d{{4}})_(\d{{2}})", name)
    return date(int(m[1]), int(m[2]), 1) if m else None


def retention_cutoff(now: datetime, retain_months: int) -> date:
    """The first month kept when keeping `retain_months` months (this one included)."""
    return add_months(month_of(now), -(retain_months - 1))


def drop_before(conn: Connection, cutoff: date) -> Maintenance:
    """Drop every month before `cutoff`: whole partitions, after the later events of their messages
    and the suppression requests' link to them; rows before it in the default partitions go too."""
    done = Maintenance()
    old = [n for n in partition_names(conn, "message") if (m := _month_of_name("message", n)) and m < cutoff]
    edge = _bound(cutoff)
    for name in [*old, default_name("message")]:
        if not _exists(conn, name):
            continue
        where = "" if name != default_name("message") else f" WHERE m.sent_at < {edge}"
        done.events_deleted += conn.exec_driver_sql(
            f"DELETE FROM delivery_event e USING (SELECT id FROM {name} m{where}) gone "
            f"WHERE e.message_id = gone.id AND e.occurred_at >= {edge}").rowcount
        conn.exec_driver_sql(
            f"UPDATE suppression_removal SET message_id = NULL WHERE message_id IN (SELECT id FROM {name} m{where})")
    for table, key in PARTITIONED.items():
        for name in partition_names(conn, table):
            month = _month_of_name(table, name)
            if month is not None and month < cutoff:
                conn.exec_driver_sql(f"DROP TABLE {name}")
                done.dropped.append(name)
        if _exists(conn, default_name(table)):
            done.rows_deleted += conn.exec_driver_sql(f"DELETE FROM {default_name(table)} WHERE {key} < {edge}").rowcount
    return done


def maintain(conn: Connection, now: datetime, retain_months: int | None = None) -> Maintenance:
    """This month and MONTHS_AHEAD more for both tables; with `retain_months`, drop the months
    before the kept ones. In the caller's transaction, which must declare every lender (the
    platform's own work). Nothing on SQLite."""
    if not all(is_partitioned(conn, t) for t in PARTITIONED):
        return Maintenance()
    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
    this = month_of(now)
    done = drop_before(conn, retention_cutoff(now, retain_months)) if retain_months else Maintenance()
    done.created = ensure_months(conn, this, add_months(this, MONTHS_AHEAD))
    for table in PARTITIONED:  # a partition whose security differs from its parent's is brought in line
        for name in partition_names(conn, table):
            _same_security(conn, table, name)
    return done


@dataclass(frozen=True)
class Partition:
    table: str
    name: str
    month: date | None  # None: the default partition
    rows: int  # the planner's estimate (pg_class.reltuples; -1 before the first ANALYZE shows as 0)
    bytes: int  # table, indexes and TOAST


def describe(conn: Connection) -> list[Partition]:
    out = []
    for table in PARTITIONED:
        if not is_partitioned(conn, table):
            continue
        for name in partition_names(conn, table):
            rows, size = conn.execute(text(
                "SELECT greatest(c.reltuples, 0)::bigint, pg_total_relation_size(c.oid) FROM pg_class c "
                "WHERE c.oid = to_regclass(:n)"), {"n": name}).one()
            out.append(Partition(table, name, _month_of_name(table, name), rows, size))
    return out


def run_maintenance(engine: Engine, now: datetime | None = None, retain_months: int | None = None) -> Maintenance:
    """`maintain` in a platform transaction of its own (every lender declared)."""
    from commlog.settings import settings
    from commlog.unit_of_work import platform_writing

    if retain_months is None:
        retain_months = settings().retain_months
    with platform_writing(engine) as conn:
        return maintain(conn, now or datetime.now(UTC), retain_months)


_daily_started: set[str] = set()
_daily_lock = threading.Lock()


def start_daily(engine_factory: Callable[[], Engine], key: str, *, every: timedelta = timedelta(days=1),
                sleep: Callable[[float], object] | None = None) -> bool:
    """Run `run_maintenance` once per `every` in a daemon thread of this process (one per `key`,
    the database URL); a failure is logged and tried again next time. Returns False when already
    running."""
    with _daily_lock:
        if key in _daily_started:
            return False
        _daily_started.add(key)
    stop = threading.Event()
    wait = sleep or (lambda s: stop.wait(s))

    def loop() -> None:
        while True:
            wait(every.total_seconds())
            try:
                done = run_maintenance(engine_factory())
                if done.created or done.dropped:
                    log.info("partitions: created %s; dropped %s", done.created, done.dropped)
            except Exception:  # noqa: BLE001 - logged; tomorrow's run tries again
                log.exception("partition maintenance failed; it runs again in %s", every)

    threading.Thread(target=loop, name="commlog-partitions", daemon=True).start()
    return True


def summary(parts: Iterable[Partition]) -> list[list]:
    return [[p.table, p.name, p.month.isoformat()[:7] if p.month else "default", p.rows, round(p.bytes / 2**20, 1)] for p in parts]

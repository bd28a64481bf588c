"""message and delivery_event partitioned by month (PostgreSQL)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 18:10:00

PostgreSQL: `message` becomes range-partitioned by `sent_at` and `delivery_event` by `occurred_at`,
one partition per UTC month and a DEFAULT one (commlog.partitions says why and how they are kept).
An existing database is rebuilt table by table, in the migration's one transaction:

1. what the table has is read from the catalog: its indexes, foreign keys, row-level security
   policies, the privileges other roles hold on it (the app's role) and its id sequence (so
   whatever earlier migrations made is carried over, not restated);
2. the table is renamed `<table>_before_0012` and a partitioned `<table>` created LIKE it (same
   columns, defaults, the same id sequence), with the same policies, then a partition for every
   month from its oldest row (at most 10 years back) to 3 months ahead, each with the policies too;
3. its rows are copied (`INSERT … SELECT`, routed to their months), the old table dropped, and the
   primary key, the unique key, the foreign keys and the indexes built on the new one (PostgreSQL
   builds each on every partition).

The primary keys become (id, sent_at) and (id, occurred_at), and the event's unique key (provider,
provider_event_id, occurred_at): a partitioned table's unique keys must hold its partition key.
Foreign keys can no longer point at `message` (delivery_event.message_id, suppression_removal.
message_id): they are dropped; commlog.store, the one write path, only stores events for messages it
found. unmatched_event's policy that reads `message` is recreated to read the new table.

Time: the copy and the index builds; on this project's 2-core machine 1,000,000 messages with their
1,975,674 events took 34 s while other work loaded it (README, "Capacity"). Take a backup first; stop
the app meanwhile (the migration holds its tables locked).

SQLite is not partitioned; only the event's unique key changes to the same three columns, so one
ON CONFLICT target serves both databases (a table copy, Alembic's batch mode).

Both: the log's delivery-status index also holds the id, and on PostgreSQL the recipient domain
(DELIVERY_INDEX below).

Downgrade rebuilds plain tables the same way and restores the foreign keys and the two-column key.
"""
import warnings
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

from commlog import partitions
from commlog.db import is_postgresql

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

UNIQUE_EVENT = 'uq_delivery_event_provider_event'
FKS_TO_MESSAGE = {  # constraint -> (table, column)
    'fk_delivery_event_message_id_message': ('delivery_event', 'message_id'),
    'fk_suppression_removal_message_id_message': ('suppression_removal', 'message_id'),
}
RECIPIENTS_POLICY = ('unmatched_event', 'commlog_lender_recipients')
HISTORY_LIMIT_MONTHS = 120  # older rows than this go to the default partition, not a month each


def _rows(sql: str, **params):
    return op.get_bind().execute(sa.text(sql), params).all()


def _policies(table: str):
    return partitions.policies(op.get_bind(), table)


def _create_policy(table: str, *policy) -> None:
    partitions.create_policy(op.get_bind(), table, *policy)


def _rebuild(table: str, key: str, *, partitioned: bool) -> None:
    """`table` rebuilt as a partitioned (or a plain) table with everything it had."""
    bind = op.get_bind()
    indexes = _rows(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = :t "
        "AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = to_regclass(:t))", t=table)
    fks = _rows("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = to_regclass(:t) AND contype = 'f'", t=table)
    policies = _policies(table)
    grants = _rows("SELECT grantee, privilege_type FROM information_schema.role_table_grants WHERE table_schema = "
                   "current_schema() AND table_name = :t AND grantee <> (SELECT tableowner FROM pg_tables "
                   "WHERE schemaname = current_schema() AND tablename = :t)", t=table)
    rls = _rows("SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = to_regclass(:t)", t=table)[0]
    sequence = bind.execute(sa.text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table}).scalar()
    first = _rows(f"SELECT min({key}) FROM {table}")[0][0]

    old = f'{table}_before_0012'
    op.execute(f'ALTER TABLE {table} RENAME TO {old}')
    if sequence:
        op.execute(f'ALTER SEQUENCE {sequence} OWNED BY NONE')
    by = f' PARTITION BY RANGE ({key})' if partitioned else ''
    op.execute(f'CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS INCLUDING STORAGE){by}')
    if rls[0]:
        op.execute(f'ALTER TABLE {table} ENABLE ROW LEVEL SECURITY')
    if rls[1]:
        op.execute(f'ALTER TABLE {table} FORCE ROW LEVEL SECURITY')
    for policy in policies:
        _create_policy(table, *policy)
    for grantee, privilege in grants:  # the app's role keeps what it was given on the table
        op.execute(f'GRANT {privilege} ON {table} TO {"PUBLIC" if grantee == "PUBLIC" else chr(34) + grantee + chr(34)}')
    if partitioned:
        now = datetime.now(UTC)
        lo = max(first or now, now - timedelta(days=31 * HISTORY_LIMIT_MONTHS))
        partitions.ensure_months(bind, min(lo, now), partitions.add_months(partitions.month_of(now), partitions.MONTHS_AHEAD))
    op.execute(f'INSERT INTO {table} SELECT * FROM {old}')
    op.execute(f'DROP TABLE {old}')
    op.execute(f'ALTER TABLE {table} ADD CONSTRAINT pk_{table} PRIMARY KEY (id{", " + key if partitioned else ""})')
    if sequence:
        op.execute(f'ALTER SEQUENCE {sequence} OWNED BY {table}.id')
    if table == 'delivery_event':
        columns = 'provider, provider_event_id, occurred_at' if partitioned else 'provider, provider_event_id'
        op.execute(f'ALTER TABLE {table} ADD CONSTRAINT {UNIQUE_EVENT} UNIQUE ({columns})')
    for name, definition in fks:
        op.execute(f'ALTER TABLE {table} ADD CONSTRAINT {name} {definition}')
    for name, definition in indexes:
        if partitioned and name == DELIVERY_INDEX:
            continue  # upgrade() makes it anew, once
        op.execute(definition.replace(' ON ONLY ', ' ON ', 1))  # a partitioned table's index reads "ON ONLY"


def _rebuild_both(*, partitioned: bool) -> None:
    recipients = [p for p in _policies(RECIPIENTS_POLICY[0]) if p[0] == RECIPIENTS_POLICY[1]]
    op.execute(f'DROP POLICY IF EXISTS {RECIPIENTS_POLICY[1]} ON {RECIPIENTS_POLICY[0]}')
    for name, (table, _column) in FKS_TO_MESSAGE.items():
        op.execute(f'ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {name}')
    _rebuild('message', 'sent_at', partitioned=partitioned)
    _rebuild('delivery_event', 'occurred_at', partitioned=partitioned)
    for policy in recipients:
        _create_policy(RECIPIENTS_POLICY[0], *policy)


def _sqlite_unique_event(columns: list[str]) -> None:
    with warnings.catch_warnings():
        # The copy reflects `message` (delivery_event's foreign key names it), whose expression
        # indexes SQLAlchemy cannot reflect; they are not touched, only delivery_event is copied.
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index")
        with op.batch_alter_table('delivery_event') as batch:
            batch.drop_constraint(UNIQUE_EVENT, type_='unique')
            batch.create_unique_constraint(UNIQUE_EVENT, columns)


# One log filtered by delivery status, newest first: with id (the page's order) and, on PostgreSQL,
# the recipient domain as an included column, a filter on both ("NOT_DELIVERED to gmail.com") is
# counted and paged from the index alone (10M messages: 580 ms before, tens of ms after).
DELIVERY_INDEX = 'ix_message_log_delivery'


def _delivery_index(*, covering: bool, drop: bool = True) -> None:
    if drop:
        op.drop_index(DELIVERY_INDEX, table_name='message')
    if covering:
        op.create_index(DELIVERY_INDEX, 'message', ['lender_id', 'log_account_id', 'delivery_status', 'sent_at', 'id'],
                        postgresql_include=['recipient_domain'])
    else:
        op.create_index(DELIVERY_INDEX, 'message', ['lender_id', 'log_account_id', 'delivery_status', 'sent_at'])


def upgrade() -> None:
    if is_postgresql(op.get_bind()):
        _rebuild_both(partitioned=True)  # builds every index but this one, made once below
        _delivery_index(covering=True, drop=False)
        return
    _sqlite_unique_event(['provider', 'provider_event_id', 'occurred_at'])
    _delivery_index(covering=True)


def downgrade() -> None:
    _delivery_index(covering=False)
    if is_postgresql(op.get_bind()):
        _rebuild_both(partitioned=False)
        for name, (table, column) in FKS_TO_MESSAGE.items():
            op.execute(f'ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY ({column}) REFERENCES message (id)')
        return
    _sqlite_unique_event(['provider', 'provider_event_id'])

"""message: a partial index of the PENDING messages, for their expiry

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 15:40:00

Once a minute per lender and app server, the log page turns the PENDING messages whose retry window
has ended into NOT_DELIVERED (commlog.store.expire_pending, from commlog.ui.maintenance), in the run
of the page the person opened. Its search (`delivery_status = 'PENDING' AND sent_at < … AND
lender_id = …`) had no index of its own: PostgreSQL read the whole lender's part of the log's
delivery-status index (lender, account, status, …), since the account comes before the status in it.
For the biggest lender that was 4,485 index pages at 1M messages (14–20 ms) and 44,780 at 10M
(180–209 ms, every time: more than PostgreSQL's buffers hold), to find the few PENDING messages; the
first page after sign-in on each app server paid it, and any run of the whole log page once a minute.

ix_message_pending holds only the PENDING messages (2,629 of 10M in the demo: the ones waiting for
a deferral's retry), by lender and send time, so the search reads those and nothing else (15 pages,
0.1 ms at 10M); it also serves the whole platform's expiry (ops, before Deliverability's export) by
send time alone. PostgreSQL builds it on every monthly partition (and on the months created later);
SQLite holds it as a partial index too. Building it took 0.7 s at 10M messages on this project's
2-core machine (2026-12-04); writes to `message` wait meanwhile.
"""
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

INDEX = 'ix_message_pending'


def upgrade() -> None:
    op.execute(f"CREATE INDEX {INDEX} ON message (lender_id, sent_at) WHERE delivery_status = 'PENDING'")


def downgrade() -> None:
    op.execute(f'DROP INDEX {INDEX}')

"""daily_rollup: an index by lender and email type, for the Email type filter's choices

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 20:15:00

The log's and Deliverability's Email type filter offer the types a lender has sent, read from the
daily rollups (commlog.rollups.email_types). A DISTINCT over the lender's rollups read all of them:
about 230 rows per lender and day in the demo (13,872 over 60 days, 9 ms on PostgreSQL for the
biggest lender), and the rollups keep every day of history, after the log's months are dropped, so
it grew by that much every day (two years: about 170,000 rows). The primary key starts with the
lender and the day, so it cannot skip from one type to the next.

ix_daily_rollup_lender_type holds (lender, email type, newest day first): the query seeks from each
type to the next one with a count on the days asked, reading each type's newest rows first, a few
index reads per type the lender still sends whatever the history. SQLite and PostgreSQL alike. On
PostgreSQL at 1M messages, the biggest lender's rollups made two years long (166,920 rows): 32 ms
for the types of its whole history (Deliverability's read) and 3.4 ms for those from its oldest
email on (the log's) by the DISTINCT, 1.5 and 1.0 ms by the skip scan, its plan 0.1 ms of that
(2026-12-04, medians of 21). Building the index over that database's whole table (225,897 rollup
rows) took 0.15 s.
"""
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

INDEX = 'ix_daily_rollup_lender_type'


def upgrade() -> None:
    op.execute(f'CREATE INDEX {INDEX} ON daily_rollup (lender_id, email_type, day DESC)')


def downgrade() -> None:
    op.execute(f'DROP INDEX {INDEX}')

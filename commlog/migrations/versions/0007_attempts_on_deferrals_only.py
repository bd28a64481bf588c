"""attempt numbers on deferrals only

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 08:00:00

One convention for attempt numbers on every path (`commlog.providers.normalize.delivery_attempt`):
the provider's try number of a DEFERRED event, counted from 1; no other event carries one. Events
stored before it kept whatever the API sent: the Activity API's `attempt_num` 0 on processed,
delivered and bounced events ("attempt 0" on the page), and the Email Logs API's and the webhook's
numbers on deliveries and bounces. This clears those, the same on SQLite and PostgreSQL; deferrals
keep theirs (the paths already agreed on them).
"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    event = sa.table('delivery_event', sa.column('event_type', sa.String), sa.column('attempt', sa.Integer))
    op.get_bind().execute(
        sa.update(event)
        .where(event.c.attempt.is_not(None), sa.or_(event.c.event_type != 'DEFERRED', event.c.attempt < 1))
        .values(attempt=None)
    )


def downgrade() -> None:
    pass  # the numbers cleared were never try numbers

"""late events matched by address and time; kept events a lender may see

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 09:00:00

A delayed or asynchronous SendGrid bounce may come without `sg_message_id`, `smtp-id` and custom
args (only email, timestamp, status, reason). commlog.webhooks.ingest then matches it to the newest
email to that address sent at or before the event (within a window), and says so:

- delivery_event.matched_by: NULL when the provider named the message (an id); `address_and_time`
  when the event was matched by recipient address and time (commlog.store.MATCHED_BY_ADDRESS_AND_TIME),
  which the message page words.
- ix_message_recipient_sent (lower(recipient_email), sent_at): the emails to one address across every
  lender, by send time; the existing address index starts with lender_id and a late event names no
  lender. The address expression is commlog.models.RECIPIENT_EMAIL's (bytewise on PostgreSQL).
- ix_unmatched_event_recipient_email: the kept events for one address (the troubleshooter).

Row-level security (PostgreSQL): unmatched_event stays writable by unscoped transactions only
(policy commlog_lender_scope, migration 0003). A second, SELECT-only policy,
commlog_lender_recipients, lets a lender-scoped transaction read the kept events that are still
unmatched and whose address is the recipient of one of that lender's emails: what "Why didn't they
get it?" shows for an address. Policies for one command are OR'ed, so unscoped reads are unchanged;
another lender's recipients, and events already matched to a message, stay invisible.
"""
import sqlalchemy as sa
from alembic import op

from commlog.db import is_postgresql

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

POLICY = 'commlog_lender_recipients'
_SCOPE = "nullif(current_setting('commlog.lender_id', true), '')"
_RECIPIENT_OF_THE_LENDER = (
    f"{_SCOPE} IS NOT NULL AND matched_at IS NULL AND EXISTS ("
    f"SELECT 1 FROM message m WHERE m.lender_id = {_SCOPE}::bigint "
    "AND lower(m.recipient_email) COLLATE \"C\" = unmatched_event.recipient_email)"
)


def _bytewise(expression: str) -> sa.TextClause:
    if is_postgresql(op.get_bind()):
        return sa.text(f'{expression} COLLATE "C"')
    return sa.text(expression)


def upgrade() -> None:
    op.add_column('delivery_event', sa.Column('matched_by', sa.String(length=32), nullable=True))
    op.create_index('ix_message_recipient_sent', 'message', [_bytewise('lower(recipient_email)'), 'sent_at'])
    op.create_index('ix_unmatched_event_recipient_email', 'unmatched_event', ['recipient_email'])
    if is_postgresql(op.get_bind()):
        op.execute(f'CREATE POLICY {POLICY} ON unmatched_event FOR SELECT USING ({_RECIPIENT_OF_THE_LENDER})')


def downgrade() -> None:
    if is_postgresql(op.get_bind()):
        op.execute(f'DROP POLICY IF EXISTS {POLICY} ON unmatched_event')
    op.drop_index('ix_unmatched_event_recipient_email', table_name='unmatched_event')
    op.drop_index('ix_message_recipient_sent', table_name='message')
    op.execute('ALTER TABLE delivery_event DROP COLUMN matched_by')  # SQLite 3.35+ and PostgreSQL, no table copy
